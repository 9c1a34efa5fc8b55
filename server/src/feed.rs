//! Change-log compaction. Every change stays in its document's snapshot;
//! the log rows behind a horizon are folded into the snapshots and deleted,
//! so the log holds only what devices still pull incrementally. A device
//! whose cursor is older than the horizon gets whole documents instead.

use crate::cache::DocCache;
use crate::db::Db;
use crate::entities::{doc_change, document, server_value};
use crate::records;
use anyhow::Context;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

const HORIZON: &str = "feed_horizon";

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
    let head = records::feed_head(conn)
        .await
        .map_err(|err| anyhow::anyhow!("cannot read the feed head: {err}"))?;
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
        let Some(mut loaded) = records::load(&txn, cache, id, true)
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
