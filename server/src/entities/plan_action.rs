//! The actions of account plans, one row each, rewritten with their plan.

use sea_orm::entity::prelude::*;

/// A row of `plan_actions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_actions")]
pub struct Model {
    /// The plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub plan_id: Uuid,
    /// The action's id inside its plan.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The plan's account.
    pub account_id: Uuid,
    /// The action's owner, else the plan's.
    pub owner_id: Uuid,
    /// Due date.
    pub due_on: Option<Date>,
    /// Status code.
    pub status: String,
    /// What to do.
    pub text: String,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
