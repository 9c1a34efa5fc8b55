//! Users: credentials, role and place in the org.

use sea_orm::entity::prelude::*;

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Unique login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Argon2 PHC string.
    pub password_hash: String,
    /// Role code (`rep`, `manager`, ...).
    pub role: String,
    /// The user's team.
    pub team_id: Option<Uuid>,
    /// The user's branch (directors and service staff; others follow their team).
    pub branch_id: Option<Uuid>,
    /// False once deactivated.
    pub active: bool,
    /// Bumped on every change, for ETags.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No relations are navigated through the ORM; joins are written as queries.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
