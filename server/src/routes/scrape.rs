//! `GET /metrics`: the Prometheus exposition text (docs/metrics.md), on the
//! metrics listener of its own (`metrics.bind`) or, with `metrics.token`,
//! on the main listener to a caller with that token. Kept out of the OpenAPI
//! document: it is an operator's endpoint that exists only when configured,
//! and its body is Prometheus's text format, not the API's JSON.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::routes::extractor::bearer;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

/// The exposition format's media type.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics, to anyone who reaches the metrics listener.
pub async fn open(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    exposition(&state)
}

/// The metrics, to a caller with the metrics token; 401 otherwise.
pub async fn guarded(req: HttpRequest, state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let Some(expected) = &state.settings.metrics.token else {
        return Err(ApiError::new(
            ErrorCode::RouteNotFound,
            "no route for GET /metrics",
        ));
    };
    let sent = bearer(&req)?;
    // Digests compared, so the time taken tells nothing about the token.
    if Sha256::digest(sent.as_bytes()) != Sha256::digest(expected.expose_secret().as_bytes()) {
        return Err(ApiError::new(
            ErrorCode::InvalidToken,
            "this is not the metrics token",
        ));
    }
    exposition(&state)
}

/// The exposition text, with the gauges of this server's cache and pool
/// read now.
fn exposition(state: &AppState) -> ApiResult<HttpResponse> {
    let (documents, bytes) = state.cache.usage();
    crate::metrics::doc_cache_usage(documents, bytes);
    let (open, idle, max) = state.db.pool_usage();
    crate::metrics::db_pool(open.saturating_sub(idle), idle, max);
    let text = crate::metrics::render().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!("the metrics recorder is not installed"))
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, EXPOSITION))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(text))
}
