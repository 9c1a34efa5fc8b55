//! The line items of contracts, one row each, rewritten with their contract.

use sea_orm::entity::prelude::*;

/// A row of `contract_lines`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "contract_lines")]
pub struct Model {
    /// The contract.
    #[sea_orm(primary_key, auto_increment = false)]
    pub contract_id: Uuid,
    /// The line's id inside its contract.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The contract's account.
    pub account_id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Its place in the contract's list, from 0.
    pub position: i64,
    /// How many of the product's unit.
    pub quantity: i64,
    /// Price of one unit, in minor units.
    pub unit_price_minor: i64,
    /// Discount in percent.
    pub discount_percent: i64,
    /// The line's amount, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code of the contract's amounts.
    pub currency: String,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
