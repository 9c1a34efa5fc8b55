//! Contracts (合同): plain rows edited online, with a version for ETags.

use sea_orm::entity::prelude::*;

/// A row of `contracts`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contracts")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Contract number, unique.
    pub number: String,
    /// The account.
    pub account_id: Uuid,
    /// The opportunity it closes (no foreign key).
    pub opportunity_id: Option<Uuid>,
    /// The user it counts for.
    pub owner_id: Uuid,
    /// Amount in minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Signing date.
    pub signed_on: Option<Date>,
    /// First day of the term.
    pub start_on: Option<Date>,
    /// Last day of the term.
    pub end_on: Option<Date>,
    /// Payment terms (账期 and the like).
    pub payment_terms: Option<String>,
    /// Status code.
    pub status: String,
    /// Free notes.
    pub notes: Option<String>,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Bumped on every change; its ETag.
    pub version: i64,
    /// The line items, as the view shows them (also rows of `contract_lines`).
    pub line_items: Json,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
