//! [`AuthUser`]: the caller, from a bearer access token, checked against the
//! database on every request (a revoked device or deactivated user is cut off
//! at once, not when the token expires).

use crate::auth::Role;
use crate::entities::{session, team, team_manager, user};
use crate::error::ApiError;
use crate::startup::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, http::header, web};
use kam_sync_core::ids::{BranchId, TeamId, UserId};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use std::future::Future;
use std::pin::Pin;
use tracing_actix_web::RootSpan;
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
            Err(ApiError::forbidden(
                "role_forbidden",
                format!("the {} role may not do this", self.role.as_str()),
            ))
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized("missing_token", "send Authorization: Bearer <access token>")
    })?;
    let value = value.to_str().map_err(|_| {
        ApiError::unauthorized("invalid_token", "the Authorization header is not text")
    })?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "send Authorization: Bearer <access token>",
        )),
    }
}

async fn authenticate(state: web::Data<AppState>, token: String) -> Result<AuthUser, ApiError> {
    let claims = state.keys.verify(&token).map_err(|err| {
        ApiError::unauthorized(
            "invalid_token",
            format!("the access token is not valid: {err}"),
        )
    })?;
    let conn = state.db.conn();
    let session = session::Entity::find_by_id(claims.sid)
        .one(conn)
        .await?
        .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "session_revoked",
                "this device's session has ended; log in again",
            )
        })?;
    let user = user::Entity::find_by_id(claims.sub)
        .one(conn)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| ApiError::unauthorized("user_inactive", "the account is deactivated"))?;
    let mut caller = AuthUser::without_session(conn, &user).await?;
    caller.session_id = session.id;
    caller.device_id = session.device_id;
    Ok(caller)
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = bearer(req);
        let root_span = req.extensions().get::<RootSpan>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let state = state
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("application state missing")))?;
            let user = authenticate(state, token?).await?;
            crate::telemetry::record_user(&req, root_span.as_deref(), user.id.0);
            Ok(user)
        })
    }
}
