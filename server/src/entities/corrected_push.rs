//! The last push of each user to each document that the server corrected,
//! and the notices it answered, to answer a repeat of it the same way.

use sea_orm::entity::prelude::*;

/// A row of `corrected_pushes`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "corrected_pushes")]
pub struct Model {
    /// The document.
    #[sea_orm(primary_key, auto_increment = false)]
    pub doc_id: Uuid,
    /// Who pushed.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// SHA-256 (hex) of the pushed bytes: a repeat sends the same bytes.
    pub digest: String,
    /// The notices the push was answered with.
    pub notices: Json,
    /// When the push was merged.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
