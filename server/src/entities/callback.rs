//! Materialized callbacks.

use sea_orm::entity::prelude::*;

/// A row of `callbacks`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "callbacks")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The account.
    pub account_id: Uuid,
    /// Kind code (routine, after_sale, after_ticket).
    pub kind: String,
    /// The ticket followed up.
    pub ticket_id: Option<Uuid>,
    /// Who makes the call.
    pub owner_id: Uuid,
    /// The day it is planned for.
    pub scheduled_on: Date,
    /// Status code.
    pub status: String,
    /// When it was done.
    pub done_at: Option<DateTimeUtc>,
    /// Satisfaction, 1-5.
    pub satisfaction: Option<i64>,
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
    /// The API view (`CallbackView`).
    pub body: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
