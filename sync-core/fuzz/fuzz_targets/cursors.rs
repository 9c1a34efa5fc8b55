//! The opaque cursors clients send back: the sync cursor and the REST list
//! cursor (`kam_sync_core::cursor`). Whatever parses must re-encode to a cursor that parses to the
//! same value.

#![no_main]

use kam_sync_core::cursor::{Cursor, SyncCursor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    kam_fuzz::on_worker_stack(|| {
        let Ok(text) = std::str::from_utf8(bytes) else {
            return;
        };
        if let Ok(cursor) = SyncCursor::parse(text) {
            let again = SyncCursor::parse(&cursor.encode()).ok();
            assert_eq!(again, Some(cursor), "a sync cursor does not round-trip");
        }
        if let Ok(cursor) = Cursor::parse(text) {
            let again = Cursor::parse(&cursor.encode()).ok();
            assert_eq!(again, Some(cursor), "a page cursor does not round-trip");
        }
    });
});
