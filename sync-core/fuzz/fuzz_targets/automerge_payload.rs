//! A pushed document's Automerge bytes: loaded as a whole document of each
//! record kind and read back, then merged as the server merges a push into
//! a record it has never seen and into one it stores.

#![no_main]

use kam_sync_core::{Account, RecordDoc, RecordKind, Visit};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: kam_fuzz::report_only_uncaught_panics(), |bytes: &[u8]| {
    if let Ok(doc) = RecordDoc::load(RecordKind::Account, bytes) {
        let _account = doc.read::<Account>();
        let _conflicts = doc.conflicts();
    }
    if let Ok(doc) = RecordDoc::load(RecordKind::Visit, bytes) {
        let _visit = doc.read::<Visit>();
    }
    for kind in [RecordKind::Account, RecordKind::Visit] {
        kam_fuzz::push_doc(kind, bytes);
    }
});
