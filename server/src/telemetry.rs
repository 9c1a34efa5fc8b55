//! Structured logs: one span per request with the route template, the
//! caller's user id and the record id; JSON lines when `KAM_LOG_FORMAT=json`.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use std::io::IsTerminal;
use tracing::{Span, Subscriber};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init() {
    let filter =
        EnvFilter::try_from_env("KAM_LOG").unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if std::env::var("KAM_LOG_FORMAT").is_ok_and(|f| f == "json") {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_target(false),
            )
            .try_init()
    } else {
        let ansi = std::io::stdout().is_terminal();
        registry.with(text_layer(std::io::stdout, ansi)).try_init()
    };
    drop(installed);
}

/// The text log format, written to `writer`: one line per event, in
/// colour when `ansi` (a terminal).
pub fn text_layer<S, W>(writer: W, ansi: bool) -> impl Layer<S>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer)
}

/// The request span: tracing-actix-web's fields plus `user_id` and `record_id`.
pub struct KamRootSpan;

impl RootSpanBuilder for KamRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        tracing_actix_web::root_span!(
            request,
            user_id = tracing::field::Empty,
            record_id = tracing::field::Empty
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// Notes the record a request is about in its span.
pub fn record_id(id: impl std::fmt::Display) {
    Span::current().record("record_id", tracing::field::display(id));
}
