//! Stage history (`stage_moves`): each time an account or an opportunity
//! enters a stage, one row, written by the kind's `materialize_all` in the
//! same transaction as its row. A record's row before the write tells its
//! stage before: a new record, or a stage other than the row's, is a move.
//! Several moves merged in one write (a device offline for a week) are one
//! move from the row's stage to the document's. Each move keeps how long
//! the record spent in the stage it left, when that stage's entry is
//! recorded, so the funnel's days per stage is a plain average.

use crate::db::insert_each;
use crate::entities::stage_move;
use crate::error::ApiResult;
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use std::collections::HashMap;
use uuid::Uuid;

/// `record_kind` of an account's moves.
pub const ACCOUNT: &str = "account";
/// `record_kind` of an opportunity's moves.
pub const OPPORTUNITY: &str = "opportunity";

/// One stage entered.
pub struct Move {
    /// The account or opportunity.
    pub record_id: Uuid,
    /// Its account (itself for an account).
    pub account_id: Uuid,
    /// The stage left; `None` for a new record.
    pub from: Option<String>,
    /// The stage entered.
    pub to: String,
    /// When the server took the change.
    pub at: DateTime<Utc>,
    /// Who made it.
    pub by: Option<Uuid>,
}

impl Move {
    /// The move a write makes, if any: `before` is the stage of the
    /// record's row before it (`None`: the record is new).
    pub fn between(
        record_id: Uuid,
        account_id: Uuid,
        before: Option<&str>,
        after: &str,
        at: DateTime<Utc>,
        by: Option<Uuid>,
    ) -> Option<Self> {
        (before != Some(after)).then(|| Self {
            record_id,
            account_id,
            from: before.map(str::to_owned),
            to: after.to_owned(),
            at,
            by,
        })
    }
}

/// Writes `moves` of records of `kind`: one read of when the records with
/// a stage left entered their stages, then the rows.
pub async fn record(conn: &impl ConnectionTrait, kind: &str, moves: Vec<Move>) -> ApiResult<()> {
    let left: Vec<Uuid> = moves
        .iter()
        .filter(|m| m.from.is_some())
        .map(|m| m.record_id)
        .collect();
    let mut entered: HashMap<Uuid, DateTime<Utc>> = HashMap::new();
    if !left.is_empty() {
        let rows: Vec<(Uuid, DateTime<Utc>)> = stage_move::Entity::find()
            .select_only()
            .column(stage_move::Column::RecordId)
            .column(stage_move::Column::MovedAt)
            .filter(stage_move::Column::RecordKind.eq(kind))
            .filter(stage_move::Column::RecordId.is_in(left))
            .into_tuple()
            .all(conn)
            .await?;
        for (record, at) in rows {
            let latest = entered.entry(record).or_insert(at);
            *latest = (*latest).max(at);
        }
    }
    let rows = moves
        .into_iter()
        .map(|m| {
            let secs = m
                .from
                .as_ref()
                .and_then(|_| entered.get(&m.record_id))
                .map(|since| (m.at - *since).num_seconds().max(0));
            stage_move::ActiveModel {
                record_kind: Set(kind.to_owned()),
                record_id: Set(m.record_id),
                account_id: Set(m.account_id),
                from_stage: Set(m.from),
                to_stage: Set(m.to),
                moved_at: Set(m.at),
                moved_by: Set(m.by),
                secs_in_from_stage: Set(secs),
                ..Default::default()
            }
        })
        .collect();
    insert_each(conn, rows).await?;
    Ok(())
}
