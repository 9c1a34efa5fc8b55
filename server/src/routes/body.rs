//! Request bodies at the HTTP edge: reading them (decoded, bounded in
//! bytes), and [`Json`], the extractor every JSON route takes, which parses
//! them strictly with `kam_sync_core::wire::parse_json_as` (duplicate
//! members, NUL characters and nesting refused; the sync endpoint parses
//! its JSON bodies with it too), and [`OptionalJson`] for a route whose
//! body may be left out.

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::mime;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use kam_sync_core::wire::parse_json_as;
use serde::de::DeserializeOwned;

/// Reads the body, decoding `Content-Encoding` (gzip, br, zstd, deflate),
/// and stops at `limit` decoded bytes; `advice` tells a client whose body
/// is too large what to do instead.
pub async fn read_body(
    req: &HttpRequest,
    payload: Payload,
    limit: usize,
    advice: &str,
) -> ApiResult<web::BytesMut> {
    let mut payload = actix_web::dev::Decompress::from_headers(payload, req.headers());
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|err| ApiError::new(ErrorCode::UnreadableBody, err.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request is larger than {limit} bytes; {advice}"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a `Content-Type` is JSON (`application/json` or `+json`).
fn is_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        })
}

/// A JSON request body, read within the server's body limit and parsed
/// strictly (`kam_sync_core::wire::parse_json`); the extractor every JSON route takes.
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A JSON body a route can do without: `None` for a request with no body,
/// else read as [`Json`] reads it.
pub struct OptionalJson<T>(pub Option<T>);

fn unsupported() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "send Content-Type: application/json",
    )
}

/// The body, within the server's body limit.
async fn bounded_body(req: &HttpRequest, payload: Payload) -> ApiResult<web::BytesMut> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |state| state.settings.server.max_body_bytes);
    read_body(req, payload, limit, "send a smaller body").await
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            if !is_json(&req) {
                return Err(unsupported().into());
            }
            let bytes = bounded_body(&req, payload).await?;
            Ok(Self(parse_json_as(&bytes).map_err(ApiError::from)?))
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let payload = payload.take();
        Box::pin(async move {
            let bytes = bounded_body(&req, payload).await?;
            if bytes.is_empty() {
                return Ok(Self(None));
            }
            if !is_json(&req) {
                return Err(unsupported().into());
            }
            Ok(Self(Some(parse_json_as(&bytes).map_err(ApiError::from)?)))
        })
    }
}
