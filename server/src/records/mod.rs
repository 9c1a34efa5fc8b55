//! The records of the key-account process: one module per kind (its view,
//! rules, REST services, row mapping and reports), the layer every synced
//! kind goes through ([`kind`], [`child`]), the one write path ([`write`])
//! and what it stages (this file: [`ChangeSet`], [`Staged`]). Each synced
//! record is an Automerge document that [`crate::store`] keeps; every change
//! goes to the change log (from which devices pull), gets its timeline
//! entry and re-materializes the record's relational row, all in one
//! transaction. Contracts and sales targets, edited only online, are plain
//! rows with a version instead ([`contracts`], [`targets`]).

pub mod account_plans;
pub mod accounts;
pub mod callbacks;
pub mod child;
pub mod contacts;
pub mod contracts;
pub mod kind;
pub mod opportunities;
pub mod page;
pub mod products;
pub mod stage_moves;
pub mod targets;
pub mod tickets;
pub mod timeline;
pub mod visits;
pub mod write;

use crate::db::insert_each;
use crate::entities::timeline_entry;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::store::{DocMeta, log};
use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use kam_sync_core::merge::{MAX_DOC_CHANGES, history_full};
use kam_sync_core::{ChangeMeta, RecordDoc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;
use timeline::EntryBody;
use uuid::Uuid;

/// Automerge changes to append to the change log as one entry: who made
/// them, and what they did to the record (its timeline entry).
pub struct ChangeSet {
    /// `save_after` output.
    pub bytes: Vec<u8>,
    /// Who (the caller's session, never what a device claims), from where,
    /// when.
    pub meta: ChangeMeta,
    /// The session of a device whose pushed changes these are (its pulls
    /// skip them); `None` for changes the server made.
    pub origin: Option<Uuid>,
    /// What the changes did to the record.
    pub entry: EntryBody,
    /// The latest time the device's clock put on its changes (unverified);
    /// `None` for changes made on the server.
    pub device_time: Option<DateTime<Utc>>,
}

impl ChangeSet {
    /// What `doc` gained since `heads` (made on the server, or through the
    /// API on `meta`'s behalf), or `None` if nothing.
    pub fn since(doc: &mut RecordDoc, heads: &[ChangeHash], meta: &ChangeMeta) -> Option<Self> {
        if doc.automerge_mut().get_heads() == heads {
            return None;
        }
        let before = (!heads.is_empty()).then(|| doc.to_json_at(heads));
        let entry = EntryBody::between(before.as_ref(), &doc.to_json());
        Some(Self {
            bytes: doc.automerge_mut().save_after(heads),
            meta: meta.clone(),
            origin: None,
            entry,
            device_time: None,
        })
    }
}

/// A document to store: what it gained since `existing` (`None`: it is
/// new), in order. Written by the unit of work ([`write`]).
pub struct Staged {
    /// The record's id.
    pub id: Uuid,
    /// Its storage row before this write; `None` for a new document.
    pub existing: Option<DocMeta>,
    /// The document as it is now.
    pub doc: RecordDoc,
    /// What it gained, in order; at least one.
    pub changes: Vec<ChangeSet>,
    /// Its `save()`, made off the async workers when [`log::needs_snapshot`]
    /// says storing it rewrites its snapshot.
    pub snapshot: Option<Vec<u8>>,
}

impl Staged {
    /// Who the record's row names as the author of this write: the author
    /// of its first change set.
    pub fn meta(&self) -> Option<&ChangeMeta> {
        self.changes.first().map(|change| &change.meta)
    }

    /// Makes the snapshot that storing this write needs, if it needs one.
    fn make_snapshot(&mut self) {
        if self.snapshot.is_none()
            && log::needs_snapshot(self.existing.as_ref(), self.changes.len())
        {
            self.snapshot = Some(self.doc.automerge_mut().save());
        }
    }
}

/// Appends what each document gained to the change log
/// ([`log::append`]), with the snapshots `UnitOfWork` made on the CPU pool,
/// and writes each change set's timeline entry at its position. Returns each document's new version (the position of its last
/// change set), in order.
async fn store_all(conn: &impl ConnectionTrait, writes: &mut [Staged]) -> ApiResult<Vec<i64>> {
    if let Some(full) = writes.iter().find(|write| {
        automerge::ReadDoc::stats(write.doc.automerge()).num_changes > MAX_DOC_CHANGES
    }) {
        return Err(history_full(full.id).into());
    }
    let now = Utc::now();
    let mut appends = Vec::with_capacity(writes.len());
    for write in writes.iter_mut() {
        let id = write.id;
        let account_id = match &write.existing {
            Some(row) => row.account_id,
            None => write
                .doc
                .kind()
                .account_of(id, &write.doc.to_json())
                .ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("record {id} names no account"))
                })?,
        };
        appends.push(log::Append {
            id,
            kind: write.doc.kind(),
            account_id,
            is_new: write.existing.is_none(),
            heads: write.doc.automerge_mut().get_heads(),
            snapshot: write.snapshot.take(),
            entries: write
                .changes
                .iter_mut()
                .map(|change| log::NewEntry {
                    bytes: std::mem::take(&mut change.bytes),
                    user_id: change.meta.user.map(|u| u.0),
                    device_id: change.meta.device.clone(),
                    origin_session: change.origin,
                })
                .collect(),
        });
    }
    let account_ids: Vec<Uuid> = appends.iter().map(|append| append.account_id).collect();
    let versions = log::append(conn, appends, now).await?;
    let mut entries = Vec::new();
    for ((write, version), account_id) in writes.iter_mut().zip(&versions).zip(account_ids) {
        let kind = write.doc.kind().as_str();
        let mut seq = version - i64::try_from(write.changes.len()).map_err(ApiError::internal)?;
        for change in write.changes.iter_mut() {
            seq += 1;
            let (what, fields, field_changes) = change
                .entry
                .take()
                .into_columns()
                .map_err(ApiError::internal)?;
            entries.push(timeline_entry::ActiveModel {
                seq: Set(seq),
                account_id: Set(account_id),
                record_id: Set(write.id),
                record_kind: Set(kind.to_owned()),
                user_id: Set(change.meta.user.map(|u| u.0)),
                device_id: Set(change.meta.device.clone()),
                at: Set(now),
                device_time: Set(change.device_time),
                what: Set(what.to_owned()),
                fields: Set(fields),
                changes: Set(field_changes),
            });
        }
    }
    insert_each(conn, entries).await?;
    Ok(versions)
}

/// The rows of `ids` in `E`, by id, in one query (none when none are asked).
pub async fn rows_by_id<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    id_column: E::Column,
    ids: Vec<Uuid>,
    id_of: impl Fn(&E::Model) -> Uuid,
) -> ApiResult<HashMap<Uuid, E::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(E::find()
        .filter(id_column.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|row| (id_of(&row), row))
        .collect())
}

/// A record to materialize: its document as stored, and its row before.
pub struct Materialize<'a, Row> {
    /// The record's id.
    pub id: Uuid,
    /// Its document.
    pub doc: &'a RecordDoc,
    /// The version just stored.
    pub version: i64,
    /// Who made the change, from where, when.
    pub meta: &'a ChangeMeta,
    /// Its row before (`None`: a new record).
    pub previous: Option<&'a Row>,
}

/// Takes the optional client-chosen `id` out of a new record's body; makes
/// a UUIDv7 when there is none.
pub fn take_id(body: &mut serde_json::Map<String, serde_json::Value>) -> ApiResult<Uuid> {
    match body.remove("id") {
        None | Some(serde_json::Value::Null) => Ok(Uuid::now_v7()),
        Some(serde_json::Value::String(text)) => Uuid::parse_str(&text)
            .map_err(|_| ApiError::invalid_field("id", "invalid_value", "not a UUID")),
        Some(_) => Err(ApiError::invalid_field("id", "invalid_value", "not a UUID")),
    }
}

/// A change the caller made but may not, and the value that undoes it.
pub struct Refusal {
    /// The top-level field.
    pub field: &'static str,
    /// The value that restores what the field was (JSON `null`: absent).
    pub restore: serde_json::Value,
    /// Why, as the REST API answers it.
    pub error: ApiError,
}

/// What the server makes of a new version of a record: the fields it keeps
/// itself, and the changes it refuses. The REST API answers the first
/// refusal as an error; sync merges the device's changes and then undoes the
/// refused ones with a compensating server change, so every replica converges.
#[derive(Default)]
pub struct Review {
    /// Fields the server sets (the owner's team, a confirmed tier's proposal cleared).
    pub derived: serde_json::Map<String, serde_json::Value>,
    /// Changes refused, with the values that undo them.
    pub refusals: Vec<Refusal>,
}

impl Review {
    /// Notes a field the server sets.
    pub fn derive(&mut self, field: &str, value: serde_json::Value) {
        self.derived.insert(field.to_owned(), value);
    }

    /// Notes a refused change.
    pub fn refuse(&mut self, field: &'static str, restore: serde_json::Value, error: ApiError) {
        self.refusals.push(Refusal {
            field,
            restore,
            error,
        });
    }

    /// For the REST API: the derived fields, or the first refusal as the error.
    pub fn into_result(self) -> ApiResult<serde_json::Map<String, serde_json::Value>> {
        match self.refusals.into_iter().next() {
            Some(refusal) => Err(refusal.error),
            None => Ok(self.derived),
        }
    }

    /// The merge patch that sets the derived fields and undoes the refusals.
    pub fn correction(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut patch = self.derived.clone();
        for refusal in &self.refusals {
            patch.insert(refusal.field.to_owned(), refusal.restore.clone());
        }
        patch
    }
}

/// A record with some top-level fields replaced (`null` clears one).
pub fn with_fields<R: kam_sync_core::Record>(
    record: &R,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> ApiResult<R> {
    let value = serde_json::to_value(record).map_err(ApiError::internal)?;
    Ok(kam_sync_core::parse_record(with_json_fields(
        &value, fields,
    ))?)
}

/// A record's JSON with some top-level fields replaced (`null` clears one).
pub fn with_json_fields(
    record: &serde_json::Value,
    fields: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Value {
    let mut object = record.as_object().cloned().unwrap_or_default();
    for (field, value) in fields {
        if value.is_null() {
            object.remove(field);
        } else {
            object.insert(field.clone(), value.clone());
        }
    }
    serde_json::Value::Object(object)
}

/// Years a date of a plain-row record may fall in: wide enough for any
/// contract or target, narrow enough that every engine stores the date and
/// a period starting in the last year still ends within the calendar.
pub const DATE_YEARS: std::ops::RangeInclusive<i32> = 1900..=9998;

/// Refuses a date outside [`DATE_YEARS`] (422 `out_of_range`).
pub fn check_date(field: &str, day: chrono::NaiveDate) -> ApiResult<()> {
    use chrono::Datelike;
    if DATE_YEARS.contains(&day.year()) {
        Ok(())
    } else {
        Err(ApiError::invalid_field(
            field,
            "out_of_range",
            format!(
                "a date in the years {} to {}",
                DATE_YEARS.start(),
                DATE_YEARS.end()
            ),
        ))
    }
}

/// Refuses a currency code of a plain-row record that is not ISO 4217's
/// shape, three capital letters (422 `invalid_currency` on `field`).
pub fn check_currency(field: &str, code: &str) -> ApiResult<()> {
    kam_sync_core::money::Currency::try_from(code.to_owned())
        .map(drop)
        .map_err(|rule| ApiError::invalid_field(field, "invalid_currency", rule))
}

/// What a writer holds a change to: the version it last read (HTTP's
/// `If-Match`, which the edge reads into this), or any version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Whatever the version (`If-Match: *`).
    Any,
    /// One of these versions (a list of ETags; none when none of them
    /// names a version).
    OneOf(Vec<i64>),
}

/// Refuses (412 `precondition_failed`) a change held to a precondition
/// that the record's current `version` does not meet; no precondition, no
/// refusal.
pub fn check_precondition(precondition: Option<&Precondition>, version: i64) -> ApiResult<()> {
    match precondition {
        None | Some(Precondition::Any) => Ok(()),
        Some(Precondition::OneOf(versions)) if versions.contains(&version) => Ok(()),
        Some(Precondition::OneOf(_)) => Err(ApiError::new(
            ErrorCode::PreconditionFailed,
            format!("the record changed; it is now at version {version} (ETag \"{version}\")"),
        )),
    }
}
