//! Server-wide values shared by every server process: the JWT key (made
//! once), the change-log horizon (moved by compaction).

use sea_orm::entity::prelude::*;

/// A row of `server_values`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "server_values")]
pub struct Model {
    /// Name.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Value.
    pub value: String,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
