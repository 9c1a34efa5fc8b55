//! Materialized opportunities.

use sea_orm::entity::prelude::*;

/// A row of `opportunities`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "opportunities")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// The user who works the deal.
    pub owner_id: Uuid,
    /// What the deal is.
    pub name: String,
    /// Stage code.
    pub stage: String,
    /// Amount in minor units (cents) of `currency`.
    pub amount_minor: Option<i64>,
    /// ISO 4217 code.
    pub currency: String,
    /// The probability that counts, 0-100 (the stage's default when none is given).
    pub probability: i64,
    /// `amount_minor` weighted by `probability`, to the nearest cent.
    pub weighted_minor: Option<i64>,
    /// Expected close date.
    pub expected_close_on: Option<Date>,
    /// The day it closes: won or lost on that day, else the expected close date.
    pub closes_on: Option<Date>,
    /// Why it was lost (at `lost`), for ranking loss reasons.
    pub lost_reason: Option<String>,
    /// Days from its creation to the day it was won (at `won`), for the cycle time.
    pub cycle_days: Option<i64>,
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
    /// The API view (`OpportunityView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
