//! Materialized visits.

use sea_orm::entity::prelude::*;

/// A row of `visits`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "visits")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// The rep.
    pub owner_id: Uuid,
    /// Planned time.
    pub planned_at: DateTimeUtc,
    /// Visit type code.
    pub visit_type: String,
    /// Status code.
    pub status: String,
    /// Outcome code.
    pub outcome: Option<String>,
    /// When it was checked in (the device's time).
    pub checked_in_at: Option<DateTimeUtc>,
    /// When it was checked out.
    pub checked_out_at: Option<DateTimeUtc>,
    /// Minutes from check-in to check-out.
    pub visit_minutes: Option<i64>,
    /// Whether it counts as an effective visit (有效拜访).
    pub effective: bool,
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
    /// The API view (`VisitView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
