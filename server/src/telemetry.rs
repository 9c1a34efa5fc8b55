//! Structured logs: one span per request with the route template, the
//! caller's user id and the record id, and one line per request when it
//! ends ([`KamRootSpan`]), which also counts the request in the metrics
//! (by the same route pattern and status); JSON lines when `KAM_LOG_FORMAT=json`, colour only
//! when standard output is a terminal.
//!
//! Logged values may hold text a client sent (a username, a device id, a
//! path). In the text format every control character in a value (line
//! breaks, escape sequences) and the Unicode line and paragraph separators
//! are written escaped (`\n`, `\u{1b}`), so one event is one line and a
//! client cannot forge a line; JSON escapes them by itself.

use actix_web::Error;
use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use std::fmt::{self, Write};
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use tracing::{Span, Subscriber};
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::{self, FormatFields};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The log filter when `KAM_LOG` sets none. Automerge's `load_with_options`
/// (target `automerge::automerge`) is instrumented with `err`: it logs every
/// error it returns at ERROR, among them the `MissingDeps` ("change's deps
/// should already be in the document") that `kam_sync_core::merge::check_bytes` is
/// told on every push of an edit to an existing record, which is expected.
/// Every error Automerge returns reaches the server's code, which answers
/// it (and logs the unexpected ones with their cause), so that target is
/// off.
pub const DEFAULT_FILTER: &str = "info,sqlx=warn,automerge::automerge=off";

/// Installs the global subscriber once; later calls (tests) are no-ops.
pub fn init() {
    let filter =
        EnvFilter::try_from_env("KAM_LOG").unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = if std::env::var("KAM_LOG_FORMAT").is_ok_and(|f| f == "json") {
        registry
            .with(tracing_subscriber::fmt::layer().json().with_target(false))
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
        .fmt_fields(escaped_fields())
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer)
}

/// Fields as the default text format writes them (`name=value`, the
/// message bare), with control characters escaped.
fn escaped_fields() -> impl for<'writer> FormatFields<'writer> + Send + Sync + 'static {
    format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        if field.name() == "message" {
            write!(writer, "{}", Escaped(&text))
        } else {
            write!(writer, "{}={}", field.name(), Escaped(&text))
        }
    })
    .delimited(" ")
}

/// Text with its control characters and line separators escaped.
struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                    write!(f, "\\u{{{:x}}}", u32::from(c))?;
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// When a request arrived, kept in its extensions for its line.
struct Arrived(Instant);

/// The user a request was authenticated as, kept in its extensions for its
/// line.
struct Caller(uuid::Uuid);

/// The request span (tracing-actix-web's fields plus `user_id` and
/// `record_id`), and one line when a request ends, in that span: its
/// method, route, status, duration and user id (when authenticated). The
/// route is the matched pattern (`/api/v1/accounts/{id}`), not the path:
/// lines of one endpoint group together, the path's ids and any text a
/// client put in the path stay out of the line (the span has the record id
/// for whom it concerns), and a path that matches no route is `unmatched`.
/// The line is INFO, WARN for a 4xx and ERROR for a 5xx with the error; it
/// is the only one (tracing-actix-web's own error event is turned off).
pub struct KamRootSpan;

impl RootSpanBuilder for KamRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Arrived(Instant::now()));
        tracing_actix_web::root_span!(
            request,
            user_id = tracing::field::Empty,
            record_id = tracing::field::Empty
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if let Ok(response) = outcome {
            log_request(response);
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The one line of a request that was answered.
fn log_request<B>(response: &ServiceResponse<B>) {
    let request = response.request();
    let extensions = request.extensions();
    let elapsed = extensions
        .get::<Arrived>()
        .map_or(Duration::ZERO, |Arrived(at)| at.elapsed());
    let duration_ms = (elapsed.as_secs_f64() * 10_000.0).round() / 10.0;
    let user_id = extensions
        .get::<Caller>()
        .map(|Caller(id)| tracing::field::display(id));
    let method = request.method().as_str();
    let route = request.match_pattern();
    let route = route.as_deref().unwrap_or("unmatched");
    let status = response.status().as_u16();
    crate::metrics::request(method, route, status, elapsed);
    let error = response
        .response()
        .error()
        .map(|error| tracing::field::display(error.to_string()));
    // `event!` takes its level as a constant: one arm per level, one field
    // list for all (`error` is recorded only when there is one).
    macro_rules! request_line {
        ($level:expr) => {
            tracing::event!(
                $level,
                method,
                route,
                status,
                duration_ms,
                user_id,
                error,
                "request"
            )
        };
    }
    if response.status().is_server_error() {
        request_line!(tracing::Level::ERROR);
    } else if response.status().is_client_error() {
        request_line!(tracing::Level::WARN);
    } else {
        request_line!(tracing::Level::INFO);
    }
}

/// Notes the user a request is authenticated as, in its span and its line.
pub fn record_user(request: &actix_web::HttpRequest, span: Option<&Span>, id: uuid::Uuid) {
    if let Some(span) = span {
        span.record("user_id", tracing::field::display(id));
    }
    request.extensions_mut().insert(Caller(id));
}

/// Notes the record a request is about in its span.
pub fn record_id(id: impl std::fmt::Display) {
    Span::current().record("record_id", tracing::field::display(id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_separators_are_escaped_and_the_rest_is_kept() {
        assert_eq!(
            Escaped("li.wei\n2026 INFO forged\r\t\u{1b}[2J\u{2028}x 刘洋 é").to_string(),
            "li.wei\\n2026 INFO forged\\r\\t\\u{1b}[2J\\u{2028}x 刘洋 é"
        );
    }
}
