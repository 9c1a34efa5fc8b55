//! [`AuthUser`]: the caller, from an access token checked against the
//! database on every request (a revoked device or deactivated user is cut off
//! at once, not when the token expires). Taking it from a request's bearer
//! header is the HTTP edge's part (`routes`).

use crate::auth::{Role, TokenKeys};
use crate::entities::{session, team, team_manager, user};
use crate::error::{ApiError, ErrorCode};
use kam_sync_core::ids::{BranchId, TeamId, UserId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

/// The authenticated caller and their place in the org.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// User id.
    pub id: UserId,
    /// Current role (from the database, not the token).
    pub role: Role,
    /// The user's own team.
    pub team_id: Option<TeamId>,
    /// The branch the user works in: their own, or their team's.
    pub branch_id: Option<BranchId>,
    /// Teams the user leads (managers).
    pub led_teams: Vec<TeamId>,
    /// The login session.
    pub session_id: Uuid,
    /// The device named at login.
    pub device_id: String,
}

impl AuthUser {
    /// A user as the access rules see them, with no session: to check what
    /// another user (a new owner, say) may see.
    pub async fn without_session(
        conn: &impl ConnectionTrait,
        user: &user::Model,
    ) -> Result<Self, ApiError> {
        let role = Role::parse(&user.role)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown role {}", user.role)))?;
        let team_branch = match user.team_id {
            Some(team_id) => team::Entity::find_by_id(team_id)
                .one(conn)
                .await?
                .map(|t| t.branch_id),
            None => None,
        };
        let led_teams = if role == Role::Manager {
            team_manager::Entity::find()
                .select_only()
                .column(team_manager::Column::TeamId)
                .filter(team_manager::Column::UserId.eq(user.id))
                .into_tuple::<Uuid>()
                .all(conn)
                .await?
                .into_iter()
                .map(TeamId)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Self {
            id: UserId(user.id),
            role,
            team_id: user.team_id.map(TeamId),
            branch_id: user.branch_id.or(team_branch).map(BranchId),
            led_teams,
            session_id: Uuid::nil(),
            device_id: String::new(),
        })
    }

    /// Refuses callers without one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::RoleForbidden,
                format!("the {} role may not do this", self.role.as_str()),
            ))
        }
    }

    /// The caller holding access token `token`: its session must be live
    /// and its user active.
    pub async fn authenticate(
        keys: &TokenKeys,
        conn: &impl ConnectionTrait,
        token: &str,
    ) -> Result<Self, ApiError> {
        let claims = keys.verify(token).map_err(|err| {
            ApiError::new(
                ErrorCode::InvalidToken,
                format!("the access token is not valid: {err}"),
            )
        })?;
        let session = session::Entity::find_by_id(claims.sid)
            .one(conn)
            .await?
            .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::SessionRevoked,
                    "this device's session has ended; log in again",
                )
            })?;
        let user = user::Entity::find_by_id(claims.sub)
            .one(conn)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| ApiError::new(ErrorCode::UserInactive, "the account is deactivated"))?;
        let mut caller = AuthUser::without_session(conn, &user).await?;
        caller.session_id = session.id;
        caller.device_id = session.device_id;
        Ok(caller)
    }
}
