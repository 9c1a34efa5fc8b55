//! Open warnings on accounts, one row per account and signal.

use sea_orm::entity::prelude::*;

/// A row of `account_warnings`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "account_warnings")]
pub struct Model {
    /// The account.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: Uuid,
    /// The signal's code.
    #[sea_orm(primary_key, auto_increment = false)]
    pub code: String,
    /// `info`, `warning` or `critical`.
    pub severity: String,
    /// Since when the signal holds.
    pub since: DateTimeUtc,
    /// When the server first raised it (it stays while the signal holds).
    pub raised_at: DateTimeUtc,
    /// What it says, in English.
    pub detail: String,
    /// The records that show it.
    pub evidence: Json,
}

/// No relations are navigated.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
