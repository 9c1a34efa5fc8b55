//! Materialized accounts: typed, indexed columns for lists and filters, and the full API view.

use sea_orm::entity::prelude::*;

/// A row of `accounts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Lower-cased name, for search.
    pub name_search: String,
    /// Segment code.
    pub segment: String,
    /// Confirmed tier.
    pub tier: Option<String>,
    /// Proposed tier.
    pub proposed_tier: Option<String>,
    /// Lifecycle stage.
    pub stage: String,
    /// The weighted score, 0-100 (made by the `tiering` module); none without scores.
    pub score: Option<i64>,
    /// The tier the score suggests.
    pub suggested_tier: Option<String>,
    /// Owner.
    pub owner_id: Uuid,
    /// Owner's team.
    pub team_id: Option<Uuid>,
    /// The team's branch.
    pub branch_id: Option<Uuid>,
    /// When its last effective visit was checked in.
    pub last_visit_at: Option<DateTimeUtc>,
    /// When its next visit is due under its tier's cadence.
    pub next_visit_due: Option<DateTimeUtc>,
    /// Health, 0-100, from its open warnings.
    pub health: Option<i64>,
    /// The band its health falls in.
    pub health_band: Option<String>,
    /// When the server proposed moving it to `at_risk`, while the proposal waits.
    pub at_risk_proposed_at: Option<DateTimeUtc>,
    /// The warning codes a manager last turned an at-risk proposal down for, comma-separated.
    pub at_risk_dismissed: Option<String>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Change-log position of the last change.
    pub version: i64,
    /// The API view (`AccountView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
