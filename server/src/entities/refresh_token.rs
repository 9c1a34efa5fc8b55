//! Refresh tokens, stored as SHA-256 hashes; each is used once.

use sea_orm::entity::prelude::*;

/// A row of `refresh_tokens`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Hex SHA-256 of the token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The session it renews.
    pub session_id: Uuid,
    /// Issue time.
    pub issued_at: DateTimeUtc,
    /// Expiry.
    pub expires_at: DateTimeUtc,
    /// Set when exchanged; a second use revokes the session.
    pub used_at: Option<DateTimeUtc>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
