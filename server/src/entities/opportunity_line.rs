//! The line items of opportunitys, one row each, rewritten with their opportunity.

use sea_orm::entity::prelude::*;

/// A row of `opportunity_lines`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "opportunity_lines")]
pub struct Model {
    /// The opportunity.
    #[sea_orm(primary_key, auto_increment = false)]
    pub opportunity_id: Uuid,
    /// The line's id inside its opportunity.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The opportunity's account.
    pub account_id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Its place in the opportunity's list, from 0.
    pub position: i64,
    /// How many of the product's unit.
    pub quantity: i64,
    /// Price of one unit, in minor units.
    pub unit_price_minor: i64,
    /// Discount in percent.
    pub discount_percent: i64,
    /// The line's amount, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code of the opportunity's amounts.
    pub currency: String,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
