//! Taking the caller ([`AuthUser`]) from a request: the bearer access token
//! of the `Authorization` header, checked by [`AuthUser::authenticate`]. This
//! is the HTTP edge of authentication; every protected handler takes an
//! `AuthUser` argument.

use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, http::header, web};
use std::future::Future;
use std::pin::Pin;
use tracing_actix_web::RootSpan;

/// The token of an `Authorization: Bearer <token>` header (the scheme in
/// any case): 401 `missing_token` without the header, `invalid_token` for
/// another scheme.
pub(crate) fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MissingToken,
            "send Authorization: Bearer <access token>",
        )
    })?;
    let value = value.to_str().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidToken,
            "the Authorization header is not text",
        )
    })?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim().to_owned())
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidToken,
            "send Authorization: Bearer <access token>",
        )),
    }
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
            let user = AuthUser::authenticate(&state.keys, state.db.conn(), &token?).await?;
            crate::telemetry::record_user(&req, root_span.as_deref(), user.id.0);
            Ok(user)
        })
    }
}
