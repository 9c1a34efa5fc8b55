//! Record storage. Each record is an Automerge document kept as a compacted
//! snapshot plus the changes logged since; every change also goes to the
//! global change log (from which devices pull) and re-materializes the
//! record's relational row, all in one transaction.

pub mod accounts;
pub mod page;
pub mod visits;

use crate::entities::{doc_change, document};
use crate::error::{ApiError, ApiResult};
use automerge::ChangeHash;
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

/// A document as loaded for reading or changing.
pub struct Loaded {
    /// Its storage row.
    pub row: document::Model,
    /// The document.
    pub doc: RecordDoc,
    /// Its heads when loaded: what a change is saved after.
    pub heads: Vec<ChangeHash>,
}

/// Loads a document; with `lock`, holds its row until the transaction ends
/// (PostgreSQL `FOR UPDATE`; SQLite writers are already serialized).
pub async fn load(conn: &impl ConnectionTrait, id: Uuid, lock: bool) -> ApiResult<Option<Loaded>> {
    let mut query = document::Entity::find_by_id(id);
    if lock && conn.get_database_backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(conn).await? else {
        return Ok(None);
    };
    let kind = RecordKind::parse(&row.kind).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "document {id} has unknown kind {}",
            row.kind
        ))
    })?;
    let mut doc = RecordDoc::load(kind, &row.snapshot).map_err(ApiError::internal)?;
    let chunks = doc_change::Entity::find()
        .select_only()
        .column(doc_change::Column::Bytes)
        .filter(doc_change::Column::DocId.eq(id))
        .filter(doc_change::Column::Seq.gt(row.snapshot_seq))
        .order_by_asc(doc_change::Column::Seq)
        .into_tuple::<Vec<u8>>()
        .all(conn)
        .await?;
    for chunk in chunks {
        doc.automerge_mut()
            .load_incremental(&chunk)
            .map_err(ApiError::internal)?;
    }
    let heads = doc.automerge_mut().get_heads();
    Ok(Some(Loaded { row, doc, heads }))
}

/// Logs what `doc` gained since `heads_before` as one change-log entry and
/// keeps the snapshot current. Returns the entry's sequence number, or `None`
/// when the document did not change.
pub async fn store(
    conn: &impl ConnectionTrait,
    id: Uuid,
    existing: Option<&document::Model>,
    doc: &mut RecordDoc,
    heads_before: &[ChangeHash],
    meta: &ChangeMeta,
) -> ApiResult<Option<i64>> {
    if doc.automerge_mut().get_heads() == heads_before {
        return Ok(None);
    }
    let now = Utc::now();
    let bytes = doc.automerge_mut().save_after(heads_before);
    if existing.is_none() {
        document::ActiveModel {
            id: Set(id),
            kind: Set(doc.kind().as_str().to_owned()),
            snapshot: Set(Vec::new()),
            snapshot_seq: Set(0),
            changes_since_snapshot: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(conn)
        .await?;
    }
    let seq = doc_change::ActiveModel {
        seq: sea_orm::NotSet,
        doc_id: Set(id),
        kind: Set(doc.kind().as_str().to_owned()),
        bytes: Set(bytes),
        user_id: Set(meta.user.map(|u| u.0)),
        device_id: Set(meta.device.clone()),
        created_at: Set(now),
    }
    .insert(conn)
    .await?
    .seq;
    let compact = existing.is_none_or(|row| row.changes_since_snapshot + 1 >= COMPACT_AFTER);
    let mut update = document::Entity::update_many()
        .col_expr(document::Column::UpdatedAt, Expr::value(now))
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
            Expr::col(document::Column::ChangesSinceSnapshot).add(1),
        )
    };
    update.exec(conn).await?;
    Ok(Some(seq))
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
