//! A pushed document's Automerge bytes: loaded as a whole document of each
//! record kind and read back, then merged as the server merges a push into
//! a record it has never seen and into one it stores.

#![no_main]

use kam_sync_core::{RecordDoc, RecordKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: kam_fuzz::report_only_uncaught_panics(), |bytes: &[u8]| {
    kam_fuzz::on_worker_stack(|| {
        for kind in RecordKind::ALL {
            if let Ok(doc) = RecordDoc::load(*kind, bytes) {
                let _record = doc.check();
                let _conflicts = doc.conflicts();
            }
            kam_fuzz::push_doc(*kind, bytes);
        }
    });
});
