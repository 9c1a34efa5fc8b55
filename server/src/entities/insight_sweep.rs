//! Runs of the insight sweep, one row per interval it ran for.

use sea_orm::entity::prelude::*;

/// A row of `insight_sweeps`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "insight_sweeps")]
pub struct Model {
    /// The start of the interval the run is for: the claim (one run per interval).
    #[sea_orm(primary_key, auto_increment = false)]
    pub due_at: DateTimeUtc,
    /// The node that claimed it.
    pub node: String,
    /// When it started.
    pub started_at: DateTimeUtc,
    /// When it finished (empty while running, or if the node stopped midway).
    pub finished_at: Option<DateTimeUtc>,
    /// Accounts refreshed.
    pub accounts: i64,
    /// Accounts whose warnings or health changed.
    pub changed: i64,
}

/// No relations are navigated.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
