//! The resource requests (资源支持) of account plans, one row each,
//! rewritten with their plan.

use sea_orm::entity::prelude::*;

/// A row of `plan_resources`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_resources")]
pub struct Model {
    /// The plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub plan_id: Uuid,
    /// The request's id inside its plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The plan's account.
    pub account_id: Uuid,
    /// The plan's owner, who asks.
    pub owner_id: Uuid,
    /// Resource kind code.
    pub kind: String,
    /// What exactly, and why.
    pub description: String,
    /// What it costs, in minor units of `currency`.
    pub amount_minor: Option<i64>,
    /// The plan's currency.
    pub currency: String,
    /// Decision code.
    pub status: String,
    /// The plan's last change: the request was made then or before.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
