//! The web console's files (docs/console.md): a page and its scripts and
//! styles, built into the binary, served at `/` and under `/console/`.
//!
//! The console is a client of the documented REST API like any other: its
//! scripts call `/api/v1/...` with a bearer token, and the only routes made
//! for it are the cookie session of `routes::console_session`. Its files are
//! our own (no third-party code, no outside network): the page says so to
//! the browser with a Content-Security-Policy that allows this origin alone.
//! With `console.assets_dir` set, the same names are read from that folder
//! at each request instead (development); no other name is ever served.

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One file of the console.
struct Asset {
    /// The name after `/console/` (`index.html` is also `/`).
    name: &'static str,
    content_type: &'static str,
    built_in: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            built_in: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console has.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("js/main.js", JS),
    asset!("js/api.js", JS),
    asset!("js/i18n.js", JS),
    asset!("js/format.js", JS),
    asset!("js/ui.js", JS),
    asset!("js/charts.js", JS),
    asset!("js/pages/login.js", JS),
    asset!("js/pages/home.js", JS),
    asset!("js/pages/accounts.js", JS),
    asset!("js/pages/account.js", JS),
    asset!("js/pages/team.js", JS),
    asset!("js/pages/service.js", JS),
    asset!("js/pages/admin.js", JS),
];

/// What the console's page may load and talk to: this origin only.
const POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'",
);

/// Mounts `/` and `/console/{file}`.
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/", web::get().to(index))
        .route("/console/{file:.*}", web::get().to(file));
}

async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    serve(&state, &req, "index.html").await
}

async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
) -> HttpResponse {
    serve(&state, &req, &name).await
}

/// The built-in files' ETags, computed once.
fn built_in_etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| ASSETS.iter().map(|a| etag_of(a.built_in)).collect())
}

fn etag_of(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", hex::encode(&digest[..12]))
}

async fn serve(state: &AppState, req: &HttpRequest, name: &str) -> HttpResponse {
    let Some(index) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::new(
            ErrorCode::RouteNotFound,
            format!("the console has no file {name}"),
        )
        .error_response();
    };
    let asset = &ASSETS[index];
    let (bytes, etag) = match &state.settings.console.assets_dir {
        Some(dir) => match tokio::fs::read(dir.join(asset.name)).await {
            Ok(bytes) => {
                let etag = etag_of(&bytes);
                (bytes.into(), etag)
            }
            Err(err) => {
                return ApiError::internal(anyhow::anyhow!(
                    "console file {} unreadable in console.assets_dir: {err}",
                    asset.name
                ))
                .error_response();
            }
        },
        None => (
            web::Bytes::from_static(asset.built_in),
            built_in_etags()[index].clone(),
        ),
    };
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY));
    if fresh {
        return response.finish();
    }
    response.content_type(asset.content_type).body(bytes)
}
