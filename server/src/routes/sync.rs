//! `POST /sync`: the offline-first sync endpoint. JSON with base64 payloads
//! by default; CBOR (byte strings, about a quarter smaller) when the request
//! is `application/cbor`. Responses are compressed when the client accepts it.

use crate::auth::AuthUser;
use crate::error::responses::SyncErrors;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use kam_sync_core::protocol::{SyncRequest, SyncResponse};
use kam_sync_core::wire::decode_request;
use utoipa_actix_web::service_config::ServiceConfig;

/// The CBOR media type.
pub const CBOR: &str = "application/cbor";

/// Mounts the sync route.
pub fn configure(config: &mut ServiceConfig) {
    config.service(sync);
}

/// The first media type a header names (`Accept` lists them by preference).
pub(super) fn media_type(req: &HttpRequest, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split([',', ';'])
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
}

/// Push this device's changes and pull what it lacks, in one round trip.
///
/// The request carries, per document, the Automerge changes made since the
/// server heads the device last saw, and the cursor of the last response.
/// The response says how each pushed document fared, carries the documents
/// (or changes) the device lacks in its user's scope, the accounts to drop,
/// and notices of what the server undid. Repeating a request is harmless.
#[utoipa::path(
    tag = "sync",
    request_body(content(
        (SyncRequest = "application/json"),
        (SyncRequest = "application/cbor"),
    )),
    responses(
        (status = 200, description = "What was done with each pushed document, and a page of what the device lacks", content((SyncResponse = "application/json"), (SyncResponse = "application/cbor"))),
        SyncErrors
    ),
    security(("bearer" = []))
)]
#[post("/sync")]
async fn sync(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let cbor = match media_type(&req, header::CONTENT_TYPE).as_deref() {
        Some("application/json") | None => false,
        Some(CBOR) => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("send application/json or {CBOR}, not {other}"),
            ));
        }
    };
    let body = super::body::read_body(
        &req,
        payload.into_inner(),
        state.settings.sync.max_body_bytes,
        "push fewer documents at once",
    )
    .await?;
    let request = decode_request(&body, cbor)?;
    let response = crate::sync::sync(&state, &caller, request).await?;
    let wants_cbor = cbor || media_type(&req, header::ACCEPT).as_deref() == Some(CBOR);
    respond(&response, wants_cbor)
}

fn respond(response: &SyncResponse, cbor: bool) -> ApiResult<HttpResponse> {
    if cbor {
        let mut bytes = Vec::new();
        ciborium::into_writer(response, &mut bytes).map_err(ApiError::internal)?;
        Ok(HttpResponse::Ok().content_type(CBOR).body(bytes))
    } else {
        Ok(HttpResponse::Ok().json(response))
    }
}
