//! Server-wide secrets made once and shared by every server process (the JWT key).

use sea_orm::entity::prelude::*;

/// A row of `app_secrets`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "app_secrets")]
pub struct Model {
    /// Secret name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Secret value.
    pub value: String,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
