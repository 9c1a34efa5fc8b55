//! Idempotency keys: what a repeatable `POST` answered, per user and key.

use sea_orm::entity::prelude::*;

/// A row of `idempotency_keys`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_keys")]
pub struct Model {
    /// Whose key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The client's `Idempotency-Key`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// A hash of the request (method, path, query, content type, body).
    pub fingerprint: String,
    /// The answer's status; `None` while the first request runs.
    pub status: Option<i32>,
    /// The answer's headers worth repeating (`Content-Type`, `Location`, `ETag`).
    pub headers: Option<Json>,
    /// The answer's body.
    pub body: Option<Vec<u8>>,
    /// When the first request came.
    pub created_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
