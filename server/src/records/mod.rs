//! The records of the key-account process: one module per kind (its view,
//! rules, REST services, row mapping and reports), the layer every synced
//! kind goes through ([`kind`], [`child`]), the one write path ([`write`]),
//! and the storage of synced records below it (this file). Each synced
//! record is an Automerge document kept as a compacted snapshot plus the
//! changes logged since; every change also goes to the global change log
//! (from which devices pull) and re-materializes the record's relational
//! row, all in one transaction. Contracts and sales targets, edited only
//! online, are plain rows with a version instead ([`contracts`],
//! [`targets`]).

pub mod account_plans;
pub mod accounts;
pub mod callbacks;
pub mod child;
pub mod contacts;
pub mod contracts;
pub mod kind;
pub mod opportunities;
pub mod page;
pub mod targets;
pub mod tickets;
pub mod timeline;
pub mod totals;
pub mod visits;
pub mod write;

use crate::cache::DocCache;
use crate::entities::{doc_change, document, feed_head, timeline_entry};
use crate::error::{ApiError, ApiResult, ErrorCode};
use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use kam_sync_core::merge::{MAX_DOC_CHANGES, history_full};
use kam_sync_core::{ChangeMeta, RecordDoc, RecordKind};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;
use timeline::EntryBody;
use uuid::Uuid;

/// Logged changes after which a document's snapshot is rewritten, so that
/// loading a document reads one snapshot and at most this many small chunks,
/// whatever the length of its history.
pub const COMPACT_AFTER: i32 = 32;

/// A document's storage row, without its snapshot.
#[derive(Debug, Clone, sea_orm::FromQueryResult)]
pub struct DocMeta {
    /// The record's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// Change-log position of its last change.
    pub last_seq: i64,
    /// The last position folded into its snapshot.
    pub snapshot_seq: i64,
    /// Changes logged after the snapshot.
    pub changes_since_snapshot: i32,
}

/// A document as loaded for reading or changing.
pub struct Loaded {
    /// Its storage row.
    pub row: DocMeta,
    /// The document.
    pub doc: RecordDoc,
    /// Its heads when loaded: what a change is saved after.
    pub heads: Vec<ChangeHash>,
}

/// A document's row without its snapshot; with `lock`, holds the row until
/// the transaction ends (PostgreSQL `FOR UPDATE`; SQLite writers are already
/// serialized).
pub async fn find(conn: &impl ConnectionTrait, id: Uuid, lock: bool) -> ApiResult<Option<DocMeta>> {
    Ok(find_many(conn, &[id], lock).await?.pop())
}

/// The rows of those of `ids` that exist, in id order; with `lock`, as
/// [`find`] (rows are locked in id order, so two writers cannot deadlock).
pub async fn find_many(
    conn: &impl ConnectionTrait,
    ids: &[Uuid],
    lock: bool,
) -> ApiResult<Vec<DocMeta>> {
    let mut query = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .column(document::Column::Kind)
        .column(document::Column::AccountId)
        .column(document::Column::LastSeq)
        .column(document::Column::SnapshotSeq)
        .column(document::Column::ChangesSinceSnapshot)
        .filter(document::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(document::Column::Id);
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.into_model::<DocMeta>().all(conn).await?)
}

/// Loads a document, from the cache when it holds it (catching up on what
/// other server processes logged since), else from its snapshot and the
/// changes logged after it. With `lock`, as [`find`].
pub async fn load(
    conn: &impl ConnectionTrait,
    cache: &DocCache,
    id: Uuid,
    lock: bool,
) -> ApiResult<Option<Loaded>> {
    Ok(load_many(conn, cache, &[id], lock).await?.remove(&id))
}

/// Loads those of `ids` that exist, as [`load`] does one, in three
/// statements whatever their number: the rows, the snapshots the cache
/// does not hold, and the log entries after each document's snapshot or
/// cached version. Decoding runs on the CPU pool ([`crate::cpu`]), off the
/// async workers.
pub async fn load_many(
    conn: &impl ConnectionTrait,
    cache: &DocCache,
    ids: &[Uuid],
    lock: bool,
) -> ApiResult<HashMap<Uuid, Loaded>> {
    let rows = find_many(conn, ids, lock).await?;
    let mut cached = HashMap::with_capacity(rows.len());
    let mut uncached = Vec::new();
    for row in &rows {
        let kind = RecordKind::parse(&row.kind).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!(
                "document {} has unknown kind {}",
                row.id,
                row.kind
            ))
        })?;
        match cache.take(row.id) {
            Some((doc, version)) if (row.snapshot_seq..=row.last_seq).contains(&version) => {
                cached.insert(row.id, (RecordDoc::from_automerge(kind, doc), version));
            }
            _ => uncached.push((row.id, kind)),
        }
    }
    let mut snapshots = Vec::with_capacity(uncached.len());
    if !uncached.is_empty() {
        let mut bytes: HashMap<Uuid, Vec<u8>> = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .column(document::Column::Snapshot)
            .filter(document::Column::Id.is_in(uncached.iter().map(|(id, _)| *id)))
            .into_tuple::<(Uuid, Vec<u8>)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        for (id, kind) in uncached {
            let snapshot = bytes
                .remove(&id)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("document {id} vanished")))?;
            snapshots.push((id, kind, snapshot));
        }
    }
    let behind: Vec<(Uuid, i64)> = rows
        .iter()
        .filter_map(|row| {
            let after = cached.get(&row.id).map_or(row.snapshot_seq, |(_, v)| *v);
            (after < row.last_seq).then_some((row.id, after))
        })
        .collect();
    let mut chunks: Vec<(Uuid, Vec<u8>)> = Vec::new();
    if !behind.is_empty() {
        let mut condition = Condition::any();
        for (id, after) in &behind {
            condition = condition.add(
                Condition::all()
                    .add(doc_change::Column::DocId.eq(*id))
                    .add(doc_change::Column::Seq.gt(*after)),
            );
        }
        chunks = doc_change::Entity::find()
            .select_only()
            .column(doc_change::Column::DocId)
            .column(doc_change::Column::Bytes)
            .filter(condition)
            .order_by_asc(doc_change::Column::Seq)
            .into_tuple()
            .all(conn)
            .await?;
    }
    // Documents taken whole from the cache need no decoding.
    let decoding = !snapshots.is_empty() || !chunks.is_empty();
    let mut docs: HashMap<Uuid, RecordDoc> =
        cached.into_iter().map(|(id, (doc, _))| (id, doc)).collect();
    let decode = move || -> ApiResult<Vec<(Uuid, RecordDoc, Vec<ChangeHash>)>> {
        for (id, kind, snapshot) in snapshots {
            docs.insert(
                id,
                RecordDoc::load(kind, &snapshot).map_err(ApiError::internal)?,
            );
        }
        for (id, bytes) in chunks {
            if let Some(doc) = docs.get_mut(&id) {
                doc.automerge_mut()
                    .load_incremental(&bytes)
                    .map_err(ApiError::internal)?;
            }
        }
        Ok(docs
            .into_iter()
            .map(|(id, mut doc)| {
                let heads = doc.automerge_mut().get_heads();
                (id, doc, heads)
            })
            .collect())
    };
    let decoded = if decoding {
        crate::cpu::run(decode).await??
    } else {
        decode()?
    };
    let mut rows: HashMap<Uuid, DocMeta> = rows.into_iter().map(|row| (row.id, row)).collect();
    Ok(decoded
        .into_iter()
        .filter_map(|(id, doc, heads)| {
            let row = rows.remove(&id)?;
            Some((id, Loaded { row, doc, heads }))
        })
        .collect())
}

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
    /// Its `save()`, made off the async workers when [`needs_snapshot`]
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
        if self.snapshot.is_none() && needs_snapshot(self.existing.as_ref(), self.changes.len()) {
            self.snapshot = Some(self.doc.automerge_mut().save());
        }
    }
}

/// Whether storing `added` change sets into a document whose row was
/// `existing` (`None`: a new document) rewrites its snapshot.
pub fn needs_snapshot(existing: Option<&DocMeta>, added: usize) -> bool {
    existing.is_none_or(|row| {
        i64::from(row.changes_since_snapshot).saturating_add(added as i64)
            >= i64::from(COMPACT_AFTER)
    })
}

/// Logs what each document gained, writes each change set's timeline
/// entry, and keeps the document's row, heads and snapshot current: log
/// positions are taken first, all at once (see [`take_positions`]), so
/// every row is written with its final values and no row is revisited.
/// Returns each document's new version (the position of its last log
/// entry), in order.
async fn store_all(conn: &impl ConnectionTrait, writes: &mut [Staged]) -> ApiResult<Vec<i64>> {
    if let Some(full) = writes.iter().find(|write| {
        automerge::ReadDoc::stats(write.doc.automerge()).num_changes > MAX_DOC_CHANGES
    }) {
        return Err(history_full(full.id).into());
    }
    let total: usize = writes.iter().map(|write| write.changes.len()).sum();
    if writes.iter().any(|write| write.changes.is_empty()) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a document is stored with no change"
        )));
    }
    if total == 0 {
        return Ok(Vec::new());
    }
    let count = i64::try_from(total).map_err(ApiError::internal)?;
    let mut next = take_positions(conn, count).await? - count + 1;
    let now = Utc::now();
    let mut new_documents = Vec::new();
    let mut log_rows = Vec::with_capacity(total);
    let mut entries = Vec::with_capacity(total);
    let mut updates = Vec::new();
    let mut versions = Vec::with_capacity(writes.len());
    for write in writes.iter_mut() {
        write.make_snapshot();
        let Staged {
            id,
            existing,
            doc,
            changes,
            snapshot,
        } = write;
        let (id, existing) = (*id, existing.as_ref());
        let snapshot = snapshot.take();
        let kind = doc.kind().as_str().to_owned();
        let heads = serde_json::to_value(
            doc.automerge_mut()
                .get_heads()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
        )
        .map_err(ApiError::internal)?;
        let added = i32::try_from(changes.len()).unwrap_or(i32::MAX);
        let account_id = match existing {
            Some(row) => row.account_id,
            None => doc.kind().account_of(id, &doc.to_json()).ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!("record {id} names no account"))
            })?,
        };
        for change in changes.iter_mut() {
            let (what, fields, field_changes) = change
                .entry
                .take()
                .into_columns()
                .map_err(ApiError::internal)?;
            entries.push(timeline_entry::ActiveModel {
                seq: Set(next),
                account_id: Set(account_id),
                record_id: Set(id),
                record_kind: Set(kind.clone()),
                user_id: Set(change.meta.user.map(|u| u.0)),
                device_id: Set(change.meta.device.clone()),
                at: Set(now),
                device_time: Set(change.device_time),
                what: Set(what.to_owned()),
                fields: Set(fields),
                changes: Set(field_changes),
            });
            log_rows.push(doc_change::ActiveModel {
                seq: Set(next),
                doc_id: Set(id),
                kind: Set(kind.clone()),
                bytes: Set(std::mem::take(&mut change.bytes)),
                user_id: Set(change.meta.user.map(|u| u.0)),
                device_id: Set(change.meta.device.clone()),
                origin_session: Set(change.origin),
                created_at: Set(now),
            });
            next += 1;
        }
        let version = next - 1;
        versions.push(version);
        match existing {
            None => {
                new_documents.push(document::ActiveModel {
                    id: Set(id),
                    kind: Set(kind),
                    account_id: Set(account_id),
                    last_seq: Set(version),
                    heads: Set(heads),
                    snapshot: Set(snapshot.unwrap_or_default()),
                    snapshot_seq: Set(version),
                    changes_since_snapshot: Set(0),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
            Some(_) => {
                let update = document::Entity::update_many()
                    .col_expr(document::Column::UpdatedAt, Expr::value(now))
                    .col_expr(document::Column::LastSeq, Expr::value(version))
                    .col_expr(document::Column::Heads, Expr::value(heads))
                    .filter(document::Column::Id.eq(id));
                updates.push(match snapshot {
                    Some(snapshot) => update
                        .col_expr(document::Column::Snapshot, Expr::value(snapshot))
                        .col_expr(document::Column::SnapshotSeq, Expr::value(version))
                        .col_expr(document::Column::ChangesSinceSnapshot, Expr::value(0)),
                    None => update.col_expr(
                        document::Column::ChangesSinceSnapshot,
                        Expr::col(document::Column::ChangesSinceSnapshot).add(added),
                    ),
                });
            }
        }
    }
    insert_each(conn, new_documents).await?;
    insert_each(conn, log_rows).await?;
    insert_each(conn, entries).await?;
    for update in updates {
        update.exec(conn).await?;
    }
    Ok(versions)
}

/// Inserts `rows`, one statement each.
///
/// One statement per row, not multi-row inserts: every row count is another
/// SQL text and, on PostgreSQL, another prepared statement, and the field
/// day over TCP stored 291 documents/s with multi-row inserts against 770
/// with one row per statement (SQLite: 1,173 against 1,070, within the
/// noise). Each statement here is prepared once per connection and reused.
pub async fn insert_each<A>(conn: &impl ConnectionTrait, rows: Vec<A>) -> ApiResult<()>
where
    A: ActiveModelTrait + Send,
{
    for row in rows {
        A::Entity::insert(row).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// Inserts `rows`, one statement each, updating those that exist already.
pub async fn upsert_each<A>(
    conn: &impl ConnectionTrait,
    rows: Vec<A>,
    on_conflict: OnConflict,
) -> ApiResult<()>
where
    A: ActiveModelTrait + Send,
{
    for row in rows {
        A::Entity::insert(row)
            .on_conflict(on_conflict.clone())
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
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

/// Takes `count` change-log positions and returns the last of them.
///
/// The positions come from the `feed_head` row, whose lock a writer holds
/// until it commits. That makes positions visible in the order they were
/// taken: on PostgreSQL a transaction that took 41 could otherwise commit
/// after one that took 42, and a puller that already moved past 42 would
/// never see 41; with the lock, every position up to the highest a reader
/// sees is final. A rolled-back write gives its positions back, so the log
/// has no holes. Only the short tail of a write (log inserts, row updates,
/// commit) is serialized; loading and merging documents run in parallel.
/// SQLite writers are serialized already. See `docs/sync-protocol.md`.
async fn take_positions(conn: &impl ConnectionTrait, count: i64) -> ApiResult<i64> {
    feed_head::Entity::update_many()
        .col_expr(
            feed_head::Column::Seq,
            Expr::col(feed_head::Column::Seq).add(count),
        )
        .filter(feed_head::Column::Id.eq(feed_head::ROW))
        .exec_with_returning(conn)
        .await?
        .first()
        .map(|row| row.seq)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the feed_head row is missing")))
}

/// The last change-log position committed, as the connection's snapshot
/// sees it.
pub async fn feed_head(conn: &impl ConnectionTrait) -> ApiResult<i64> {
    Ok(feed_head::Entity::find_by_id(feed_head::ROW)
        .one(conn)
        .await?
        .map_or(0, |row| row.seq))
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

/// A strong ETag for a record version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Checks an `If-Match` header against the current version.
pub fn check_if_match(if_match: Option<&str>, version: i64) -> ApiResult<()> {
    match if_match {
        None => Ok(()),
        Some(value) if value.trim() == "*" => Ok(()),
        Some(value)
            if value
                .split(',')
                .any(|tag| tag.trim().trim_start_matches("W/") == etag(version)) =>
        {
            Ok(())
        }
        Some(_) => Err(ApiError::new(
            ErrorCode::PreconditionFailed,
            format!("the record changed; its ETag is now {}", etag(version)),
        )),
    }
}
