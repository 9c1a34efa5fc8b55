//! Record storage. Each record is an Automerge document kept as a compacted
//! snapshot plus the changes logged since; every change also goes to the
//! global change log (from which devices pull) and re-materializes the
//! record's relational row, all in one transaction.

pub mod accounts;
pub mod cache;
pub mod page;
pub mod visits;

use crate::entities::{doc_change, document};
use crate::error::{ApiError, ApiResult};
use automerge::ChangeHash;
use cache::DocCache;
use chrono::Utc;
use kam_sync_core::{ChangeMeta, RecordDoc, RecordKind};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
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
    let mut query = document::Entity::find_by_id(id)
        .select_only()
        .column(document::Column::Id)
        .column(document::Column::Kind)
        .column(document::Column::AccountId)
        .column(document::Column::LastSeq)
        .column(document::Column::SnapshotSeq)
        .column(document::Column::ChangesSinceSnapshot);
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    Ok(query.into_model::<DocMeta>().one(conn).await?)
}

async fn chunks_after(
    conn: &impl ConnectionTrait,
    id: Uuid,
    after: i64,
) -> ApiResult<Vec<Vec<u8>>> {
    Ok(doc_change::Entity::find()
        .select_only()
        .column(doc_change::Column::Bytes)
        .filter(doc_change::Column::DocId.eq(id))
        .filter(doc_change::Column::Seq.gt(after))
        .order_by_asc(doc_change::Column::Seq)
        .into_tuple::<Vec<u8>>()
        .all(conn)
        .await?)
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
    let Some(row) = find(conn, id, lock).await? else {
        return Ok(None);
    };
    let kind = RecordKind::parse(&row.kind).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "document {id} has unknown kind {}",
            row.kind
        ))
    })?;
    let (mut doc, after) = match cache.take(id) {
        Some((doc, version)) if (row.snapshot_seq..=row.last_seq).contains(&version) => {
            (RecordDoc::from_automerge(kind, doc), version)
        }
        _ => {
            let snapshot: Vec<u8> = document::Entity::find_by_id(id)
                .select_only()
                .column(document::Column::Snapshot)
                .into_tuple()
                .one(conn)
                .await?
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("document {id} vanished")))?;
            (
                RecordDoc::load(kind, &snapshot).map_err(ApiError::internal)?,
                row.snapshot_seq,
            )
        }
    };
    if after < row.last_seq {
        for chunk in chunks_after(conn, id, after).await? {
            doc.automerge_mut()
                .load_incremental(&chunk)
                .map_err(ApiError::internal)?;
        }
    }
    let heads = doc.automerge_mut().get_heads();
    Ok(Some(Loaded { row, doc, heads }))
}

/// One change-log entry to write: Automerge changes and who made them.
pub struct Chunk<'a> {
    /// `save_after` output.
    pub bytes: Vec<u8>,
    /// Who, from where, when.
    pub meta: &'a ChangeMeta,
    /// The session of a device whose pushed changes these are (its pulls
    /// skip them); `None` for changes the server made.
    pub origin: Option<Uuid>,
}

impl<'a> Chunk<'a> {
    /// What `doc` gained since `heads`, or `None` if nothing.
    pub fn since(
        doc: &mut RecordDoc,
        heads: &[ChangeHash],
        meta: &'a ChangeMeta,
        origin: Option<Uuid>,
    ) -> Option<Self> {
        let doc = doc.automerge_mut();
        (doc.get_heads() != heads).then(|| Self {
            bytes: doc.save_after(heads),
            meta,
            origin,
        })
    }
}

/// Logs `chunks` (what `doc` gained, in order) and keeps the document row,
/// its heads and its snapshot current. Returns the last entry's sequence
/// number: the record's new version.
pub async fn store(
    conn: &impl ConnectionTrait,
    id: Uuid,
    existing: Option<&DocMeta>,
    doc: &mut RecordDoc,
    chunks: Vec<Chunk<'_>>,
) -> ApiResult<i64> {
    let now = Utc::now();
    let kind = doc.kind().as_str().to_owned();
    let heads = serde_json::to_value(
        doc.automerge_mut()
            .get_heads()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
    )
    .map_err(ApiError::internal)?;
    lock_feed(conn).await?;
    if existing.is_none() {
        let account_id = doc
            .kind()
            .account_of(id, &doc.to_json())
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("record {id} names no account")))?;
        document::ActiveModel {
            id: Set(id),
            kind: Set(kind.clone()),
            account_id: Set(account_id),
            last_seq: Set(0),
            heads: Set(heads.clone()),
            snapshot: Set(Vec::new()),
            snapshot_seq: Set(0),
            changes_since_snapshot: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    let added = i32::try_from(chunks.len()).unwrap_or(i32::MAX);
    let mut seq = 0;
    for chunk in chunks {
        seq = doc_change::ActiveModel {
            seq: sea_orm::NotSet,
            doc_id: Set(id),
            kind: Set(kind.clone()),
            bytes: Set(chunk.bytes),
            user_id: Set(chunk.meta.user.map(|u| u.0)),
            device_id: Set(chunk.meta.device.clone()),
            origin_session: Set(chunk.origin),
            created_at: Set(now),
        }
        .insert(conn)
        .await?
        .seq;
    }
    let compact = existing.is_none_or(|row| row.changes_since_snapshot + added >= COMPACT_AFTER);
    let mut update = document::Entity::update_many()
        .col_expr(document::Column::UpdatedAt, Expr::value(now))
        .col_expr(document::Column::LastSeq, Expr::value(seq))
        .col_expr(document::Column::Heads, Expr::value(heads))
        .filter(document::Column::Id.eq(id));
    update = if compact {
        update
            .col_expr(
                document::Column::Snapshot,
                Expr::value(doc.automerge_mut().save()),
            )
            .col_expr(document::Column::SnapshotSeq, Expr::value(seq))
            .col_expr(document::Column::ChangesSinceSnapshot, Expr::value(0))
    } else {
        update.col_expr(
            document::Column::ChangesSinceSnapshot,
            Expr::col(document::Column::ChangesSinceSnapshot).add(added),
        )
    };
    update.exec(conn).await?;
    Ok(seq)
}

/// Stores a record made through the API: its id must be new (409
/// `already_exists` otherwise). Returns its first version.
pub async fn store_new(
    conn: &impl ConnectionTrait,
    id: Uuid,
    doc: &mut RecordDoc,
    meta: &ChangeMeta,
) -> ApiResult<i64> {
    if find(conn, id, true).await?.is_some() {
        return Err(ApiError::conflict(
            "already_exists",
            "a record with this id exists",
        ));
    }
    let chunk = Chunk::since(doc, &[], meta, None)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a new document made no change")))?;
    store(conn, id, None, doc, vec![chunk]).await
}

/// Makes change-log positions visible in the order they were taken.
///
/// On PostgreSQL a transaction that took sequence 41 can commit after one
/// that took 42; a puller that already moved past 42 would never see 41. So
/// writers take the feed lock before taking a sequence number and hold it to
/// commit: positions become visible strictly in order, and a puller may trust
/// that every position up to the highest it sees is final. Only the short
/// tail of a write (log insert, row updates, commit) is serialized; loading
/// and merging documents run in parallel. SQLite writers are serialized
/// already. See `docs/sync-protocol.md`.
async fn lock_feed(conn: &impl ConnectionTrait) -> ApiResult<()> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_unprepared("SELECT pg_advisory_xact_lock(7110731)")
            .await?;
    }
    Ok(())
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
            actix_web::http::StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            format!("the record changed; its ETag is now {}", etag(version)),
        )),
    }
}
