//! Documents nested far deeper than any record, as a hostile device may
//! push them: read with a bounded depth (never a stack overflow), and
//! refused as records.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT};
use kam_sync_core::limits::MAX_DEPTH;
use kam_sync_core::{Contact, RecordDoc, RecordError, RecordKind};
use serde_json::Value;

/// A key person's document with `levels` maps nested under the field `x`.
fn nested(levels: usize) -> Result<RecordDoc, automerge::AutomergeError> {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "account_id", "01a2423a-feec-7345-a767-25dc545593ec")?;
    doc.put(ROOT, "name", "Deep")?;
    let mut at = doc.put_object(ROOT, "x", ObjType::Map)?;
    for _ in 1..levels {
        at = doc.put_object(&at, "x", ObjType::Map)?;
    }
    let loaded = AutoCommit::load(&doc.save())?;
    Ok(RecordDoc::from_automerge(RecordKind::Contact, loaded))
}

/// How many objects are nested under `x`, walked without recursion.
fn depth_under_x(json: &Value) -> usize {
    let mut levels = 0;
    let mut at = json.get("x");
    while let Some(Value::Object(members)) = at {
        levels += 1;
        at = members.get("x");
    }
    levels
}

#[test]
fn a_document_nested_twenty_thousand_deep_reads_to_the_bound_and_is_no_record()
-> Result<(), automerge::AutomergeError> {
    let mut doc = nested(20_000)?;
    let json = doc.to_json();
    // The root is level 1, so `x` and the maps under it fill the other
    // levels up to the bound.
    assert_eq!(depth_under_x(&json), MAX_DEPTH - 1);
    let heads = doc.automerge_mut().get_heads();
    assert_eq!(depth_under_x(&doc.to_json_at(&heads)), MAX_DEPTH - 1);
    assert!(doc.conflicts().is_empty());
    match doc.read::<Contact>() {
        Err(RecordError::Invalid(violations)) => {
            assert_eq!(violations[0].field, "x", "{violations:?}");
        }
        other => panic!("expected the field x refused, got {other:?}"),
    }
    Ok(())
}

#[test]
fn a_document_as_deep_as_the_bound_reads_whole() -> Result<(), automerge::AutomergeError> {
    let doc = nested(MAX_DEPTH - 1)?;
    assert_eq!(depth_under_x(&doc.to_json()), MAX_DEPTH - 1);
    Ok(())
}
