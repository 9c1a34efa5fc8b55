//! `/auth`: log in, refresh, log out, and who am I.

use crate::auth::{Attempt, AuthUser, CheckError, Role, TokenPair, verify_password};
use crate::entities::user;
use crate::error::responses::{CredentialErrors, ReadErrors};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, post, web};
use kam_sync_core::ids::{BranchId, TeamId, UserId};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the auth routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(login)
        .service(refresh)
        .service(logout)
        .service(me);
}

/// Credentials and the device they are used on.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// A stable id of the device (one session per device); `default` when omitted.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub device_id: Option<String>,
}

/// A refresh token to exchange.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from the last login or refresh.
    #[schema(value_type = String, format = Password)]
    pub refresh_token: SecretString,
}

/// The caller.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// User id.
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Own team.
    pub team_id: Option<TeamId>,
    /// Branch worked in.
    pub branch_id: Option<BranchId>,
    /// Teams led.
    pub led_teams: Vec<TeamId>,
    /// This device's session.
    pub session_id: uuid::Uuid,
    /// This device.
    pub device_id: String,
}

const MAX_DEVICE_ID_LEN: usize = 128;

/// The address the connection comes from. Forwarded-for headers are not
/// believed: any client can send them.
fn client_address(req: &HttpRequest) -> IpAddr {
    req.peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip())
}

/// A problem answered with `Retry-After: seconds`.
fn retry_later(code: ErrorCode, detail: String, seconds: u64) -> HttpResponse {
    let mut response = ApiError::new(code, detail).error_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    response
}

/// Log in: a short-lived access token and a single-use refresh token for this device.
///
/// Failed logins are throttled per username and address (see
/// `docs/login-throttling.md`): after five, that pair waits longer each
/// time (429 with `Retry-After`); a device that logged in before is not
/// slowed by failures elsewhere.
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses((status = 200, body = TokenPair), CredentialErrors)
)]
#[post("/auth/login")]
async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> HttpResponse {
    match open_session(&state, &req, body.into_inner()).await {
        Ok(pair) => HttpResponse::Ok().json(pair),
        Err(refused) => refused,
    }
}

/// Checks credentials (throttled) and opens the device's session; a refusal
/// is the whole response (some carry `Retry-After`).
pub async fn open_session(
    state: &AppState,
    req: &HttpRequest,
    body: LoginRequest,
) -> Result<TokenPair, HttpResponse> {
    let LoginRequest {
        username,
        password,
        device_id,
    } = body;
    let device_id = device_id.unwrap_or_else(|| "default".to_owned());
    if device_id.trim().is_empty() || device_id.len() > MAX_DEVICE_ID_LEN {
        return Err(ApiError::invalid_field(
            "device_id",
            "invalid_value",
            format!("1 to {MAX_DEVICE_ID_LEN} characters"),
        )
        .error_response());
    }
    let attempt = Attempt {
        username: &username,
        address: client_address(req),
        device_id: &device_id,
    };
    let charged = match state.login_throttle.begin(attempt) {
        Ok(charged) => charged,
        Err(wait) => {
            return Err(retry_later(
                ErrorCode::TooManyAttempts,
                format!("too many failed logins; try again in {wait} s"),
                wait,
            ));
        }
    };
    let found = match user::Entity::find()
        .filter(user::Column::Username.eq(username.as_str()))
        .one(state.db.conn())
        .await
    {
        Ok(found) => found,
        Err(err) => {
            state.login_throttle.abandoned(charged);
            return Err(ApiError::from(err).error_response());
        }
    };
    // An unknown user is checked against a real hash too, so that the time
    // taken does not tell which usernames exist.
    let hash = found
        .as_ref()
        .map_or_else(|| state.decoy_hash.clone(), |u| u.password_hash.clone());
    let password_ok = match verify_password(password, hash).await {
        Ok(ok) => ok,
        Err(CheckError::Busy) => {
            state.login_throttle.abandoned(charged);
            return Err(retry_later(
                ErrorCode::ServerBusy,
                "too many logins at once; try again in a second".to_owned(),
                1,
            ));
        }
        Err(CheckError::Failed(err)) => {
            state.login_throttle.abandoned(charged);
            return Err(ApiError::internal(err).error_response());
        }
    };
    let user = match found {
        Some(user) if password_ok && user.active => user,
        _ => {
            state.login_throttle.failed(charged);
            tracing::info!(username = %username, "failed login");
            return Err(
                ApiError::new(ErrorCode::InvalidCredentials, "wrong username or password")
                    .error_response(),
            );
        }
    };
    state.login_throttle.succeeded(charged);
    let pair = state
        .sessions()
        .open(&user, &device_id)
        .await
        .map_err(|err| err.error_response())?;
    tracing::info!(user_id = %user.id, device_id = %device_id, "logged in");
    Ok(pair)
}

/// Exchange a refresh token for a new pair. Each refresh token works once;
/// presenting one twice revokes the device's session.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), CredentialErrors)
)]
#[post("/auth/refresh")]
async fn refresh(
    state: web::Data<AppState>,
    body: Json<RefreshRequest>,
) -> ApiResult<HttpResponse> {
    use secrecy::ExposeSecret;
    let pair = state
        .sessions()
        .refresh(body.refresh_token.expose_secret())
        .await?;
    Ok(HttpResponse::Ok().json(pair))
}

/// End this device's session; its tokens stop working at once.
#[utoipa::path(
    tag = "auth",
    responses((status = 204, description = "Logged out"), ReadErrors),
    security(("bearer" = []))
)]
#[post("/auth/logout")]
async fn logout(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    state.sessions().revoke(caller.session_id, "logout").await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who the token belongs to, with their place in the org.
#[utoipa::path(
    operation_id = "getMe",
    tag = "auth",
    responses((status = 200, body = Me), ReadErrors),
    security(("bearer" = []))
)]
#[get("/auth/me")]
async fn me(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    let user = user::Entity::find_by_id(caller.id.0)
        .one(state.db.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(HttpResponse::Ok().json(Me {
        id: caller.id,
        username: user.username,
        display_name: user.display_name,
        role: caller.role,
        team_id: caller.team_id,
        branch_id: caller.branch_id,
        led_teams: caller.led_teams,
        session_id: caller.session_id,
        device_id: caller.device_id,
    }))
}
