//! Login sessions, one per user and device: what a revocation cuts off.

use sea_orm::entity::prelude::*;

/// A row of `sessions`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// Id, carried in access tokens as `sid`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The device the user named at login.
    pub device_id: String,
    /// Login time.
    pub created_at: DateTimeUtc,
    /// Last refresh.
    pub last_used_at: DateTimeUtc,
    /// Set when revoked (logout, admin, refresh token reuse).
    pub revoked_at: Option<DateTimeUtc>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
