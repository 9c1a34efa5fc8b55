//! What the fuzz targets share: the server's handling of one pushed
//! document's Automerge bytes, through the functions the server's push
//! calls (`kam_sync_core::merge`: `check_bytes`, `merge_pushed`,
//! `keep_valid_fields`, `validate`), then the correction the server patches
//! in, as it goes on without the database; the stored records a push
//! merges into; documents with structure grafted in by the input (deep
//! nesting included); and a thread with the server's stack size
//! (`kam_sync_core::limits::WORKER_STACK_BYTES`) to run every input on.
//!
//! Every step's errors are expected (the bytes are hostile); only a panic,
//! an overflow or a hang is a finding.

use automerge::{ActorId, AutoCommit, ReadDoc};
use chrono::DateTime;
use kam_sync_core::inflation::DecodeBudget;
use kam_sync_core::limits::WORKER_STACK_BYTES;
use kam_sync_core::merge::{Merged, check_bytes, keep_valid_fields, merge_pushed, validate};
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

fn merge_patch(
    doc: &mut RecordDoc,
    patch: &serde_json::Map<String, Value>,
) -> Result<(), RecordError> {
    doc.merge_patch_own_kind(patch, &meta()).map(drop)
}

/// Merge-patches `doc` as a REST `PATCH` does; whether it took.
pub fn patch(doc: &mut RecordDoc, patch: &serde_json::Map<String, Value>) -> bool {
    doc.automerge_mut().set_actor(server_actor());
    merge_patch(doc, patch).is_ok()
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

/// Runs `work` on a thread with the stack of the server's request threads
/// ([`WORKER_STACK_BYTES`]), so that a walk too deep for the server
/// overflows here too (an abort libFuzzer reports) instead of fitting in
/// the larger stack of the fuzzer's main thread. A panic is passed on.
pub fn on_worker_stack(work: impl FnOnce() + Send) {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .stack_size(WORKER_STACK_BYTES)
            .spawn_scoped(scope, work)
            .unwrap_or_else(|err| panic!("cannot start a worker thread: {err}"));
        if let Err(panic) = worker.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// What the server does with a pushed document's bytes, for a record it
/// has never seen and for one it stores: check the bytes (a new record is
/// what they make on their own), merge them with the server's own merge
/// step ([`merge_pushed`]), read the result, keep what stays valid as the
/// server does ([`keep_valid_fields`] for a stored record, [`validate`] for
/// a new one), patch the merge towards that, and save the new changes.
pub fn push_doc(kind: RecordKind, bytes: &[u8]) {
    let Ok(whole) = check_bytes(DOC_ID, bytes, &mut DecodeBudget::default()) else {
        return;
    };
    match whole {
        Some(whole) => merge(
            RecordDoc::from_automerge(kind, whole),
            Vec::new(),
            false,
            true,
        ),
        None => merge(
            RecordDoc::from_automerge(kind, AutoCommit::new()),
            bytes.to_vec(),
            false,
            false,
        ),
    }
    merge(stored(kind), bytes.to_vec(), true, false);
}

/// Merges `bytes` into `doc` as a push does (`whole`: the document is
/// what the bytes made already) and goes on as the server does.
fn merge(doc: RecordDoc, bytes: Vec<u8>, existed: bool, whole: bool) {
    let kind = doc.kind();
    let mut doc = doc;
    let heads_before = if existed {
        doc.automerge_mut().get_heads()
    } else {
        Vec::new()
    };
    let Ok(step) = merge_pushed(doc, bytes, heads_before.clone(), existed, whole, DOC_ID) else {
        return;
    };
    let Merged::Changed {
        merged,
        heads: heads_merged,
        ..
    } = step.outcome
    else {
        return;
    };
    let mut doc = step.doc;
    doc.automerge_mut().set_actor(server_actor());
    let _account = kind.account_of(DOC_ID, &merged);
    let _conflicts = doc.conflicts();
    let _device_bytes = doc.automerge_mut().save_after(&heads_before);
    // The server keeps what stays valid and patches the merge towards it; a
    // new record that is invalid is refused whole, and the fuzzer patches
    // it back towards the sample so the correction path sees it too.
    let kept = match &step.old_json {
        Some(old) => keep_valid_fields(kind, DOC_ID, old, &merged).0,
        None if validate(kind, merged.clone()).is_ok() => merged.clone(),
        None => sample(kind),
    };
    if let (Some(current), Some(target)) = (merged.as_object(), kept.as_object()) {
        let correction = diff_patch(current, target);
        if !correction.is_empty() && merge_patch(&mut doc, &correction).is_ok() {
            let _server_bytes = doc.automerge_mut().save_after(&heads_merged);
        }
    }
}

/// The stored sample of `kind` with a structure grafted under one of its
/// fields by `script`, one byte per step (as a hostile device can build
/// it): `0` nests a map, `1` nests a list, `2` adds a scalar, `3` adds
/// text, anything else climbs one level. The first byte picks the field.
/// Returns the whole document and the graft alone (saved after the
/// sample's heads), so both the new-record and the stored-record paths
/// see it.
pub fn grafted(kind: RecordKind, script: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use automerge::transaction::Transactable;
    use automerge::{ObjId, ObjType, ROOT};
    let mut record = stored(kind);
    let doc = record.automerge_mut();
    let heads = doc.get_heads();
    let fields = [
        "purpose",
        "description",
        "name",
        "notes",
        "address",
        "extra",
    ];
    let Some((first, steps)) = script.split_first() else {
        return (doc.save(), Vec::new());
    };
    let field = fields[usize::from(*first) % fields.len()];
    let mut path: Vec<ObjId> = Vec::new();
    let mut at: (ObjId, ObjType) = (ROOT, ObjType::Map);
    let mut pending_key = Some(field.to_owned());
    for (index, step) in steps.iter().enumerate() {
        let key = pending_key
            .take()
            .unwrap_or_else(|| format!("k{}", index % 7));
        let put = |doc: &mut AutoCommit, obj: &ObjId, ty: ObjType| match at.1 {
            ObjType::List => {
                let length = doc.length(obj);
                doc.insert_object(obj, length, ty)
            }
            _ => doc.put_object(obj, key.as_str(), ty),
        };
        let result = match step % 5 {
            0 | 1 => {
                let ty = if step % 5 == 0 {
                    ObjType::Map
                } else {
                    ObjType::List
                };
                put(doc, &at.0, ty).map(|child| {
                    path.push(at.0.clone());
                    at = (child, ty);
                })
            }
            2 => match at.1 {
                ObjType::List => {
                    let length = doc.length(&at.0);
                    doc.insert(&at.0, length, i64::from(*step))
                }
                _ => doc.put(&at.0, key.as_str(), i64::from(*step)),
            },
            3 => put(doc, &at.0, ObjType::Text).and_then(|text| doc.splice_text(&text, 0, 0, "x")),
            _ => {
                if let Some(parent) = path.pop() {
                    let ty = doc.object_type(&parent).unwrap_or(ObjType::Map);
                    at = (parent, ty);
                }
                Ok(())
            }
        };
        if result.is_err() {
            break;
        }
    }
    doc.commit();
    (doc.save(), doc.save_after(&heads))
}
