//! What the fuzz targets share: the server's handling of one pushed
//! document's Automerge bytes, step by step as `kam_server::sync::push`
//! takes them but without the database, and the stored records a push
//! merges into.
//!
//! Every step's errors are expected (the bytes are hostile); only a panic,
//! an overflow or a hang is a finding.

use automerge::{ActorId, AutoCommit};
use chrono::DateTime;
use kam_server::sync::push::{MAX_PUSH_CHANGES, check_bytes, foreign_roots};
use kam_sync_core::doc::decode_untrusted;
use kam_sync_core::{
    ChangeMeta, Record, RecordDoc, RecordError, RecordKind, diff_patch, with_record_type,
};
use serde_json::{Value, json};
use std::sync::OnceLock;
use uuid::Uuid;

/// The id every fuzzed document is pushed under.
pub const DOC_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001);

/// The actor the server writes its own changes as.
pub fn server_actor() -> ActorId {
    ActorId::from(b"kam-fuzz-server".as_slice())
}

fn meta() -> ChangeMeta {
    ChangeMeta {
        user: None,
        device: "server".into(),
        time: DateTime::from_timestamp(1_750_000_000, 0).unwrap_or_default(),
    }
}

/// A valid record of `kind`, always the same.
pub fn sample(kind: RecordKind) -> Value {
    match kind {
        RecordKind::Account => json!({
            "name": "Hangzhou Water Authority",
            "segment": "government",
            "owner_id": "01900000-0000-7000-8000-00000000000a",
            "tags": ["water"],
            "notes": "Met the deputy director."
        }),
        RecordKind::Visit => json!({
            "account_id": DOC_ID,
            "owner_id": "01900000-0000-7000-8000-00000000000a",
            "planned_at": "2025-06-15T09:00:00Z",
            "type": "onsite",
            "purpose": "Renewal"
        }),
        RecordKind::Contact => json!({
            "account_id": DOC_ID,
            "name": "Wang Jianguo",
            "title": "CIO",
            "buying_role": "decision_maker",
            "influence": 5,
            "org_needs": ["quality"]
        }),
        RecordKind::Opportunity => json!({
            "account_id": DOC_ID,
            "name": "Smart meters, phase 2",
            "owner_id": "01900000-0000-7000-8000-00000000000a",
            "stage": "negotiation",
            "amount": 1200000.5,
            "competitors": [{"name": "Acme", "price_position": "low"}],
            "notes": "The CFO wants a longer payment period."
        }),
        RecordKind::AccountPlan => json!({
            "account_id": DOC_ID,
            "period_kind": "quarter",
            "period_start": "2026-10-01",
            "title": "Q4: win the metro tender",
            "owner_id": "01900000-0000-7000-8000-00000000000a",
            "status": "active",
            "actions": [{
                "id": "01900000-0000-7000-8000-0000000000a1",
                "text": "Run the pilot",
                "due_on": "2026-11-15",
                "status": "todo"
            }],
            "resources": [{
                "id": "01900000-0000-7000-8000-0000000000b1",
                "kind": "budget",
                "description": "Pilot hardware",
                "amount": 12000.5
            }],
            "strategies": "Win the CIO through a pilot."
        }),
        RecordKind::Callback => json!({
            "account_id": DOC_ID,
            "kind": "after_ticket",
            "ticket_id": "01900000-0000-7000-8000-00000000000b",
            "owner_id": "01900000-0000-7000-8000-00000000000a",
            "scheduled_on": "2025-06-20",
            "comments": "Call after the fix"
        }),
        RecordKind::Ticket => json!({
            "account_id": DOC_ID,
            "type": "complaint",
            "title": "Meter readings doubled",
            "severity": "high",
            "description": "Three sites report doubled readings."
        }),
    }
}

fn create<R: Record>(kind: RecordKind) -> Vec<u8> {
    let record: R = serde_json::from_value(sample(kind))
        .unwrap_or_else(|err| panic!("the sample {} is invalid: {err}", kind.as_str()));
    RecordDoc::create(&record, server_actor(), &meta())
        .unwrap_or_else(|err| panic!("the sample {} is refused: {err}", kind.as_str()))
        .automerge_mut()
        .save()
}

/// The stored document of `kind` that pushes merge into: the sample record
/// in one change, byte for byte the same on every run, so that seeds made
/// on top of it (`save_after` its heads) apply.
pub fn stored(kind: RecordKind) -> RecordDoc {
    static STORED: [OnceLock<Vec<u8>>; RecordKind::ALL.len()] =
        [const { OnceLock::new() }; RecordKind::ALL.len()];
    let slot = RecordKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_else(|| panic!("{} is not in RecordKind::ALL", kind.as_str()));
    let bytes = STORED[slot].get_or_init(|| with_record_type!(kind, R => create::<R>(kind)));
    RecordDoc::load(kind, bytes).unwrap_or_else(|err| panic!("the stored sample is lost: {err}"))
}

fn validate(doc: &RecordDoc) -> Result<(), RecordError> {
    doc.check()
}

fn merge_patch(
    doc: &mut RecordDoc,
    patch: &serde_json::Map<String, Value>,
) -> Result<(), RecordError> {
    doc.merge_patch_own_kind(patch, &meta()).map(drop)
}

/// Lets the panics our code catches be caught. libfuzzer-sys's panic hook
/// aborts on every panic, even one that `kam_sync_core::doc::decode_untrusted`
/// turns into an error as the server does; with the default hook back, a
/// panic that escapes a target still aborts it (libfuzzer-sys runs each input
/// under `catch_unwind` and aborts when one unwinds out), so it is still a
/// finding. Call it in the target's `init`.
pub fn report_only_uncaught_panics() {
    drop(std::panic::take_hook());
}

/// What the server does with a pushed document's bytes, for a record it
/// has never seen and for one it stores: check the bytes (a new record is
/// what they make on their own), merge them, read and validate the result,
/// patch it back towards a valid record, and save the new changes.
pub fn push_doc(kind: RecordKind, bytes: &[u8]) {
    let Ok(whole) = check_bytes(DOC_ID, bytes) else {
        return;
    };
    match whole {
        Some(whole) => merge(RecordDoc::from_automerge(kind, whole), None, false),
        None => merge(
            RecordDoc::from_automerge(kind, AutoCommit::new()),
            Some(bytes),
            false,
        ),
    }
    merge(stored(kind), Some(bytes), true);
}

/// Merges `bytes` into `doc` (`None`: a new record the bytes already make)
/// and goes on as the server does.
fn merge(mut doc: RecordDoc, bytes: Option<&[u8]>, existed: bool) {
    let kind = doc.kind();
    let heads_before = if existed {
        doc.automerge_mut().get_heads()
    } else {
        Vec::new()
    };
    let old = if existed { doc.to_json() } else { sample(kind) };
    doc.automerge_mut().set_actor(server_actor());
    if let Some(bytes) = bytes
        && decode_untrusted(|| doc.automerge_mut().load_incremental(bytes)).is_err()
    {
        return;
    }
    if !doc.automerge_mut().get_missing_deps(&[]).is_empty()
        || doc.automerge_mut().get_changes(&heads_before).len() > MAX_PUSH_CHANGES
        || foreign_roots(&mut doc, &heads_before, existed)
    {
        return;
    }
    let heads_merged = doc.automerge_mut().get_heads();
    if heads_merged == heads_before {
        return;
    }
    let merged = doc.to_json();
    let _account = kind.account_of(DOC_ID, &merged);
    let _conflicts = doc.conflicts();
    let _verdict = validate(&doc);
    let _device_bytes = doc.automerge_mut().save_after(&heads_before);
    // The server undoes what it refuses by patching the merge back towards
    // a valid record.
    if let (Some(current), Some(target)) = (merged.as_object(), old.as_object()) {
        let correction = diff_patch(current, target);
        if !correction.is_empty() && merge_patch(&mut doc, &correction).is_ok() {
            let _server_bytes = doc.automerge_mut().save_after(&heads_merged);
        }
    }
}
