//! Building and running the application: the start-up checks and
//! backfills, routes, middleware, the OpenAPI document and Swagger UI. The
//! state handlers reach is [`AppState`], one layer down. Tests build the
//! application on port 0 and read `port()`.

use crate::config::{MetricsSettings, Settings};
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::insight;
use crate::state::AppState;
use crate::{console, hardening, idempotency, openapi, records, routes, telemetry, tiering};
use actix_web::dev::{Server, ServiceFactory, ServiceRequest};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{App, HttpRequest, HttpServer, ResponseError, web};
use anyhow::Context;
use secrecy::ExposeSecret;
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
    check_metrics_settings(&settings.metrics)?;
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

/// The least length of a metrics token.
pub const MIN_METRICS_TOKEN_BYTES: usize = 16;

/// Refuses a metrics token too short to keep anyone out.
fn check_metrics_settings(metrics: &MetricsSettings) -> anyhow::Result<()> {
    if let Some(token) = &metrics.token {
        let length = token.expose_secret().len();
        if length < MIN_METRICS_TOKEN_BYTES {
            anyhow::bail!(
                "the metrics token (KAM__METRICS__TOKEN, metrics.token) has {length} bytes; it \
                 must have at least {MIN_METRICS_TOKEN_BYTES} (`openssl rand -base64 24` makes one)"
            );
        }
    }
    Ok(())
}

/// A built, bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The metrics listener, when `metrics.bind` is set: its port and server.
    metrics: Option<(u16, Server)>,
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
        let metrics_listener = settings
            .metrics
            .bind
            .as_deref()
            .map(|bind| {
                TcpListener::bind(bind).with_context(|| format!("cannot bind metrics.bind {bind}"))
            })
            .transpose()?;
        let state = web::Data::new(prepare(settings, db).await?);
        if metrics_listener.is_some() || state.settings.metrics.token.is_some() {
            crate::metrics::install()?;
        }
        let server_state = state.clone();
        let limits = state.settings.server.clone();
        let document = openapi_document();
        let metrics_on_main = state.settings.metrics.token.is_some();
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
                    .configure(|config| {
                        if metrics_on_main {
                            config.route("/metrics", web::get().to(routes::scrape::guarded));
                        }
                    })
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
        let metrics = metrics_listener
            .map(|listener| metrics_server(listener, state.clone()))
            .transpose()?;
        Ok(Self {
            port,
            server,
            state,
            metrics,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `metrics.bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The shared state (tests use the database handle).
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Runs until stopped; SIGTERM and Ctrl-C stop it gracefully (in-flight
    /// requests finish, up to 30 seconds).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.serve().await
    }

    /// Runs the server on the current runtime in the background.
    pub fn spawn(self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        tokio::spawn(self.serve())
    }

    /// Serves until the main listener stops; the sweep and the metrics
    /// listener stop with it.
    async fn serve(self) -> std::io::Result<()> {
        let sweep = self.start_sweep();
        let metrics = self.metrics.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = self.server.await;
        if let Some(sweep) = sweep {
            sweep.abort();
        }
        if let Some((handle, task)) = metrics {
            handle.stop(false).await;
            drop(task.await);
        }
        served
    }

    /// Starts the insight sweep, unless it is configured off.
    fn start_sweep(&self) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.state.settings.insight.sweep_interval_secs;
        (every > 0)
            .then(|| insight::sweep::spawn(self.state.db.clone(), Duration::from_secs(every)))
    }
}

/// The metrics listener: `GET /metrics` and nothing else, on one worker,
/// stopped with the main listener (it does not handle signals itself).
fn metrics_server(
    listener: TcpListener,
    state: web::Data<AppState>,
) -> anyhow::Result<(u16, Server)> {
    let port = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(routes::scrape::open))
            .default_service(web::to(|req: HttpRequest| async move {
                ApiError::new(
                    ErrorCode::RouteNotFound,
                    format!(
                        "no route for {} {}: this listener serves GET /metrics",
                        req.method(),
                        req.path()
                    ),
                )
                .error_response()
            }))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .shutdown_timeout(1)
    .run();
    Ok((port, server))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_token_shorter_than_16_bytes_is_refused() {
        let with = |token: &str| MetricsSettings {
            bind: None,
            token: Some(token.into()),
        };
        let refused = check_metrics_settings(&with("short"))
            .err()
            .map(|err| err.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|message| message.contains("at least 16")),
            "{refused:?}"
        );
        assert!(check_metrics_settings(&with("sixteen-bytes-ok")).is_ok());
        assert!(check_metrics_settings(&MetricsSettings::default()).is_ok());
    }
}
