//! The pure middle of a push, everything a server does with a device's
//! pushed Automerge bytes before it needs a database: checking the bytes
//! ([`check_bytes`]), merging them into the stored document and checking
//! what only the document can tell ([`merge_pushed`]), and keeping the
//! device's fields where the record stays valid ([`keep_valid_fields`]).
//! The server runs these on its CPU pool; the fuzz targets in
//! `sync-core/fuzz` drive the same functions.

use crate::doc::decode_untrusted;
use crate::error::{Rejection, RejectionCode};
use crate::inflation::{DecodeBudget, ScanError};
use crate::limits::{MAX_MESSAGE_BYTES, MESSAGE_TOO_LONG};
use crate::protocol::{MISSING_DEPENDENCIES, Notice};
use crate::{RecordDoc, RecordError, RecordKind, Violation, parse_record, with_record_type};
use automerge::{AutoCommit, AutomergeError, ChangeHash, LoadOptions, OnPartialLoad};
use chrono::{DateTime, Datelike, Utc};
use serde_json::Value;
use uuid::Uuid;

/// Most documents one request may push.
pub const MAX_PUSH_DOCS: usize = 1_000;

/// Most changes one request may bring to one document (a long offline
/// stretch of typing stays far below; more is a runaway client).
pub const MAX_PUSH_CHANGES: usize = 20_000;

/// Checks that `bytes` are whole, well-formed Automerge changes or documents
/// (they may depend on changes the server has; that is checked on merge),
/// and, before decoding them, that they decode to no more than `budget`
/// leaves (spending it: one budget serves a whole request). Returns the
/// document they make when they need nothing else, so a new document is
/// parsed once.
pub fn check_bytes(
    id: Uuid,
    bytes: &[u8],
    budget: &mut DecodeBudget,
) -> Result<Option<AutoCommit>, Rejection> {
    budget
        .spend_on(bytes)
        .map_err(|err| scan_refusal(id, &err))?;
    match decode_untrusted(|| {
        AutoCommit::load_with_options(
            bytes,
            LoadOptions::new().on_partial_load(OnPartialLoad::Error),
        )
    }) {
        Ok(doc) => Ok(Some(doc)),
        Err(AutomergeError::MissingDeps) => Ok(None),
        Err(err) => Err(Rejection::new(
            RejectionCode::InvalidAutomerge,
            format!("document {id}: the changes are not valid Automerge bytes ({err})"),
        )),
    }
}

/// The answer to pushed bytes refused before they were decoded.
pub fn scan_refusal(id: Uuid, err: &ScanError) -> Rejection {
    match err {
        ScanError::TooLarge { limit } => Rejection::new(
            RejectionCode::TooLargeDecoded,
            format!(
                "document {id}: the pushed changes, with the documents before them in this request, decode to more than {} MiB; push fewer documents per request",
                limit / (1024 * 1024)
            ),
        ),
        ScanError::Malformed(_) => Rejection::new(
            RejectionCode::InvalidAutomerge,
            format!("document {id}: the changes are not valid Automerge bytes ({err})"),
        ),
    }
}

/// Most changes one record's history may hold. Loading, merging and saving
/// a document cost time and memory in proportion to its history; a record
/// edited a hundred times a day for two years stays well below. A write
/// that would take a record past it is refused (`409 history_full`; a sync
/// push gets a refused result with that notice).
pub const MAX_DOC_CHANGES: u64 = 100_000;

/// The refusal of a write that takes a record past [`MAX_DOC_CHANGES`].
pub fn history_full(id: Uuid) -> Rejection {
    Rejection::new(
        RejectionCode::HistoryFull,
        format!("record {id} has reached its limit of {MAX_DOC_CHANGES} changes"),
    )
}

/// A notice about document `id`.
pub fn notice(id: Uuid, code: &str, field: Option<&str>, message: impl Into<String>) -> Notice {
    Notice {
        id,
        code: code.to_owned(),
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

/// Whether `value` is a valid record of `kind`.
pub fn validate(kind: RecordKind, value: Value) -> Result<(), RecordError> {
    with_record_type!(kind, R => parse_record::<R>(value).map(drop))
}

/// Keeps the device's value of each changed top-level field where the
/// record stays valid, and the previous value where it would not; returns
/// the resulting record and what was kept back.
///
/// A field refused alone may pass once another is in (a stage moved to
/// `lost` with the reason beside it), so the merged record is tried whole
/// first, then the fields one by one until no more can be taken.
pub fn keep_valid_fields(
    kind: RecordKind,
    id: Uuid,
    old: &Value,
    merged: &Value,
) -> (Value, Vec<Notice>) {
    let (Some(old), Some(merged)) = (old.as_object(), merged.as_object()) else {
        return (old.clone(), Vec::new());
    };
    if validate(kind, Value::Object(merged.clone())).is_ok() {
        return (Value::Object(merged.clone()), Vec::new());
    }
    let mut candidate = old.clone();
    let mut waiting: Vec<&String> = old
        .keys()
        .chain(merged.keys().filter(|k| !old.contains_key(*k)))
        .filter(|key| old.get(*key) != merged.get(*key))
        .collect();
    let mut refused = Vec::new();
    loop {
        let before = waiting.len();
        refused.clear();
        for key in std::mem::take(&mut waiting) {
            let mut trial = candidate.clone();
            match merged.get(key) {
                Some(value) => trial.insert(key.clone(), value.clone()),
                None => trial.remove(key),
            };
            match validate(kind, Value::Object(trial.clone())) {
                Ok(()) => candidate = trial,
                Err(err) => {
                    waiting.push(key);
                    refused.push((key, err));
                }
            }
        }
        if waiting.is_empty() || waiting.len() == before {
            break;
        }
    }
    let notices = refused
        .into_iter()
        .map(|(key, err)| match err {
            RecordError::Invalid(violations) => {
                let first = violations
                    .first()
                    .cloned()
                    .unwrap_or_else(|| Violation::new(key.as_str(), "invalid_value", "invalid"));
                notice(
                    id,
                    &first.code,
                    Some(key),
                    format!(
                        "{}: {}; the previous value was restored",
                        first.field, first.message
                    ),
                )
            }
            RecordError::Automerge(err) => notice(id, "invalid_value", Some(key), err.to_string()),
        })
        .collect();
    (Value::Object(candidate), notices)
}

/// Whether a change set brings a second root (a change with no
/// dependencies) into a document: the bytes belong to another document.
pub fn foreign_roots(doc: &mut RecordDoc, since: &[ChangeHash], existed: bool) -> bool {
    let changes = doc.automerge_mut().get_changes(since);
    let roots = changes.iter().filter(|c| c.deps().is_empty()).count();
    if existed { roots > 0 } else { roots != 1 }
}

/// A document after the device's changes were merged into it.
pub struct MergeStep {
    /// The document, merged (or as far as merging got).
    pub doc: RecordDoc,
    /// The record before the merge (`None`: it is new).
    pub old_json: Option<Value>,
    /// The device's bytes, handed back to be logged as they came.
    pub device_bytes: Vec<u8>,
    /// What merging came to.
    pub outcome: Merged,
}

/// What merging came to.
pub enum Merged {
    /// Refused whole, with these notices.
    Refused(Vec<Notice>),
    /// Changes for a document the server does not know that are not whole.
    UnknownDocument,
    /// The changes belong to another document (a second root).
    ForeignDocument,
    /// The server had every change already.
    Unchanged,
    /// Merged: the record now, the heads it has, and the device's clock.
    Changed {
        /// The record as merged (winning values).
        merged: Value,
        /// The document's heads after the merge.
        heads: Vec<ChangeHash>,
        /// The latest plausible time the device's clock put on its changes.
        device_time: Option<DateTime<Utc>>,
        /// How many of the pushed changes were new to the document.
        new_changes: usize,
    },
}

/// Merges a device's changes into a document and checks what only the
/// document can tell (dependencies, size, commit messages, depth, roots):
/// the pure, CPU-heavy middle of a push, run on the CPU pool, and what the
/// fuzz targets in `sync-core/fuzz` drive. `whole` says the document was made
/// from the bytes already (they were a whole new document).
pub fn merge_pushed(
    mut doc: RecordDoc,
    bytes: Vec<u8>,
    heads_before: Vec<ChangeHash>,
    existed: bool,
    whole: bool,
    id: Uuid,
) -> Result<MergeStep, Rejection> {
    let old_json = existed.then(|| doc.to_json());
    let step = |doc: RecordDoc, outcome: Merged| MergeStep {
        doc,
        old_json: None,
        device_bytes: Vec::new(),
        outcome,
    };
    if !whole {
        // `check_bytes` spent the request's budget on these bytes already;
        // scanning them again keeps this step safe on its own.
        DecodeBudget::default()
            .spend_on(&bytes)
            .map_err(|err| scan_refusal(id, &err))?;
        decode_untrusted(|| doc.automerge_mut().load_incremental(&bytes)).map_err(|err| {
            Rejection::new(
                RejectionCode::InvalidAutomerge,
                format!("document {id}: {err}"),
            )
        })?;
    }
    if !doc.automerge_mut().get_missing_deps(&[]).is_empty() {
        if !existed {
            return Ok(step(doc, Merged::UnknownDocument));
        }
        let missing = notice(
            id,
            MISSING_DEPENDENCIES,
            None,
            "the changes depend on changes the server does not have; push the whole document",
        );
        return Ok(step(doc, Merged::Refused(vec![missing])));
    }
    let (new_changes, device_time, longest_message) = {
        let changes = doc.automerge_mut().get_changes(&heads_before);
        let latest = changes.iter().map(|change| change.timestamp()).max();
        let longest_message = changes
            .iter()
            .filter_map(|change| change.message().map(str::len))
            .max()
            .unwrap_or(0);
        (
            changes.len(),
            latest.and_then(device_clock),
            longest_message,
        )
    };
    if new_changes > MAX_PUSH_CHANGES {
        return Err(Rejection::new(
            RejectionCode::TooManyChanges,
            format!(
                "document {id} brings {new_changes} changes; push at most {MAX_PUSH_CHANGES} per document per request"
            ),
        ));
    }
    if longest_message > MAX_MESSAGE_BYTES {
        let long = notice(
            id,
            MESSAGE_TOO_LONG,
            None,
            format!(
                "a change carries a commit message of {longest_message} bytes; at most {MAX_MESSAGE_BYTES}"
            ),
        );
        return Ok(step(doc, Merged::Refused(vec![long])));
    }
    if automerge::ReadDoc::stats(doc.automerge()).num_changes > MAX_DOC_CHANGES {
        let full = notice(
            id,
            RejectionCode::HistoryFull.as_str(),
            None,
            history_full(id).detail,
        );
        return Ok(step(doc, Merged::Refused(vec![full])));
    }
    // Before anything reads the merged document: a structure nested too
    // deep is refused whole, so no stored record ever holds one.
    if let Some(violation) = doc.depth_violation() {
        let deep = notice(
            id,
            &violation.code,
            Some(&violation.field),
            violation.message,
        );
        return Ok(step(doc, Merged::Refused(vec![deep])));
    }
    if foreign_roots(&mut doc, &heads_before, existed) {
        return Ok(step(doc, Merged::ForeignDocument));
    }
    let heads = doc.automerge_mut().get_heads();
    let outcome = if heads == heads_before {
        Merged::Unchanged
    } else {
        Merged::Changed {
            merged: doc.to_json(),
            heads,
            device_time,
            new_changes,
        }
    };
    Ok(MergeStep {
        doc,
        old_json,
        device_bytes: bytes,
        outcome,
    })
}
/// A device's change time (seconds since the epoch, as Automerge keeps
/// it) when it names a plausible moment: 1970 to 9999, not zero (no time).
pub fn device_clock(seconds: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(seconds, 0)
        .filter(|time| seconds != 0 && (1970..=9999).contains(&time.year()))
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_valid_only_together_are_kept_together_and_the_bad_one_is_put_back() {
        let id = Uuid::now_v7();
        let old = json!({
            "account_id": Uuid::now_v7(),
            "name": "Meters",
            "owner_id": Uuid::now_v7(),
            "stage": "research",
        });
        let mut merged = old.clone();
        merged["stage"] = json!("lost");
        merged["lost_reason"] = json!("Price");
        merged["probability"] = json!(500);
        let (kept, notices) = keep_valid_fields(RecordKind::Opportunity, id, &old, &merged);
        assert_eq!(kept["stage"], json!("lost"));
        assert_eq!(kept["lost_reason"], json!("Price"));
        assert_eq!(kept.get("probability"), None);
        let fields: Vec<_> = notices.iter().map(|n| n.field.as_deref()).collect();
        assert_eq!(fields, [Some("probability")]);
    }
}
