//! Sales targets (销售目标) per period, org level, subject and metric.

use sea_orm::entity::prelude::*;

/// A row of `sales_targets`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sales_targets")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Period kind code (`year`, `quarter`, `month`).
    pub period: String,
    /// The period's first day.
    pub period_start: Date,
    /// Org level code (`org`, `branch`, `team`, `rep`).
    pub level: String,
    /// The branch, team or user; the nil UUID at the org level.
    pub subject_id: Uuid,
    /// Metric code.
    pub metric: String,
    /// Minor units (cents) for revenue, else a count.
    pub value: i64,
    /// ISO 4217 code of a revenue target; none for counts.
    pub currency: Option<String>,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Bumped on every change; its ETag.
    pub version: i64,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
