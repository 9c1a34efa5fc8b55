//! Building and running the application: the start-up checks and
//! backfills, routes, middleware, the OpenAPI document and Swagger UI. The
//! state handlers reach is [`AppState`], one layer down. Tests build the
//! application on port 0 and read `port()`.

use crate::config::Settings;
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::insight;
use crate::state::AppState;
use crate::{console, hardening, idempotency, openapi, records, routes, telemetry, tiering};
use actix_web::dev::{Server, ServiceFactory, ServiceRequest};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpServer, ResponseError, web};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::LazyLock;
use std::time::Duration;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::{AppExt, UtoipaApp};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// The state of a server on `db`, ready to serve: the settings are checked,
/// then the state is made ([`AppState::new`]) and what older versions left
/// out is filled in (account scores, record timelines, plan actions and
/// resource requests as rows).
pub async fn prepare(settings: Settings, db: Db) -> anyhow::Result<AppState> {
    let tiering = tiering::violations(&settings.tiering);
    if !tiering.is_empty() {
        let problems: Vec<String> = tiering
            .iter()
            .map(|v| format!("tiering.{}: {}", v.field, v.message))
            .collect();
        anyhow::bail!("invalid tiering settings: {}", problems.join("; "));
    }
    let state = AppState::new(settings, db).await?;
    tiering::backfill_once(&state.db, &state.settings.tiering)
        .await
        .map_err(|err| anyhow::anyhow!("cannot score the existing accounts: {err:?}"))?;
    records::timeline::backfill_once(&state.db)
        .await
        .map_err(|err| anyhow::anyhow!("cannot write the existing records' timelines: {err:?}"))?;
    records::visits::backfill_insight_once(&state.db)
        .await
        .map_err(|err| anyhow::anyhow!("cannot give the existing visits their insight: {err:?}"))?;
    records::account_plans::backfill_items_once(state.db.conn())
        .await
        .map_err(|err| anyhow::anyhow!("cannot write the existing plans' actions: {err:?}"))?;
    Ok(state)
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
        let state = web::Data::new(prepare(settings, db).await?);
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
                        ApiError::new(ErrorCode::InvalidPath, format!("bad path parameter: {err}"))
                            .into()
                    }))
                    .app_data(web::QueryConfig::default().error_handler(|err, _| {
                        ApiError::new(
                            ErrorCode::InvalidQuery,
                            format!("bad query parameter: {err}"),
                        )
                        .into()
                    }))
                    .configure(console::configure)
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
        let sweep = self.start_sweep();
        let served = self.server.await;
        if let Some(sweep) = sweep {
            sweep.abort();
        }
        served
    }

    /// Runs the server on the current runtime in the background.
    pub fn spawn(self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        let sweep = self.start_sweep();
        tokio::spawn(async move {
            let served = self.server.await;
            if let Some(sweep) = sweep {
                sweep.abort();
            }
            served
        })
    }

    /// Starts the insight sweep, unless it is configured off.
    fn start_sweep(&self) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.state.settings.insight.sweep_interval_secs;
        (every > 0)
            .then(|| insight::sweep::spawn(self.state.db.clone(), Duration::from_secs(every)))
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
            ErrorCode::RouteNotFound,
            format!("no route for {} {}", req.method(), req.path()),
        )
        .error_response();
    };
    let mut response = ApiError::new(
        ErrorCode::MethodNotAllowed,
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
