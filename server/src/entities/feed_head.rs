//! The change log's head: one row holding the last log position given out.

use sea_orm::entity::prelude::*;

/// The only row of `feed_head`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "feed_head")]
pub struct Model {
    /// Always [`ROW`].
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// The last position given out.
    pub seq: i64,
}

/// The id of the only row.
pub const ROW: i32 = 1;

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
