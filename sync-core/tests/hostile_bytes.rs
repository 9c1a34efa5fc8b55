//! Hostile Automerge bytes found by the fuzz targets in `sync-core/fuzz`:
//! each is refused with an error, never a panic.

use automerge::AutoCommit;
use kam_sync_core::doc::decode_untrusted;
use kam_sync_core::{RecordDoc, RecordError, RecordKind};

/// A document chunk whose actor-counter column ends mid-number: Automerge
/// 0.12 unwraps the failed LEB128 read in its column decoder (`hexane`) and
/// panics. Found by `automerge_payload` in its first minute.
const TRUNCATED_COLUMN: &[u8] = &[
    0x85, 0x6f, 0x4a, 0x83, 0x77, 0x81, 0x25, 0xa5, 0x03, 0xc1, 0x01, 0x01, 0x4a, 0xf0, 0x37, 0xea,
    0x53, 0x0d, 0x28, 0x7a, 0x35, 0x85, 0x6f, 0xfd, 0xdd, 0x3c, 0x5b, 0x94, 0x69, 0x37, 0xe3, 0xc3,
    0x56, 0x11, 0x73, 0x27, 0xbb, 0x79, 0x07, 0x01, 0x02, 0x03, 0x02, 0x13, 0x02, 0x23, 0x06, 0x35,
    0x16, 0x40, 0x02, 0xf6, 0x35, 0xc2, 0x1d, 0x04, 0x02, 0x06, 0x11, 0x06, 0x13, 0x09, 0x15, 0x4d,
    0x21, 0x02, 0x23, 0x4a, 0x83, 0xdf, 0x5c, 0x77, 0x03, 0x00, 0x80, 0x03, 0x03, 0x03, 0x03, 0x03,
    0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
    0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x23, 0x03, 0x03, 0x03, 0x03, 0x03,
    0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
    0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,
    0x03, 0x03, 0x01, 0x07, 0x70, 0x68, 0x6f, 0x6e, 0x65, 0x2d, 0x31, 0x01, 0x7c, 0x40, 0x07, 0xdd,
    0xae, 0x24, 0x40, 0x79, 0xec, 0x6b, 0xb6, 0xed, 0xf4, 0xa8, 0x07, 0xe5, 0xc1, 0xfd, 0xdd, 0x3c,
    0x5b, 0x94, 0x69, 0x37, 0xe3, 0xc3, 0x56, 0x11, 0x73, 0x27, 0xbb, 0x79, 0x07, 0x01, 0x02, 0x03,
    0x02, 0x13, 0x02, 0x23, 0x06, 0x35, 0x16, 0x40, 0x02, 0xf6, 0x35, 0xc2, 0x1d, 0x04, 0x02, 0x06,
    0x11, 0x06, 0x13, 0x09, 0x15, 0x4d, 0x21, 0x02, 0x23, 0x0c, 0x34, 0x30, 0x15, 0x52, 0x47, 0x6b,
    0x47, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x30, 0x2d, 0x37, 0x00, 0x00, 0x00, 0x30, 0x30, 0x00,
];

#[test]
fn a_document_with_a_truncated_column_is_refused_not_a_panic() {
    for kind in RecordKind::ALL {
        match RecordDoc::load(*kind, TRUNCATED_COLUMN) {
            Err(RecordError::Automerge(err)) => {
                assert!(
                    err.to_string().contains("malformed Automerge bytes"),
                    "{err}"
                );
            }
            other => panic!("expected an Automerge error, got {other:?}"),
        }
    }
}

#[test]
fn merging_a_truncated_column_into_a_document_is_refused_not_a_panic() {
    let mut doc = AutoCommit::new();
    assert!(decode_untrusted(|| doc.load_incremental(TRUNCATED_COLUMN)).is_err());
}

/// The stack of an actix worker thread (Rust's default for spawned
/// threads): what the server has when it reads a pushed document.
const WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// Runs `work` on a thread with a server worker's stack; a stack overflow
/// there aborts the test binary, which fails the test.
fn on_worker_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK_BYTES)
        .spawn(work)
        .and_then(|handle| {
            handle
                .join()
                .map_err(|_| std::io::Error::other("the worker panicked"))
        })
        .unwrap_or_else(|err| panic!("{err}"))
}

/// A visit whose `purpose` is a map nested `levels` deep, as a hostile
/// device can push it (a few bytes per level).
fn visit_nested(levels: usize) -> RecordDoc {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT};
    let mut doc = AutoCommit::new();
    let mut at = ROOT;
    let mut key = "purpose";
    for _ in 0..levels {
        at = doc
            .put_object(&at, key, ObjType::Map)
            .unwrap_or_else(|err| panic!("{err}"));
        key = "a";
    }
    doc.commit();
    RecordDoc::from_automerge(RecordKind::Visit, doc)
}

#[test]
fn a_document_nested_thousands_deep_is_read_and_checked_on_a_worker_stack() {
    let violation = on_worker_stack(|| {
        let doc = visit_nested(20_000);
        let json = doc.to_json();
        assert!(json["purpose"].is_object());
        assert!(doc.conflicts().is_empty());
        assert!(doc.check().is_err(), "a map is no purpose");
        let violation = doc.depth_violation();
        drop(json);
        violation
    });
    let violation = violation.unwrap_or_else(|| panic!("the depth is not flagged"));
    assert_eq!(violation.code, kam_sync_core::limits::TOO_DEEP);
    assert!(
        violation.field.starts_with("purpose.a.a"),
        "{}",
        violation.field
    );
}

#[test]
fn a_document_at_the_depth_bound_passes_the_check() {
    let doc = visit_nested(kam_sync_core::limits::MAX_DEPTH - 1);
    assert_eq!(doc.depth_violation(), None);
    let doc = visit_nested(kam_sync_core::limits::MAX_DEPTH);
    assert!(doc.depth_violation().is_some());
}

/// A change (204 bytes, found by the `automerge_payload` fuzz target) whose
/// raw column claims more bytes than follow: the pre-scan of what pushed
/// bytes decode to skipped nothing, forever, and the request never ended.
const RAW_COLUMN_PAST_THE_END: &str = "hW9Kg3eBJaUBwQEBSvA36lMNCHo1FVJHa0feybgsiSzkip0ay8tX7/5BcY8HcGhvbmUtMQEk5MO7wgYUeyJkZXZpY2UiOiJwaG9uZS0xIn0BD2thbS1mdXp6LXNlcnZlcgwBBAIGEQYTCBUPNAFCC1YIVxBwBHECcwYIAQABfwEHBAABAAEHAQABAAF/DgYBAAF/BGNpdHkAB38Fc3RhZ2UJfwEHA38Bf4YBBwB/hgFIYW5nemhvdWVuZ2FnaW5nfwAIAQgBfw4GAX8N";

#[test]
fn a_raw_column_longer_than_the_bytes_ends_the_pre_scan() {
    use base64::Engine;
    use kam_sync_core::inflation::DecodeBudget;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(RAW_COLUMN_PAST_THE_END)
        .unwrap_or_else(|err| panic!("{err}"));
    let (done, scanned) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = DecodeBudget::default().spend_on(&bytes).is_ok();
        let _ = done.send(outcome);
    });
    // A hang, not a speed: the scan reads 204 bytes.
    let finished = scanned.recv_timeout(std::time::Duration::from_secs(60));
    assert!(finished.is_ok(), "the pre-scan never ended");
}
