//! The change log: every change to every document, in one global sequence
//! of positions (table `doc_changes`), and its head (the last position
//! given out, table `feed_head`). Writers append what documents gained
//! ([`append`]) at positions taken from the head ([`take_positions`]);
//! pulls and the timeline backfill read entries back ([`entries_after`]);
//! [`compact`] folds the entries behind a horizon into the documents'
//! snapshots and deletes them, so the log holds only what devices still
//! pull incrementally. A device whose cursor is older than the horizon gets
//! whole documents instead.

use super::{DocMeta, load};
use crate::cache::DocCache;
use crate::db::{Db, insert_each};
use crate::entities::{doc_change, document, feed_head, server_value};
use crate::error::{ApiError, ApiResult};
use anyhow::Context;
use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use kam_sync_core::RecordKind;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Entries after which a document's snapshot is rewritten, so that loading
/// a document reads one snapshot and at most this many small entries,
/// whatever the length of its history.
pub const COMPACT_AFTER: i32 = 32;

/// The `server_values` row that holds the horizon (named when the change
/// log was called the feed; stored, so it keeps the name).
const HORIZON: &str = "feed_horizon";

/// Whether storing `added` change sets into a document whose row was
/// `existing` (`None`: a new document) rewrites its snapshot.
pub fn needs_snapshot(existing: Option<&DocMeta>, added: usize) -> bool {
    existing.is_none_or(|row| {
        i64::from(row.changes_since_snapshot).saturating_add(added as i64)
            >= i64::from(COMPACT_AFTER)
    })
}

/// What one document gained, to append to the change log.
pub struct Append {
    /// The record's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: RecordKind,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// Whether the document is new (else its row exists).
    pub is_new: bool,
    /// Its heads after the changes.
    pub heads: Vec<ChangeHash>,
    /// Its `save()` when storing rewrites its snapshot (see
    /// [`needs_snapshot`]); always for a new document.
    pub snapshot: Option<Vec<u8>>,
    /// The entries, in order; at least one.
    pub entries: Vec<NewEntry>,
}

/// One change-log entry to append: a change set and who made it.
pub struct NewEntry {
    /// Automerge changes (`save_after` output).
    pub bytes: Vec<u8>,
    /// The user whose session made them; `None` for the server.
    pub user_id: Option<Uuid>,
    /// The device they came from.
    pub device_id: String,
    /// The session of a device whose pushed changes these are (its pulls
    /// skip them); `None` for changes the server made.
    pub origin_session: Option<Uuid>,
}

/// Appends each document's entries to the change log at consecutive
/// positions (taken first, all at once: see [`take_positions`], so every
/// row is written with its final values and no row is revisited) and keeps
/// the document's row, heads and snapshot current. Returns each document's
/// new version (the position of its last entry), in order; its entries
/// hold the positions just before it.
pub async fn append(
    conn: &impl ConnectionTrait,
    documents: Vec<Append>,
    now: DateTime<Utc>,
) -> ApiResult<Vec<i64>> {
    let total: usize = documents.iter().map(|doc| doc.entries.len()).sum();
    if documents.iter().any(|doc| doc.entries.is_empty()) {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a document is stored with no change"
        )));
    }
    if total == 0 {
        return Ok(Vec::new());
    }
    let count = i64::try_from(total).map_err(ApiError::internal)?;
    let mut next = take_positions(conn, count).await? - count + 1;
    let mut new_documents = Vec::new();
    let mut log_rows = Vec::with_capacity(total);
    let mut updates = Vec::new();
    let mut versions = Vec::with_capacity(documents.len());
    for Append {
        id,
        kind,
        account_id,
        is_new,
        heads,
        snapshot,
        entries,
    } in documents
    {
        let kind = kind.as_str().to_owned();
        let heads = serde_json::to_value(heads.iter().map(ToString::to_string).collect::<Vec<_>>())
            .map_err(ApiError::internal)?;
        let added = i32::try_from(entries.len()).unwrap_or(i32::MAX);
        for entry in entries {
            log_rows.push(doc_change::ActiveModel {
                seq: Set(next),
                doc_id: Set(id),
                kind: Set(kind.clone()),
                bytes: Set(entry.bytes),
                user_id: Set(entry.user_id),
                device_id: Set(entry.device_id),
                origin_session: Set(entry.origin_session),
                created_at: Set(now),
            });
            next += 1;
        }
        let version = next - 1;
        versions.push(version);
        if is_new {
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
        } else {
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
    insert_each(conn, new_documents).await?;
    insert_each(conn, log_rows).await?;
    for update in updates {
        update.exec(conn).await?;
    }
    Ok(versions)
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
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("the change log's head row is missing")))
}

/// The last change-log position committed, as the connection's snapshot
/// sees it.
pub async fn head(conn: &impl ConnectionTrait) -> ApiResult<i64> {
    Ok(feed_head::Entity::find_by_id(feed_head::ROW)
        .one(conn)
        .await?
        .map_or(0, |row| row.seq))
}

/// A change-log entry as it is read back.
#[derive(Debug, FromQueryResult)]
pub struct Entry {
    /// Its position.
    pub seq: i64,
    /// The document it changed.
    pub doc_id: Uuid,
    /// Automerge changes (`save_after` output).
    pub bytes: Vec<u8>,
    /// The user whose session made them; `None` for the server.
    pub user_id: Option<Uuid>,
    /// The device they came from.
    pub device_id: String,
    /// The session that pushed them through sync, if one did.
    pub origin_session: Option<Uuid>,
    /// When they were stored.
    pub created_at: DateTime<Utc>,
}

/// The entries of document `doc_id` after position `after` still in the
/// log (those behind the horizon are gone), in order.
pub async fn entries_after(
    conn: &impl ConnectionTrait,
    doc_id: Uuid,
    after: i64,
) -> ApiResult<Vec<Entry>> {
    Ok(entries_query()
        .filter(doc_change::Column::DocId.eq(doc_id))
        .filter(doc_change::Column::Seq.gt(after))
        .order_by_asc(doc_change::Column::Seq)
        .into_model()
        .all(conn)
        .await?)
}

/// The entries of each of `doc_ids` after position `after` still in the
/// log, in order per document: one statement per [`super::IN_LIST_CHUNK`]
/// documents, whatever their number (a pull page's read).
pub async fn entries_after_many(
    conn: &impl ConnectionTrait,
    doc_ids: &[Uuid],
    after: i64,
) -> ApiResult<HashMap<Uuid, Vec<Entry>>> {
    let mut entries: HashMap<Uuid, Vec<Entry>> = HashMap::with_capacity(doc_ids.len());
    for chunk in doc_ids.chunks(super::IN_LIST_CHUNK) {
        let rows: Vec<Entry> = entries_query()
            .filter(doc_change::Column::DocId.is_in(chunk.iter().copied()))
            .filter(doc_change::Column::Seq.gt(after))
            .order_by_asc(doc_change::Column::Seq)
            .into_model()
            .all(conn)
            .await?;
        for entry in rows {
            entries.entry(entry.doc_id).or_default().push(entry);
        }
    }
    Ok(entries)
}

fn entries_query() -> sea_orm::Select<doc_change::Entity> {
    doc_change::Entity::find()
        .select_only()
        .column(doc_change::Column::Seq)
        .column(doc_change::Column::DocId)
        .column(doc_change::Column::Bytes)
        .column(doc_change::Column::UserId)
        .column(doc_change::Column::DeviceId)
        .column(doc_change::Column::OriginSession)
        .column(doc_change::Column::CreatedAt)
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// Log positions up to here are gone from the log.
    pub horizon: i64,
    /// Snapshots rewritten.
    pub snapshots: u64,
    /// Log rows deleted.
    pub deleted: u64,
}

/// The horizon: cursors at or before it cannot be served from the log.
pub async fn horizon(conn: &impl ConnectionTrait) -> anyhow::Result<i64> {
    Ok(server_value::Entity::find_by_id(HORIZON.to_owned())
        .one(conn)
        .await?
        .and_then(|row| row.value.parse().ok())
        .unwrap_or(0))
}

/// Keeps the newest `keep` log positions and folds the rest into snapshots.
pub async fn compact(db: &Db, cache: &DocCache, keep: i64) -> anyhow::Result<Compaction> {
    let conn = db.conn();
    let head = head(conn)
        .await
        .map_err(|err| anyhow::anyhow!("cannot read the change log's head: {err}"))?;
    let target = head - Ord::max(keep, 0);
    let current = horizon(conn).await?;
    if target <= current {
        return Ok(Compaction {
            horizon: current,
            snapshots: 0,
            deleted: 0,
        });
    }
    let stale: Vec<Uuid> = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .filter(document::Column::SnapshotSeq.lt(target))
        .filter(Expr::col(document::Column::LastSeq).gt(Expr::col(document::Column::SnapshotSeq)))
        .into_tuple()
        .all(conn)
        .await?;
    let mut snapshots = 0;
    for id in stale {
        let txn = db.begin_write().await?;
        let Some(mut loaded) = load(&txn, cache, id, true)
            .await
            .map_err(|err| anyhow::anyhow!("cannot load {id}: {err}"))?
        else {
            continue;
        };
        document::Entity::update_many()
            .col_expr(
                document::Column::Snapshot,
                Expr::value(loaded.doc.automerge_mut().save()),
            )
            .col_expr(
                document::Column::SnapshotSeq,
                Expr::value(loaded.row.last_seq),
            )
            .col_expr(document::Column::ChangesSinceSnapshot, Expr::value(0))
            .filter(document::Column::Id.eq(id))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        cache.put(id, loaded.doc.into_automerge(), loaded.row.last_seq);
        snapshots += 1;
    }
    let txn = db.begin_write().await?;
    server_value::Entity::insert(server_value::ActiveModel {
        name: Set(HORIZON.into()),
        value: Set(target.to_string()),
    })
    .on_conflict(
        sea_orm::sea_query::OnConflict::column(server_value::Column::Name)
            .update_column(server_value::Column::Value)
            .to_owned(),
    )
    .exec(&txn)
    .await
    .context("cannot move the horizon")?;
    let deleted = doc_change::Entity::delete_many()
        .filter(doc_change::Column::Seq.lte(target))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    tracing::info!(
        horizon = target,
        snapshots,
        deleted,
        "compacted the change log"
    );
    Ok(Compaction {
        horizon: target,
        snapshots,
        deleted,
    })
}
