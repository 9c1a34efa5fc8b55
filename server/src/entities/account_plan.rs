//! Materialized account plans.

use sea_orm::entity::prelude::*;

/// A row of `account_plans`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "account_plans")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// Who is responsible for the plan.
    pub owner_id: Uuid,
    /// Period kind code (`year`, `quarter`, `month`).
    pub period_kind: String,
    /// The period's first day.
    pub period_start: Date,
    /// Status code (`draft`, `active`, `closed`).
    pub status: String,
    /// Title.
    pub title: String,
    /// Currency of the amounts (ISO 4217).
    pub currency: String,
    /// Resources requested and not decided, in minor units.
    pub requested_minor: i64,
    /// Resources approved, in minor units.
    pub approved_minor: i64,
    /// Resources rejected, in minor units.
    pub rejected_minor: i64,
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
    /// The API view (`AccountPlanView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
