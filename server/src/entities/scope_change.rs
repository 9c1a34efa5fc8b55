//! The scope history of accounts: who could see each account from which
//! change-log position on, so a pull can tell which accounts entered or left
//! a user's scope since the device's cursor.

use sea_orm::entity::prelude::*;

/// A row of `scope_changes`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "scope_changes")]
pub struct Model {
    /// The account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    /// The change-log position from which this scope holds.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    /// Owner.
    pub owner_id: Uuid,
    /// Owner's team.
    pub team_id: Option<Uuid>,
    /// The team's branch.
    pub branch_id: Option<Uuid>,
    /// Users the account is shared with (JSON array of ids).
    pub shared_with: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
