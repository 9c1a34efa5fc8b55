//! Building and running the application: state, routes, middleware, the
//! OpenAPI document and Swagger UI. Tests build it on port 0 and read `port()`.

use crate::auth::{LoginThrottle, Sessions, TokenKeys};
use crate::config::Settings;
use crate::db::Db;
use crate::entities::server_value;
use crate::error::ApiError;
use crate::{hardening, idempotency, openapi, routes, telemetry};
use actix_web::dev::{Server, ServiceFactory, ServiceRequest};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpServer, ResponseError, web};
use anyhow::Context;
use base64::Engine;
use rand::RngCore;
use sea_orm::{EntityTrait, Set};
use secrecy::{ExposeSecret, SecretString};
use std::net::TcpListener;
use std::sync::{Arc, LazyLock};
use std::time::Duration;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::{AppExt, UtoipaApp};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// What every handler can reach.
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// The settings the server started with.
    pub settings: Arc<Settings>,
    /// Failed-login counters.
    pub login_throttle: LoginThrottle,
    /// The Automerge actor of changes this process makes on users' behalf.
    pub actor: automerge::ActorId,
    /// A password hash that matches nothing, checked when a login names an
    /// unknown user.
    pub decoy_hash: String,
    /// Loaded hot documents.
    pub cache: crate::records::cache::DocCache,
}

impl AppState {
    /// The state of a server on `db`: the signing key is the configured one
    /// or the one shared through the database.
    pub async fn new(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let tiering = crate::tiering::violations(&settings.tiering);
        if !tiering.is_empty() {
            let problems: Vec<String> = tiering
                .iter()
                .map(|v| format!("tiering.{}: {}", v.field, v.message))
                .collect();
            anyhow::bail!("invalid tiering settings: {}", problems.join("; "));
        }
        let secret = match &settings.auth.jwt_secret {
            Some(secret) => configured_jwt_secret(&db, secret).await?,
            None => shared_jwt_secret(&db).await?,
        };
        crate::tiering::backfill_once(&db, &settings.tiering)
            .await
            .map_err(|err| anyhow::anyhow!("cannot score the existing accounts: {err:?}"))?;
        crate::records::timeline::backfill_once(&db)
            .await
            .map_err(|err| {
                anyhow::anyhow!("cannot write the existing records' timelines: {err:?}")
            })?;
        let keys = TokenKeys::new(&secret, settings.auth.access_ttl_secs);
        let cache =
            crate::records::cache::DocCache::new(settings.server.doc_cache_mib * 1024 * 1024);
        Ok(Self {
            db,
            keys,
            settings: Arc::new(settings),
            login_throttle: LoginThrottle::default(),
            actor: automerge::ActorId::random(),
            cache,
            decoy_hash: crate::auth::hash_password(secrecy::SecretString::from(
                uuid::Uuid::new_v4().to_string(),
            ))
            .await?,
        })
    }

    /// Session operations with this server's keys and lifetimes.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions::new(&self.db, &self.keys, self.settings.auth.refresh_ttl_days)
    }

    /// The author of a change made now through the API by `caller`.
    pub fn change_meta(&self, caller: &crate::auth::AuthUser) -> kam_sync_core::ChangeMeta {
        kam_sync_core::ChangeMeta {
            user: Some(caller.id),
            device: caller.device_id.clone(),
            time: chrono::Utc::now(),
        }
    }
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Connects to the database, migrates, binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings.database).await?;
        Self::build_with_db(settings, db).await
    }

    /// As [`Application::build`], on an already connected database.
    pub async fn build_with_db(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot bind {}", settings.server.bind))?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(AppState::new(settings, db).await?);
        let server_state = state.clone();
        let limits = state.settings.server.clone();
        let document = openapi_document();
        let server = HttpServer::new(move || {
            let (app, _) = mount(
                App::new()
                    .wrap(actix_web::middleware::from_fn(idempotency::middleware))
                    .wrap(actix_web::middleware::from_fn(hardening::body_deadline))
                    .wrap(actix_web::middleware::Compress::default())
                    .wrap(actix_web::middleware::from_fn(hardening::security_headers))
                    .wrap(TracingLogger::<telemetry::KamRootSpan>::new())
                    .app_data(server_state.clone())
                    .app_data(web::PathConfig::default().error_handler(|err, _| {
                        ApiError::bad_request("invalid_path", format!("bad path parameter: {err}"))
                            .into()
                    }))
                    .app_data(web::QueryConfig::default().error_handler(|err, _| {
                        ApiError::bad_request(
                            "invalid_query",
                            format!("bad query parameter: {err}"),
                        )
                        .into()
                    }))
                    .service(web::redirect("/docs", "/docs/").permanent())
                    .service(
                        SwaggerUi::new("/docs/{_:.*}")
                            .url("/api/v1/openapi.json", document.clone())
                            // Swagger UI would send the document to swagger.io's
                            // validator: the docs page talks to this server only.
                            .config(Config::default().validator_url("none")),
                    )
                    .into_utoipa_app(),
            )
            .default_service(web::to(route_not_found))
            .split_for_parts();
            app
        })
        .client_request_timeout(Duration::from_secs(limits.head_timeout_secs))
        .client_disconnect_timeout(Duration::from_secs(limits.disconnect_timeout_secs))
        .keep_alive(Duration::from_secs(limits.keep_alive_secs))
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests use the database handle).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until stopped; SIGTERM and Ctrl-C stop it gracefully (in-flight
    /// requests finish, up to 30 seconds).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Runs the server on the current runtime in the background.
    pub fn spawn(self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        tokio::spawn(self.server)
    }
}

/// Every route, with its OpenAPI description.
fn mount<T>(app: UtoipaApp<T>) -> UtoipaApp<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    app.openapi(openapi::base())
        .configure(routes::health::configure)
        .service(utoipa_actix_web::scope("/api/v1").configure(routes::configure))
}

/// The OpenAPI document, generated from the routes.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut document = mount(App::new().into_utoipa_app()).split_for_parts().1;
    openapi::open_flattened_schemas(&mut document);
    openapi::document_idempotency_keys(&mut document);
    openapi::name_page_items(&mut document);
    openapi::require_what_is_always_sent(&mut document);
    openapi::finish_operations(&mut document);
    document
}

/// Every documented path, split at `/`, with the methods it answers as an
/// `Allow` header value.
static DOCUMENTED_PATHS: LazyLock<Vec<(Vec<String>, String)>> = LazyLock::new(|| {
    openapi_document()
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let methods = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("OPTIONS", &item.options),
                ("HEAD", &item.head),
                ("PATCH", &item.patch),
                ("TRACE", &item.trace),
            ]
            .into_iter()
            .filter_map(|(method, operation)| operation.as_ref().map(|_| method))
            .collect::<Vec<_>>()
            .join(", ");
            (path.split('/').map(str::to_owned).collect(), methods)
        })
        .collect()
});

/// The methods `path` answers, if it is a documented path (`{name}` matches
/// any non-empty segment, as in the router).
fn allowed_methods(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    DOCUMENTED_PATHS
        .iter()
        .find(|(template, _)| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(part, segment)| {
                    part == segment || (part.starts_with('{') && !segment.is_empty())
                })
        })
        .map(|(_, methods)| methods.as_str())
}

/// 405 with `Allow` for a known path asked with another method, else 404.
async fn route_not_found(req: HttpRequest) -> actix_web::HttpResponse {
    let Some(allowed) = allowed_methods(req.path()) else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route for {} {}", req.method(), req.path()),
        )
        .error_response();
    };
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} does not answer {}; it answers {allowed}",
            req.path(),
            req.method()
        ),
    )
    .error_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

/// The `server_values` row holding the signing key made by a server that
/// was given none.
const JWT_KEY_NAME: &str = "jwt_signing_key";

/// The least length of a configured signing key: HS256 wants a key as long
/// as its hash, and a shorter one can be guessed from a token.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

/// A configured signing key, checked; the key stored in the database by a
/// server without one is removed, so that a reader of the database cannot
/// mint tokens with it.
async fn configured_jwt_secret(db: &Db, secret: &SecretString) -> anyhow::Result<Vec<u8>> {
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_JWT_SECRET_BYTES {
        anyhow::bail!(
            "the configured signing key (KAM__AUTH__JWT_SECRET, auth.jwt_secret) has {} bytes; \
             it must have at least {MIN_JWT_SECRET_BYTES} bytes (`openssl rand -base64 32` makes \
             one), or be left unset to have one made and kept in the database",
            bytes.len()
        );
    }
    let removed = server_value::Entity::delete_by_id(JWT_KEY_NAME.to_owned())
        .exec(db.conn())
        .await
        .context("cannot remove the stored JWT key")?
        .rows_affected;
    if removed > 0 {
        tracing::info!("removed the signing key kept in the database: the configured one is used");
    }
    Ok(bytes.to_vec())
}

/// The JWT key shared by every server on this database, made on first start.
async fn shared_jwt_secret(db: &Db) -> anyhow::Result<Vec<u8>> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let candidate = base64::engine::general_purpose::STANDARD.encode(bytes);
    server_value::Entity::insert(server_value::ActiveModel {
        name: Set(JWT_KEY_NAME.into()),
        value: Set(candidate),
    })
    .on_conflict_do_nothing_on([server_value::Column::Name])
    .exec(db.conn())
    .await
    .context("cannot store the JWT key")?;
    let stored = server_value::Entity::find_by_id(JWT_KEY_NAME.to_owned())
        .one(db.conn())
        .await?
        .context("the JWT key vanished")?;
    base64::engine::general_purpose::STANDARD
        .decode(stored.value)
        .context("the stored JWT key is not base64")
}
