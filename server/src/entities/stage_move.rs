//! Stage history: one row each time an account or an opportunity enters a
//! stage (written when its row is materialized), for the funnel and the
//! account movements in reports.

use sea_orm::entity::prelude::*;

/// A row of `stage_moves`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stage_moves")]
pub struct Model {
    /// Id, in the order the moves were written.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `account` or `opportunity`.
    pub record_kind: String,
    /// The account or opportunity.
    pub record_id: Uuid,
    /// The account (the record itself for an account).
    pub account_id: Uuid,
    /// The stage left; none when the record was new.
    pub from_stage: Option<String>,
    /// The stage entered.
    pub to_stage: String,
    /// When the server took the change that moved it.
    pub moved_at: DateTimeUtc,
    /// Who moved it.
    pub moved_by: Option<Uuid>,
    /// Seconds spent in `from_stage`, when its entry is recorded.
    pub secs_in_from_stage: Option<i64>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
