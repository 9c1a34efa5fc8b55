//! Decompression bombs in pushed Automerge bytes. Automerge deflates a
//! change chunk above 256 bytes and the large columns of a saved document,
//! so a change whose commit message is one character repeated takes about a
//! thousandth of its size on the wire. Loaded, it holds all of it: one sync
//! request of 16 MiB could make the server inflate gigabytes.
//!
//! A counting global allocator (this file is a test binary of its own, so
//! it counts nothing else) shows what loading such bytes takes, and that the
//! server's check of pushed bytes refuses them having allocated next to
//! nothing.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ROOT};
use kam_server::error::ApiError;
use kam_sync_core::error::Rejection;
use kam_sync_core::inflation::DecodeBudget;
use kam_sync_core::merge::check_bytes;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use std::alloc::System;
use std::sync::Mutex;
use uuid::Uuid;

#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The counts are process-wide: one measurement at a time.
static MEASURING: Mutex<()> = Mutex::new(());

const MIB: usize = 1024 * 1024;

/// What `work` allocated in all (not only what it still holds), and its
/// result.
fn allocated_by<T>(work: impl FnOnce() -> T) -> (usize, T) {
    let before = ALLOCATOR.stats().bytes_allocated;
    let result = work();
    (ALLOCATOR.stats().bytes_allocated - before, result)
}

/// A document with one change whose commit message is `size` bytes of one
/// character.
fn message_bomb(size: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "name", "Bomb")
        .unwrap_or_else(|err| panic!("{err}"));
    doc.commit_with(CommitOptions::default().with_message("a".repeat(size)));
    doc
}

/// The bomb's change as Automerge sends it: a compressed change chunk.
fn compressed_change(doc: &mut AutoCommit) -> Vec<u8> {
    let mut change = doc
        .get_last_local_change()
        .unwrap_or_else(|| panic!("the bomb has a change"));
    change.bytes().into_owned()
}

fn refusal_code(result: Result<Option<AutoCommit>, Rejection>) -> String {
    match result.map_err(ApiError::from) {
        Ok(_) => "accepted".into(),
        Err(err) => format!("{} {}", err.problem().status, err.code()),
    }
}

#[test]
fn a_message_of_64_mib_is_about_64_kib_on_the_wire_and_loads_whole() {
    let _measuring = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let mut bomb = message_bomb(64 * MIB);
    let change = compressed_change(&mut bomb);
    let document = bomb.save();
    drop(bomb);
    for (shape, bytes) in [("compressed change", &change), ("document", &document)] {
        assert!(
            bytes.len() < 128 * 1024,
            "{shape}: {} bytes on the wire",
            bytes.len()
        );
        let (allocated, loaded) = allocated_by(|| AutoCommit::load(bytes));
        assert!(loaded.is_ok(), "{shape}: Automerge loads it");
        assert!(
            allocated >= 64 * MIB,
            "{shape}: {} bytes on the wire, loading allocated {allocated}",
            bytes.len()
        );
    }
}

#[test]
fn pushed_bytes_that_inflate_past_the_bound_are_refused_413_allocating_next_to_nothing() {
    let _measuring = MEASURING.lock().unwrap_or_else(|e| e.into_inner());
    let mut bomb = message_bomb(96 * MIB);
    let change = compressed_change(&mut bomb);
    let document = bomb.save();
    drop(bomb);
    for (shape, bytes) in [("compressed change", &change), ("document", &document)] {
        let (allocated, result) =
            allocated_by(|| check_bytes(Uuid::now_v7(), bytes, &mut DecodeBudget::default()));
        assert_eq!(
            refusal_code(result),
            "413 too_large_decoded",
            "{shape} of {} bytes",
            bytes.len()
        );
        assert!(
            allocated < 2 * MIB,
            "{shape}: refusing it allocated {allocated} bytes"
        );
    }
}
