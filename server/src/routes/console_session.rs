//! `/auth/console`: the console's session, kept in a cookie the page's
//! scripts cannot read (docs/console.md says why).
//!
//! Logging in answers an access token in the body, as `/auth/login` does,
//! and puts the refresh token in an `HttpOnly; Secure; SameSite=Strict`
//! cookie scoped to these routes, so a page reload gets a new access token
//! without any token ever reaching `localStorage`. Every route here refuses
//! a request another site's page could have made (403 `cross_site_refused`):
//! it must carry `X-KAM-Console: 1`, which a cross-site form cannot send and
//! a cross-site script may not without a CORS approval this server never
//! gives, and its `Origin`, when sent, must be this server's own.

use crate::auth::AuthUser;
use crate::error::responses::{ConsoleLogoutErrors, ConsoleSessionErrors};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::auth::{LoginRequest, open_session};
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the console's session routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(console_login)
        .service(console_refresh)
        .service(console_logout);
}

/// The cookie holding the console's refresh token.
pub const REFRESH_COOKIE: &str = "kam_console_refresh";
/// The only path the cookie is sent to.
const COOKIE_PATH: &str = "/api/v1/auth/console";
/// The header every console session request carries.
pub const CONSOLE_HEADER: &str = "x-kam-console";

/// An access token for the console; its refresh token is in the cookie.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConsoleSession {
    /// The access token, for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The session (one per browser).
    pub session_id: uuid::Uuid,
}

/// Refuses what another site's page could have sent.
fn same_site_only(req: &HttpRequest) -> ApiResult<()> {
    let marked = req
        .headers()
        .get(CONSOLE_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    if !marked {
        return Err(ApiError::new(
            ErrorCode::CrossSiteRefused,
            "console session requests carry the header X-KAM-Console: 1",
        ));
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let host = req.connection_info().host().to_owned();
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest.trim_end_matches('/'));
        if origin_host != Some(host.as_str()) {
            return Err(ApiError::new(
                ErrorCode::CrossSiteRefused,
                "the request comes from another site's page",
            ));
        }
    }
    Ok(())
}

/// The refresh cookie: `value` for `max_age`, or a removal.
fn refresh_cookie(state: &AppState, value: Option<String>) -> Cookie<'static> {
    let mut cookie = Cookie::build(REFRESH_COOKIE, value.clone().unwrap_or_default())
        .path(COOKIE_PATH)
        .http_only(true)
        .secure(state.settings.console.secure_cookie)
        .same_site(SameSite::Strict)
        .finish();
    if value.is_some() {
        cookie.set_max_age(CookieAge::days(state.settings.auth.refresh_ttl_days));
    } else {
        cookie.make_removal();
    }
    cookie
}

/// A session answer: the access token in the body, the refresh token in the cookie.
fn session_response(state: &AppState, pair: crate::auth::TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(refresh_cookie(state, Some(pair.refresh_token)))
        .json(ConsoleSession {
            access_token: pair.access_token,
            token_type: pair.token_type,
            expires_in: pair.expires_in,
            session_id: pair.session_id,
        })
}

/// A refusal that also removes the cookie.
fn refused(state: &AppState, err: &ApiError) -> HttpResponse {
    let mut response = err.error_response();
    // The cookie is ours and well-formed: adding it cannot fail.
    let _ = response.add_cookie(&refresh_cookie(state, None));
    response
}

/// Log in to the console: the access token in the body, the refresh token
/// in an `HttpOnly` cookie (`kam_console_refresh`, path
/// `/api/v1/auth/console`). Throttled like `/auth/login`. Needs
/// `X-KAM-Console: 1`.
#[utoipa::path(
    operation_id = "consoleLogin",
    tag = "auth",
    request_body = LoginRequest,
    params(("X-KAM-Console" = String, Header, description = "Always `1`")),
    responses(
        (status = 200, body = ConsoleSession, description = "Logged in; the refresh token is in the `kam_console_refresh` cookie",
            headers(("Set-Cookie" = String, description = "The refresh cookie"))),
        ConsoleSessionErrors
    )
)]
#[post("/auth/console/login")]
async fn console_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> ApiResult<HttpResponse> {
    same_site_only(&req)?;
    Ok(match open_session(&state, &req, body.into_inner()).await {
        Ok(pair) => session_response(&state, pair),
        Err(refusal) => refusal,
    })
}

/// A new access token for the console, from its refresh cookie (which is
/// replaced: each works once, and one used twice ends the session). A page
/// reload calls this. Needs `X-KAM-Console: 1`; without a cookie, 401
/// `invalid_refresh_token`.
#[utoipa::path(
    operation_id = "consoleRefresh",
    tag = "auth",
    params(("X-KAM-Console" = String, Header, description = "Always `1`")),
    responses(
        (status = 200, body = ConsoleSession, description = "A new access token; the cookie is replaced",
            headers(("Set-Cookie" = String, description = "The new refresh cookie"))),
        ConsoleSessionErrors
    ),
    security(("console_cookie" = []))
)]
#[post("/auth/console/refresh")]
async fn console_refresh(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    same_site_only(&req)?;
    let Some(cookie) = req.cookie(REFRESH_COOKIE).filter(|c| !c.value().is_empty()) else {
        return Ok(refused(
            &state,
            &ApiError::new(ErrorCode::InvalidRefreshToken, "no console session cookie"),
        ));
    };
    Ok(match state.sessions().refresh(cookie.value()).await {
        Ok(pair) => session_response(&state, pair),
        Err(err) => refused(&state, &err),
    })
}

/// Log out of the console: the session ends and the cookie is removed.
#[utoipa::path(
    operation_id = "consoleLogout",
    tag = "auth",
    params(("X-KAM-Console" = String, Header, description = "Always `1`")),
    responses(
        (status = 204, description = "Logged out; the cookie is removed",
            headers(("Set-Cookie" = String, description = "The cookie's removal"))),
        ConsoleLogoutErrors
    ),
    security(("bearer" = []))
)]
#[post("/auth/console/logout")]
async fn console_logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: AuthUser,
) -> ApiResult<HttpResponse> {
    same_site_only(&req)?;
    state.sessions().revoke(caller.session_id, "logout").await?;
    Ok(HttpResponse::NoContent()
        .cookie(refresh_cookie(&state, None))
        .finish())
}
