//! Materialized key persons.

use sea_orm::entity::prelude::*;

/// A row of `contacts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// Full name.
    pub name: String,
    /// Buying role code.
    pub buying_role: Option<String>,
    /// Attitude code.
    pub attitude: Option<String>,
    /// Influence, 1-5.
    pub influence: Option<i64>,
    /// The key person this one reports to.
    pub reports_to: Option<Uuid>,
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
    /// The API view (`ContactView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
