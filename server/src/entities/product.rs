//! The product catalogue (产品目录): admin-managed rows, never deleted
//! (deactivated), so every line that names one keeps its product.

use sea_orm::entity::prelude::*;

/// A row of `products`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Product code, unique.
    pub code: String,
    /// Name.
    pub name: String,
    /// The unit a quantity counts (台, 套, kg, ...).
    pub unit: String,
    /// List price of one unit, in minor units.
    pub list_price_minor: i64,
    /// ISO 4217 code of the list price.
    pub currency: String,
    /// Description.
    pub description: Option<String>,
    /// Whether new lines may name it.
    pub active: bool,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Bumped on every change; its ETag.
    pub version: i64,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
