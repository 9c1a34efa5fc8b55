//! What the document cache's weights are worth: documents of several shapes
//! are loaded as the server loads them and put into a `DocCache`, and a
//! counting global allocator (this file is a test binary of its own, so it
//! counts nothing else) measures the live heap they really hold. The weight
//! the cache charges must be at least that, and not far above it; and a
//! cache full of tiny documents must hold no more heap than its budget.
//!
//! The counts are of live bytes as requested from the allocator, the same
//! whatever allocator the server runs on (it runs on mimalloc, whose size
//! classes add a little on top; the weights' margins cover that).

use anyhow::Context;
use automerge::{ActorId, AutoCommit};
use kam_server::cache::DocCache;
use kam_sync_core::inflation::DecodeBudget;
use kam_sync_core::merge::check_bytes;
use kam_sync_core::{Account, ChangeMeta, Contact, Record, RecordDoc, RecordKind, parse_record};
use serde_json::{Value, json};
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;
use std::sync::Mutex;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counts are process-wide: one measurement at a time.
static MEASURING: Mutex<()> = Mutex::new(());

/// Bytes allocated and not yet freed, in the whole process.
fn live_bytes() -> i64 {
    let stats = ALLOCATOR.stats();
    stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
}

fn meta() -> ChangeMeta {
    ChangeMeta {
        user: Some(Uuid::now_v7().into()),
        device: "phone".into(),
        time: chrono::Utc::now(),
    }
}

/// A record made on a device.
fn created<R: Record>(record: Value) -> anyhow::Result<RecordDoc> {
    let record: R = parse_record(record)?;
    Ok(RecordDoc::create(&record, ActorId::random(), &meta())?)
}

/// A key person with a name only: the smallest document a rep can push.
fn tiny_key_person() -> anyhow::Result<Vec<u8>> {
    Ok(
        created::<Contact>(json!({"account_id": Uuid::now_v7(), "name": "Wang Jianguo"}))?
            .automerge_mut()
            .save(),
    )
}

/// An account as a rep creates it.
fn account() -> anyhow::Result<RecordDoc> {
    created::<Account>(json!({
        "name": "Hangzhou Steel Works",
        "segment": "enterprise",
        "stage": "identified",
        "owner_id": Uuid::now_v7(),
        "scores": {"need": 70, "purchasing_power": 55, "loyalty": 40, "size": 80, "strategic_value": 65},
        "address": {"city": "Hangzhou", "country": "China"},
        "location": {"lat": 30.27, "lon": 120.15},
        "tags": ["hangzhou", "steel"],
        "notes": "Met the purchasing director, who wants a proposal before the budget round.",
    }))
}

/// One edit on a device, one change: a new phone number, committed with
/// the author a device writes into each change (as `ChangeMeta` does).
fn edit(doc: &mut RecordDoc, round: usize) -> anyhow::Result<()> {
    use automerge::transaction::{CommitOptions, Transactable};
    let doc = doc.automerge_mut();
    doc.put(automerge::ROOT, "phone", format!("+86 571 {round:08}"))?;
    let author = json!({"user": Uuid::now_v7(), "device": "phone"});
    doc.commit_with(
        CommitOptions::default()
            .with_message(author.to_string())
            .with_time(chrono::Utc::now().timestamp()),
    );
    Ok(())
}

/// An account after `edits` one-change edits on its device.
fn account_with_history(edits: usize) -> anyhow::Result<RecordDoc> {
    let mut doc = account()?;
    for round in 0..edits {
        edit(&mut doc, round)?;
    }
    Ok(doc)
}

/// An account whose notes were typed a character at a time at random
/// places, `chars` characters in `changes` changes: the least compressible
/// operations there are.
fn notes_typed_at_random(chars: usize, changes: usize) -> anyhow::Result<Vec<u8>> {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut record = account()?;
    let doc = record.automerge_mut();
    let (_, notes) = doc.get(automerge::ROOT, "notes")?.context("notes")?;
    let mut len = doc.length(&notes);
    let mut seed = 7_u64;
    for _ in 0..changes {
        for _ in 0..chars / changes {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let at = usize::try_from(seed >> 33).unwrap_or(0) % (len + 1);
            let ch = char::from_u32(0x4e00 + u32::try_from((seed >> 13) % 20_000).unwrap_or(0))
                .unwrap_or('字');
            doc.splice_text(&notes, at, 0, &ch.to_string())?;
            len += 1;
        }
        doc.commit();
    }
    Ok(doc.save())
}

/// An account edited once by each of `devices` devices.
fn edited_by_devices(devices: usize) -> anyhow::Result<Vec<u8>> {
    let mut doc = account()?;
    for i in 0..devices {
        doc.automerge_mut().set_actor(ActorId::random());
        edit(&mut doc, i)?;
    }
    Ok(doc.automerge_mut().save())
}

/// What the server does with a new document pushed whole before it caches
/// it (`sync::push`): decode the bytes, check them, read the record, write
/// its snapshot and its log entry.
fn pushed_whole(kind: RecordKind, bytes: &[u8]) -> anyhow::Result<AutoCommit> {
    let whole = check_bytes(Uuid::now_v7(), bytes, &mut DecodeBudget::default())
        .map_err(|err| anyhow::anyhow!("{err}"))?
        .context("a whole document")?;
    let mut doc = RecordDoc::from_automerge(kind, whole);
    doc.automerge_mut().set_actor(ActorId::random());
    anyhow::ensure!(doc.automerge_mut().get_missing_deps(&[]).is_empty());
    anyhow::ensure!(!doc.automerge_mut().get_changes(&[]).is_empty());
    let heads = doc.automerge_mut().get_heads();
    doc.check()?;
    drop(doc.to_json());
    drop(doc.automerge_mut().save());
    drop(doc.automerge_mut().save_after(&heads));
    Ok(doc.into_automerge())
}

/// What `store::load_many` does with a document the cache does not
/// hold: load its snapshot, then apply the changes logged after it.
fn loaded_from_store(
    kind: RecordKind,
    snapshot: &[u8],
    log: &[Vec<u8>],
) -> anyhow::Result<AutoCommit> {
    let mut doc = RecordDoc::load(kind, snapshot)?;
    for entry in log {
        doc.automerge_mut().load_incremental(entry)?;
    }
    drop(doc.to_json());
    Ok(doc.into_automerge())
}

/// A document that stays in the cache while `pushes` one-change pushes
/// arrive: each is merged into the cached document (`sync::push`).
fn kept_loaded_through_pushes(pushes: usize) -> anyhow::Result<AutoCommit> {
    let mut device = account()?;
    let mut server = pushed_whole(RecordKind::Account, &device.automerge_mut().save())?;
    for i in 0..pushes {
        let heads = device.automerge_mut().get_heads();
        edit(&mut device, i)?;
        let change = device.automerge_mut().save_after(&heads);
        server.load_incremental(&change)?;
        drop(server.save_after(&heads));
    }
    Ok(server)
}

/// The live heap `count` documents made by `make` hold once in a cache, and
/// the weight the cache charges for them, per document.
fn measure(
    count: usize,
    make: impl Fn() -> anyhow::Result<AutoCommit>,
) -> anyhow::Result<(f64, f64)> {
    // Whatever a first document sets up for good (lazy statics, thread
    // locals) is not the documents' cost.
    drop(make()?);
    let cache = DocCache::new(u64::MAX / 2);
    let before = live_bytes();
    for version in 0..count {
        cache.put(Uuid::now_v7(), make()?, i64::try_from(version)?);
    }
    let real = live_bytes() - before;
    let (held, weight) = cache.usage();
    anyhow::ensure!(held == count, "{held} of {count} documents held");
    Ok((real as f64 / count as f64, weight as f64 / count as f64))
}

#[test]
fn a_documents_weight_is_at_least_what_it_holds_and_not_far_above() -> anyhow::Result<()> {
    let _one_at_a_time = MEASURING.lock();
    let key_person = tiny_key_person()?;
    let new_account = account()?.automerge_mut().save();
    let mut history = account_with_history(200)?;
    let snapshot = history.automerge_mut().save();
    let mut log = Vec::new();
    for i in 0..30 {
        let heads = history.automerge_mut().get_heads();
        edit(&mut history, 200 + i)?;
        log.push(history.automerge_mut().save_after(&heads));
    }
    let long_lived = account_with_history(2_000)?.automerge_mut().save();
    let typed = notes_typed_at_random(10_000, 50)?;
    let many_devices = edited_by_devices(200)?;

    type Make<'a> = Box<dyn Fn() -> anyhow::Result<AutoCommit> + 'a>;
    let shapes: Vec<(&str, usize, Make)> = vec![
        (
            "a key person with a name only, pushed whole",
            300,
            Box::new(|| pushed_whole(RecordKind::Contact, &key_person)),
        ),
        (
            "an account as a rep creates it, pushed whole",
            100,
            Box::new(|| pushed_whole(RecordKind::Account, &new_account)),
        ),
        (
            "an account with 200 edits, loaded from its snapshot and 30 log entries",
            20,
            Box::new(|| loaded_from_store(RecordKind::Account, &snapshot, &log)),
        ),
        (
            "an account with 2,000 changes, pushed whole",
            3,
            Box::new(|| pushed_whole(RecordKind::Account, &long_lived)),
        ),
        (
            "an account kept loaded while 1,000 one-change pushes arrive",
            2,
            Box::new(|| kept_loaded_through_pushes(1_000)),
        ),
        (
            "notes of 10,000 characters typed at random places",
            3,
            Box::new(|| pushed_whole(RecordKind::Account, &typed)),
        ),
        (
            "an account edited by 200 devices",
            5,
            Box::new(|| pushed_whole(RecordKind::Account, &many_devices)),
        ),
    ];
    let mut wrong = Vec::new();
    for (shape, count, make) in &shapes {
        let (real, weight) = measure(*count, make)?;
        let ratio = weight / real;
        println!("{shape}: {real:.0} bytes held, weighed {weight:.0} ({ratio:.2}x)");
        if !(1.0..=3.0).contains(&ratio) {
            wrong.push(format!(
                "{shape}: holds {real:.0} bytes, weighed {weight:.0} ({ratio:.2}x)"
            ));
        }
    }
    anyhow::ensure!(
        wrong.is_empty(),
        "weights off what documents hold (want 1x to 3x):\n{}",
        wrong.join("\n")
    );
    Ok(())
}

#[test]
fn compressible_text_is_never_weighed_below_what_it_holds() -> anyhow::Result<()> {
    let _one_at_a_time = MEASURING.lock();
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut pasted = account()?;
    let doc = pasted.automerge_mut();
    let (_, notes) = doc.get(automerge::ROOT, "notes")?.context("notes")?;
    doc.splice_text(&notes, 0, 0, &"Quarterly review notes. ".repeat(4_000))?;
    doc.commit();
    let bytes = doc.save();
    let (real, weight) = measure(3, || pushed_whole(RecordKind::Account, &bytes))?;
    println!(
        "notes of 96,000 characters pasted at once: {real:.0} bytes held, weighed {weight:.0}"
    );
    anyhow::ensure!(weight >= real, "holds {real:.0} bytes, weighed {weight:.0}");
    Ok(())
}

#[test]
fn a_full_cache_of_tiny_documents_holds_no_more_than_its_budget() -> anyhow::Result<()> {
    let _one_at_a_time = MEASURING.lock();
    let budget: u64 = 4 << 20;
    let key_person = tiny_key_person()?;
    drop(pushed_whole(RecordKind::Contact, &key_person)?);
    let before = live_bytes();
    let cache = DocCache::new(budget);
    for version in 0..3_000 {
        cache.put(
            Uuid::now_v7(),
            pushed_whole(RecordKind::Contact, &key_person)?,
            version,
        );
    }
    let real = u64::try_from(live_bytes() - before)?;
    let (held, weight) = cache.usage();
    println!(
        "{held} key persons held, weighed {weight} bytes, {real} bytes of heap, budget {budget}"
    );
    anyhow::ensure!(weight <= budget, "weighed {weight} bytes, budget {budget}");
    anyhow::ensure!(
        real <= budget,
        "{held} key persons hold {real} bytes of heap, budget {budget}"
    );
    Ok(())
}
