//! A CBOR sync request body, decoded as `POST /sync` decodes it
//! (`kam_sync_core::wire::decode_request`); then the request's cursor
//! (`kam_sync_core::cursor::SyncCursor::parse`) and every pushed document's
//! Automerge bytes, handled as the server handles them (`kam_fuzz::push_doc`).

#![no_main]

use kam_sync_core::cursor::SyncCursor;
use kam_sync_core::wire::decode_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: kam_fuzz::report_only_uncaught_panics(), |body: &[u8]| {
    kam_fuzz::on_worker_stack(|| {
        let Ok(request) = decode_request(body, true) else {
            return;
        };
        if let Some(cursor) = &request.cursor {
            let _cursor = SyncCursor::parse(cursor);
        }
        for push in &request.push {
            kam_fuzz::push_doc(push.kind, &push.changes.0);
        }
    });
});
