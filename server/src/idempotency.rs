//! `Idempotency-Key` on the `POST`s that create or act (records, check-in
//! and check-out, the admin API): a client that does not know whether its
//! request arrived sends it again with the same key and gets the first
//! answer back, with one effect.
//!
//! The key is the caller's (a user's keys never meet another's) and lives
//! for [`KEY_TTL_HOURS`]. The first request claims the key before it runs;
//! its answer is stored when it ends, unless it failed on the server's side
//! (5xx), which frees the key for a retry. A repeat with the same key:
//! - while the first still runs: `409 idempotency_key_in_flight`;
//! - with another method, path or body: `422 idempotency_key_reused`;
//! - otherwise: the stored answer, marked `Idempotent-Replayed: true`.
//!
//! Sync and the auth routes are left out: a sync request is idempotent by
//! construction (merging changes twice is merging them once, and a pull
//! answers from the cursor), and login and refresh must not hand out a
//! stored token pair. Requests without a valid access token pass through,
//! to be refused by the route.

use crate::entities::idempotency_key;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::body::{BoxBody, MessageBody, to_bytes_limited};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use chrono::{Duration, Utc};
use futures_util::StreamExt;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The request header.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The header marking a repeated answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How long a key is remembered.
pub const KEY_TTL_HOURS: i64 = 24;

/// Answer headers stored and repeated with the body.
const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::LOCATION, header::ETAG];

/// Path prefixes whose `POST`s are not keyed (see the module doc).
const UNKEYED: [&str; 2] = ["/api/v1/sync", "/api/v1/auth/"];

/// Whether `POST`s to `path` honour `Idempotency-Key`.
pub fn is_keyed(path: &str) -> bool {
    path.starts_with("/api/v1/") && !UNKEYED.iter().any(|p| path.starts_with(p))
}

/// The middleware: see the module doc.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let keyed = req.method() == Method::POST
        && req.headers().contains_key(IDEMPOTENCY_KEY)
        && is_keyed(req.path());
    if !keyed {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = match key_of(&req) {
        Ok(key) => key,
        Err(err) => return Ok(req.error_response(err)),
    };
    let Some(user) = caller(&req, &state) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let limit = state
        .settings
        .server
        .max_body_bytes
        .max(state.settings.sync.max_body_bytes);
    let body = match read_body(&mut req, limit).await {
        Ok(body) => body,
        Err(err) => return Ok(req.error_response(err)),
    };
    let fingerprint = fingerprint(&req, &body);
    req.set_payload(Payload::from(body));
    match claim(&state, user, &key, &fingerprint).await {
        Ok(Claim::Ours) => {}
        Ok(Claim::Stored(row)) => return Ok(replay(req, &row)),
        Err(err) => return Ok(req.error_response(err)),
    }
    let response = match next.call(req).await {
        Ok(response) => response,
        Err(err) => {
            release(&state, user, &key).await;
            return Err(err);
        }
    };
    let (req, response) = response.into_parts();
    let status = response.status();
    let headers: Map<String, Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), Value::String(value.to_owned())))
        })
        .collect();
    let (head, body) = response.into_parts();
    let body = match to_bytes_limited(body, limit).await {
        Ok(Ok(bytes)) => bytes,
        _ => {
            release(&state, user, &key).await;
            return Ok(ServiceResponse::new(
                req,
                HttpResponse::from_error(ApiError::internal(anyhow::anyhow!(
                    "the answer could not be read back"
                ))),
            ));
        }
    };
    if status.is_server_error() {
        release(&state, user, &key).await;
    } else if let Err(err) = store(&state, user, &key, status, headers, &body).await {
        tracing::error!(error = %err, "the answer to an idempotent request was not stored");
        release(&state, user, &key).await;
    }
    Ok(ServiceResponse::new(
        req,
        head.set_body(body).map_into_boxed_body(),
    ))
}

fn key_of(req: &ServiceRequest) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidIdempotencyKey,
            format!("Idempotency-Key is 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )
    };
    let value = req
        .headers()
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(invalid)?;
    let key = value.trim().trim_matches('"');
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid());
    }
    Ok(key.to_owned())
}

/// The user a valid access token names.
fn caller(req: &ServiceRequest, state: &AppState) -> Option<Uuid> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    state
        .keys
        .verify(token.trim())
        .ok()
        .map(|claims| claims.sub)
}

async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::new(
                ErrorCode::UnreadableKeyedBody,
                format!("the body could not be read: {err}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn fingerprint(req: &ServiceRequest, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    for part in [
        req.method().as_str(),
        req.path(),
        req.query_string(),
        req.content_type(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.update(body);
    hex::encode(hash.finalize())
}

enum Claim {
    /// The key is new: this request runs.
    Ours,
    /// The key has a stored answer for this very request.
    Stored(idempotency_key::Model),
}

async fn claim(
    state: &AppState,
    user: Uuid,
    key: &str,
    fingerprint: &str,
) -> Result<Claim, ApiError> {
    let conn = state.db.conn();
    let now = Utc::now();
    let inserted = {
        let _guard = state.db.write_guard().await;
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::CreatedAt.lt(now - Duration::hours(KEY_TTL_HOURS)))
            .exec(conn)
            .await?;
        idempotency_key::Entity::insert(idempotency_key::ActiveModel {
            user_id: Set(user),
            key: Set(key.to_owned()),
            fingerprint: Set(fingerprint.to_owned()),
            status: Set(None),
            headers: Set(None),
            body: Set(None),
            created_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                idempotency_key::Column::UserId,
                idempotency_key::Column::Key,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?
    };
    if inserted == 1 {
        return Ok(Claim::Ours);
    }
    let row = idempotency_key::Entity::find_by_id((user, key.to_owned()))
        .one(conn)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::IdempotencyKeyInFlight,
                "a request with this Idempotency-Key just ended; send it again",
            )
        })?;
    if row.fingerprint != fingerprint {
        return Err(ApiError::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for another request; use a new key",
        ));
    }
    if row.status.is_none() {
        return Err(ApiError::new(
            ErrorCode::IdempotencyKeyInFlight,
            "a request with this Idempotency-Key is still running; send it again later",
        ));
    }
    Ok(Claim::Stored(row))
}

async fn store(
    state: &AppState,
    user: Uuid,
    key: &str,
    status: StatusCode,
    headers: Map<String, Value>,
    body: &[u8],
) -> Result<(), ApiError> {
    let _guard = state.db.write_guard().await;
    idempotency_key::Entity::update_many()
        .set(idempotency_key::ActiveModel {
            status: Set(Some(i32::from(status.as_u16()))),
            headers: Set(Some(Value::Object(headers))),
            body: Set(Some(body.to_vec())),
            ..Default::default()
        })
        .filter(idempotency_key::Column::UserId.eq(user))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(state.db.conn())
        .await?;
    Ok(())
}

/// Frees a key whose request failed on the server's side, so a retry runs.
async fn release(state: &AppState, user: Uuid, key: &str) {
    let _guard = state.db.write_guard().await;
    let deleted = idempotency_key::Entity::delete_many()
        .filter(idempotency_key::Column::UserId.eq(user))
        .filter(idempotency_key::Column::Key.eq(key))
        .exec(state.db.conn())
        .await;
    if let Err(err) = deleted {
        tracing::error!(error = %err, "an idempotency key could not be released");
    }
}

fn replay(req: ServiceRequest, row: &idempotency_key::Model) -> ServiceResponse<BoxBody> {
    let status = row
        .status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    if let Some(Value::Object(headers)) = &row.headers {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.insert_header((name, value));
            }
        }
    }
    response.insert_header((HeaderName::from_static(REPLAYED), "true"));
    req.into_response(response.body(row.body.clone().unwrap_or_default()))
}
