//! Documents whose structure the input builds step by step (maps and
//! lists nested thousands deep, text, scalars) under a field of a valid
//! record: pushed as a new record and as an edit of a stored one, on a
//! thread with the server's stack, as a hostile device would send them.

#![no_main]

use kam_sync_core::RecordKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: kam_fuzz::report_only_uncaught_panics(), |script: &[u8]| {
    kam_fuzz::on_worker_stack(|| {
        for kind in [RecordKind::Visit, RecordKind::Ticket, RecordKind::Account] {
            let (whole, graft) = kam_fuzz::grafted(kind, script);
            kam_fuzz::push_doc(kind, &whole);
            kam_fuzz::push_doc(kind, &graft);
        }
    });
});
