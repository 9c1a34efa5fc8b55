//! The store of synced records: the only code that reads or writes their
//! documents (`documents`, here), the change log and its head ([`log`]), and
//! the scope history of accounts ([`scope`]). Each synced record is an
//! Automerge document kept as a compacted snapshot plus the change-log
//! entries after it; [`load_many`] puts them together (through the
//! [`DocCache`]), [`log::append`] stores what documents gained, and
//! [`log::compact`] folds old entries into the snapshots. The write path
//! (`records::write`) decides what to store; pull, the timeline backfill
//! and the tools read through here.

pub mod log;
pub mod scope;

use crate::cache::DocCache;
use crate::entities::{doc_change, document};
use crate::error::{ApiError, ApiResult};
use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use kam_sync_core::{RecordDoc, RecordKind};
use sea_orm::sea_query::SelectStatement;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Ids per `IN (...)` list: far below both engines' limits on bound
/// parameters.
pub const IN_LIST_CHUNK: usize = 1_000;

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
/// change-log entries after it. With `lock`, as [`find`].
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
/// does not hold, and the change-log entries after each document's
/// snapshot or cached version. Decoding runs on the CPU pool
/// ([`crate::cpu`]), off the async workers.
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
    let mut log_entries: Vec<(Uuid, Vec<u8>)> = Vec::new();
    if !behind.is_empty() {
        let mut condition = Condition::any();
        for (id, after) in &behind {
            condition = condition.add(
                Condition::all()
                    .add(doc_change::Column::DocId.eq(*id))
                    .add(doc_change::Column::Seq.gt(*after)),
            );
        }
        log_entries = doc_change::Entity::find()
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
    let decoding = !snapshots.is_empty() || !log_entries.is_empty();
    let mut docs: HashMap<Uuid, RecordDoc> =
        cached.into_iter().map(|(id, (doc, _))| (id, doc)).collect();
    let decode = move || -> ApiResult<Vec<(Uuid, RecordDoc, Vec<ChangeHash>)>> {
        for (id, kind, snapshot) in snapshots {
            docs.insert(
                id,
                RecordDoc::load(kind, &snapshot).map_err(ApiError::internal)?,
            );
        }
        for (id, bytes) in log_entries {
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

/// A document's place in the change log and its heads, as a pull reports
/// them.
#[derive(Debug, sea_orm::FromQueryResult)]
pub struct DocHeads {
    /// The record's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// Change-log position of its last change.
    pub last_seq: i64,
    /// Its heads after that change (a JSON array of hashes).
    pub heads: serde_json::Value,
}

impl DocHeads {
    /// The heads as hex strings (none if the stored value is unreadable).
    pub fn heads(&self) -> Vec<String> {
        serde_json::from_value(self.heads.clone()).unwrap_or_default()
    }
}

fn doc_heads_query(visible_accounts: Option<SelectStatement>) -> sea_orm::Select<document::Entity> {
    let query = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .column(document::Column::Kind)
        .column(document::Column::AccountId)
        .column(document::Column::LastSeq)
        .column(document::Column::Heads);
    match visible_accounts {
        Some(visible) => query.filter(document::Column::AccountId.in_subquery(visible)),
        None => query,
    }
}

/// At most `limit` documents whose last change lies after position `after`,
/// in the order of their last change, under the accounts `visible_accounts`
/// selects (`None`: all): one page of a pull.
pub async fn heads_changed_after(
    conn: &impl ConnectionTrait,
    after: i64,
    visible_accounts: Option<SelectStatement>,
    limit: u64,
) -> ApiResult<Vec<DocHeads>> {
    Ok(doc_heads_query(visible_accounts)
        .filter(document::Column::LastSeq.gt(after))
        .order_by_asc(document::Column::LastSeq)
        .limit(limit)
        .into_model()
        .all(conn)
        .await?)
}

/// The documents under `accounts` or among `ids`, under the accounts
/// `visible_accounts` selects (`None`: all), in one statement.
pub async fn heads_under_accounts_or_of(
    conn: &impl ConnectionTrait,
    accounts: &[Uuid],
    ids: &[Uuid],
    visible_accounts: Option<SelectStatement>,
) -> ApiResult<Vec<DocHeads>> {
    Ok(doc_heads_query(visible_accounts)
        .filter(
            Condition::any()
                .add(document::Column::AccountId.is_in(accounts.iter().copied()))
                .add(document::Column::Id.is_in(ids.iter().copied())),
        )
        .into_model()
        .all(conn)
        .await?)
}

/// A stored document as the timeline backfill reads it.
#[derive(Debug, sea_orm::FromQueryResult)]
pub struct StoredDocument {
    /// The record's id.
    pub id: Uuid,
    /// Its kind.
    pub kind: String,
    /// The account it belongs to.
    pub account_id: Uuid,
    /// Change-log position of its last change.
    pub last_seq: i64,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
}

/// Every stored document, without its snapshot.
pub async fn all_documents(conn: &impl ConnectionTrait) -> ApiResult<Vec<StoredDocument>> {
    Ok(document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .column(document::Column::Kind)
        .column(document::Column::AccountId)
        .column(document::Column::LastSeq)
        .column(document::Column::CreatedAt)
        .into_model()
        .all(conn)
        .await?)
}
