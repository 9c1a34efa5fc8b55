//! Prometheus metrics (docs/metrics.md): the names, the one recorder of the
//! process and its exposition text, and one function per thing measured,
//! which the rest of the server calls without naming the `metrics` crate.
//!
//! The recorder is global to the process (the `metrics` crate's design) and
//! installed only when a server is configured to serve `/metrics`
//! (`metrics.bind` or `metrics.token`); until then every function here is a
//! no-op of the crate's, so a server without metrics pays nearly nothing.
//! It is installed once: a second server in the same process (the tests run
//! many) shares it, and every server of the process counts into it.
//!
//! Gauges of what a server holds (cached documents, pool connections) are
//! set when `/metrics` is read, not kept up to date on every request.

use anyhow::Context;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Requests answered, by method, route pattern and status (a histogram: its
/// `_count` is the number of requests).
pub const REQUEST_DURATION: &str = "kam_http_request_duration_seconds";
/// Problems (`application/problem+json` answers) rendered, by code.
pub const PROBLEMS: &str = "kam_http_problems_total";
/// Pushed documents stored or answered, by push status.
pub const SYNC_PUSHED_DOCUMENTS: &str = "kam_sync_pushed_documents_total";
/// Automerge changes new to the server in committed pushes.
pub const SYNC_PUSHED_CHANGES: &str = "kam_sync_pushed_changes_total";
/// Documents sent to devices, whole or as the changes they lack.
pub const SYNC_PULLED_DOCUMENTS: &str = "kam_sync_pulled_documents_total";
/// Bytes of Automerge data sent to devices.
pub const SYNC_PULLED_BYTES: &str = "kam_sync_pulled_bytes_total";
/// Notices of corrected and refused pushed documents, by notice code.
pub const SYNC_NOTICES: &str = "kam_sync_notices_total";
/// Document cache lookups, by result (`hit`, `miss`).
pub const DOC_CACHE_LOOKUPS: &str = "kam_doc_cache_lookups_total";
/// Documents held by the document cache.
pub const DOC_CACHE_DOCUMENTS: &str = "kam_doc_cache_documents";
/// Bytes the document cache holds, by its weighing.
pub const DOC_CACHE_BYTES: &str = "kam_doc_cache_bytes";
/// Database pool connections, by state (`in_use`, `idle`).
pub const DB_POOL_CONNECTIONS: &str = "kam_db_pool_connections";
/// The most connections the database pool may open.
pub const DB_POOL_MAX_CONNECTIONS: &str = "kam_db_pool_max_connections";

/// Request duration buckets, in seconds: 5 ms to 10 s.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How often histograms are drained into their buckets between scrapes, so
/// that their samples do not pile up when nobody reads `/metrics`.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, once installed.
static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process's recorder, unless it is installed; the handle
/// renders the exposition text.
pub fn install() -> anyhow::Result<&'static PrometheusHandle> {
    if let Some(handle) = HANDLE.get() {
        return Ok(handle);
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(REQUEST_DURATION.to_owned()), DURATION_BUCKETS)
        .context("cannot set the request duration buckets")?
        .build_recorder();
    let handle = recorder.handle();
    // Two servers starting at once race here: one recorder wins, the
    // other's handle is dropped unused.
    let mut won = false;
    let installed = HANDLE.get_or_init(|| {
        won = true;
        handle
    });
    if won {
        ::metrics::set_global_recorder(recorder).context(
            "another metrics recorder is installed in this process; /metrics cannot be served",
        )?;
        describe();
        let upkeep = installed.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                }
            })
            .context("cannot start the metrics upkeep thread")?;
    }
    Ok(installed)
}

/// Whether the process's recorder is installed (so that callers skip
/// gathering what they would record into nothing).
pub fn installed() -> bool {
    HANDLE.get().is_some()
}

/// The exposition text of every metric, if the recorder is installed.
pub fn render() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}

/// The help text of every metric.
fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer a request, by method, route pattern and status"
    );
    describe_counter!(PROBLEMS, "Problem answers, by code");
    describe_counter!(
        SYNC_PUSHED_DOCUMENTS,
        "Pushed documents in committed syncs, by push status"
    );
    describe_counter!(
        SYNC_PUSHED_CHANGES,
        "Automerge changes new to the server in committed pushes"
    );
    describe_counter!(
        SYNC_PULLED_DOCUMENTS,
        "Documents pulled by devices, whole or as changes"
    );
    describe_counter!(
        SYNC_PULLED_BYTES,
        Unit::Bytes,
        "Automerge bytes pulled by devices"
    );
    describe_counter!(
        SYNC_NOTICES,
        "Notices of corrected and refused pushed documents, by code"
    );
    describe_counter!(DOC_CACHE_LOOKUPS, "Document cache lookups, by result");
    describe_gauge!(DOC_CACHE_DOCUMENTS, "Documents held by the document cache");
    describe_gauge!(
        DOC_CACHE_BYTES,
        Unit::Bytes,
        "Memory the document cache holds, as it weighs documents"
    );
    describe_gauge!(
        DB_POOL_CONNECTIONS,
        "Database pool connections, by state (in_use, idle)"
    );
    describe_gauge!(
        DB_POOL_MAX_CONNECTIONS,
        "The most connections the database pool may open"
    );
}

/// A request answered.
pub fn request(method: &str, route: &str, status: u16, elapsed: Duration) {
    ::metrics::histogram!(
        REQUEST_DURATION,
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string(),
    )
    .record(elapsed.as_secs_f64());
}

/// A problem rendered.
pub fn problem(code: &'static str) {
    ::metrics::counter!(PROBLEMS, "code" => code).increment(1);
}

/// A pushed document's outcome in a committed sync (`applied`,
/// `corrected`, `unchanged`, `refused`).
pub fn pushed_document(status: &'static str) {
    ::metrics::counter!(SYNC_PUSHED_DOCUMENTS, "status" => status).increment(1);
}

/// Changes new to the server in a committed push.
pub fn pushed_changes(count: u64) {
    ::metrics::counter!(SYNC_PUSHED_CHANGES).increment(count);
}

/// A notice answered to a push (`status`: `corrected` or `refused`).
pub fn sync_notice(code: &str, status: &'static str) {
    ::metrics::counter!(SYNC_NOTICES, "code" => code.to_owned(), "status" => status).increment(1);
}

/// A document pulled, whole or as changes, of `bytes` bytes.
pub fn pulled_document(whole: bool, bytes: usize) {
    let form = if whole { "whole" } else { "changes" };
    ::metrics::counter!(SYNC_PULLED_DOCUMENTS, "form" => form).increment(1);
    ::metrics::counter!(SYNC_PULLED_BYTES).increment(u64::try_from(bytes).unwrap_or(u64::MAX));
}

/// A document cache lookup.
pub fn doc_cache_lookup(hit: bool) {
    let result = if hit { "hit" } else { "miss" };
    ::metrics::counter!(DOC_CACHE_LOOKUPS, "result" => result).increment(1);
}

/// What the document cache holds now.
pub fn doc_cache_usage(documents: usize, bytes: u64) {
    ::metrics::gauge!(DOC_CACHE_DOCUMENTS).set(documents as f64);
    ::metrics::gauge!(DOC_CACHE_BYTES).set(bytes as f64);
}

/// The database pool now.
pub fn db_pool(in_use: u32, idle: u32, max: u32) {
    ::metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "in_use").set(f64::from(in_use));
    ::metrics::gauge!(DB_POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
    ::metrics::gauge!(DB_POOL_MAX_CONNECTIONS).set(f64::from(max));
}
