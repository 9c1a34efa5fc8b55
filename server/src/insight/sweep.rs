//! The insight sweep: once per interval, across every server process
//! sharing the database, refresh every account, for the signals that time
//! alone brings (a visit falling due, an SLA passing, a contract nearing
//! its end).
//!
//! The interval is cut into slots from the Unix epoch; a node claims a
//! slot by inserting its row in `insight_sweeps` (the slot is the key), so
//! of any number of nodes exactly one runs each slot, whatever their clocks
//! say within the slot. A node that stops midway leaves its row unfinished;
//! the next slot runs again from the start.

use super::{refresh, settings};
use crate::db::Db;
use crate::entities::{account, insight_sweep};
use crate::error::{ApiError, ApiResult};
use chrono::{DateTime, TimeZone, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// One run of the sweep.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SweepRun {
    /// The start of the slot it ran for.
    pub due_at: DateTime<Utc>,
    /// The node that ran it.
    pub node: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it finished; null while running, or when its node stopped midway.
    pub finished_at: Option<DateTime<Utc>>,
    /// Accounts refreshed.
    pub accounts: i64,
    /// Accounts whose insight changed.
    pub changed: i64,
}

impl From<insight_sweep::Model> for SweepRun {
    fn from(row: insight_sweep::Model) -> Self {
        Self {
            due_at: row.due_at,
            node: row.node,
            started_at: row.started_at,
            finished_at: row.finished_at,
            accounts: row.accounts,
            changed: row.changed,
        }
    }
}

/// The start of the slot `now` falls in.
pub fn slot(now: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let every = i64::try_from(interval.as_secs().max(1)).unwrap_or(i64::MAX);
    let start = now.timestamp().div_euclid(every) * every;
    Utc.timestamp_opt(start, 0).single().unwrap_or(now)
}

/// Runs the sweep of the slot `now` falls in, if no node has claimed it.
/// Returns the run when this node ran it.
pub async fn run_once(
    db: &Db,
    node: &str,
    interval: Duration,
    now: DateTime<Utc>,
) -> ApiResult<Option<SweepRun>> {
    let due_at = slot(now, interval);
    // Each statement outside a transaction takes the writer's turn like any
    // write: on SQLite a write slipping in between a transaction's read and
    // its first write fails that transaction (SQLITE_BUSY).
    let turn = db.write_guard().await;
    let claimed = insight_sweep::Entity::insert(insight_sweep::ActiveModel {
        due_at: Set(due_at),
        node: Set(node.to_owned()),
        started_at: Set(now),
        finished_at: Set(None),
        accounts: Set(0),
        changed: Set(0),
    })
    .on_conflict(
        OnConflict::column(insight_sweep::Column::DueAt)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db.conn())
    .await?;
    drop(turn);
    if claimed != 1 {
        return Ok(None);
    }
    let (accounts, changed) = refresh_all(db, now).await?;
    let finished_at = Utc::now();
    let _turn = db.write_guard().await;
    insight_sweep::Entity::update_many()
        .col_expr(
            insight_sweep::Column::FinishedAt,
            Expr::value(Some(finished_at)),
        )
        .col_expr(insight_sweep::Column::Accounts, Expr::value(accounts))
        .col_expr(insight_sweep::Column::Changed, Expr::value(changed))
        .filter(insight_sweep::Column::DueAt.eq(due_at))
        .exec(db.conn())
        .await?;
    Ok(Some(SweepRun {
        due_at,
        node: node.to_owned(),
        started_at: now,
        finished_at: Some(finished_at),
        accounts,
        changed,
    }))
}

/// Refreshes every account at `now`, one write transaction per batch so
/// that writers wait for one batch at most. Returns how many accounts were
/// refreshed and how many changed.
pub async fn refresh_all(db: &Db, now: DateTime<Utc>) -> ApiResult<(i64, i64)> {
    let mut after: Option<Uuid> = None;
    let (mut accounts, mut changed) = (0i64, 0i64);
    loop {
        let mut query = account::Entity::find()
            .select_only()
            .column(account::Column::Id)
            .filter(account::Column::Deleted.eq(false))
            .order_by_asc(account::Column::Id)
            .limit(refresh::BATCH as u64);
        if let Some(last) = after {
            query = query.filter(account::Column::Id.gt(last));
        }
        let ids: Vec<Uuid> = query.into_tuple().all(db.conn()).await?;
        let Some(last) = ids.last() else {
            return Ok((accounts, changed));
        };
        after = Some(*last);
        let txn = db.begin_write().await?;
        let settings = settings::current(&txn).await?.settings;
        let (_, batch_changed) =
            refresh::accounts(&txn, &settings, &ids, refresh::Locking::SkipLocked, now).await?;
        txn.commit().await?;
        accounts += i64::try_from(ids.len()).map_err(ApiError::internal)?;
        changed += i64::try_from(batch_changed).map_err(ApiError::internal)?;
    }
}

/// The latest runs, newest first (at most `limit`).
pub async fn recent(db: &Db, limit: u64) -> ApiResult<Vec<SweepRun>> {
    Ok(insight_sweep::Entity::find()
        .order_by_desc(insight_sweep::Column::DueAt)
        .limit(limit)
        .all(db.conn())
        .await?
        .into_iter()
        .map(SweepRun::from)
        .collect())
}

/// Runs the sweep in the background for as long as the process lives: at
/// each slot's start (and once at start-up, for the slot it starts in).
pub fn spawn(db: Db, interval: Duration) -> tokio::task::JoinHandle<()> {
    let node = format!("{}", Uuid::now_v7());
    tokio::spawn(async move {
        loop {
            let now = Utc::now();
            match run_once(&db, &node, interval, now).await {
                Ok(Some(run)) => tracing::info!(
                    accounts = run.accounts,
                    changed = run.changed,
                    due_at = %run.due_at,
                    "insight sweep ran"
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "insight sweep failed"),
            }
            let every = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::hours(1));
            let next = slot(now, interval) + every;
            let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait + Duration::from_millis(10)).await;
        }
    })
}
