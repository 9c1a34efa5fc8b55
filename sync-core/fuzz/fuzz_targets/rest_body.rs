//! A REST request body, parsed as every JSON route parses it
//! (`kam_sync_core::wire::parse_json`: duplicate members, NUL
//! characters and nesting refused while parsing), then, when it is an
//! object, merge-patched into a stored record of each kind and read back,
//! as `PATCH` does.

#![no_main]

use kam_sync_core::RecordKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: kam_fuzz::report_only_uncaught_panics(), |body: &[u8]| {
    kam_fuzz::on_worker_stack(|| {
        let Ok(serde_json::Value::Object(patch)) = kam_sync_core::wire::parse_json(body)
        else {
            return;
        };
        for kind in RecordKind::ALL {
            let mut doc = kam_fuzz::stored(*kind);
            if kam_fuzz::patch(&mut doc, &patch) {
                let _record = doc.to_json();
                let _conflicts = doc.conflicts();
            }
        }
    });
});
