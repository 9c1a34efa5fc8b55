//! Which managers lead which teams (a manager may lead several).

use sea_orm::entity::prelude::*;

/// A row of `team_managers`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "team_managers")]
pub struct Model {
    /// The team.
    #[sea_orm(primary_key, auto_increment = false)]
    pub team_id: Uuid,
    /// The manager.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
