//! Prometheus `/metrics` (docs/metrics.md): not served unless configured,
//! guarded by its own token on the main listener or served alone on a
//! listener of its own, and counting requests by route pattern and status,
//! sync pushes and pulls, notices and problems by code.
//!
//! The recorder is one per process and every test server counts into it,
//! so a test reads a figure before and after what it does and expects it to
//! have grown by at least its own share.

use anyhow::{Context, bail};
use kam_tests::{Device, PROBLEM_JSON, Reply, TestApp, new_account};
use serde_json::json;
use uuid::Uuid;

const TOKEN: &str = "a-metrics-token-for-tests";

/// A server whose main listener serves `/metrics` to [`TOKEN`].
async fn with_token() -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.metrics.token = Some(TOKEN.into());
    })
    .await
}

/// The URL of `path` on `app`'s main listener.
fn at(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address)
}

fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build the HTTP client")
}

/// `GET url`, with `token` as a bearer token when given.
async fn get(url: &str, token: Option<&str>) -> anyhow::Result<Reply> {
    let mut request = client()?.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    Reply::read(request.send().await.context("GET failed")?).await
}

/// The exposition text of `app`'s main listener, read with the token.
async fn scrape(app: &TestApp) -> anyhow::Result<String> {
    let reply = get(&at(app, "/metrics"), Some(TOKEN))
        .await?
        .ensure_status(200)?;
    exposition(&reply)
}

/// The text of a reply in the exposition format.
fn exposition(reply: &Reply) -> anyhow::Result<String> {
    let media = reply.header("content-type").unwrap_or_default();
    if !media.starts_with("text/plain") {
        bail!("/metrics answered {media}, not text/plain");
    }
    reply
        .body
        .as_str()
        .map(str::to_owned)
        .context("the exposition is not text")
}

/// The sum of the samples of `name` whose labels include every one of
/// `labels` (0 when there is none).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let matches = metric == name
                && labels
                    .iter()
                    .all(|(key, value)| label_text.contains(&format!("{key}=\"{value}\"")));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[tokio::test]
async fn metrics_are_not_served_unless_configured() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    get(&at(&app, "/metrics"), None)
        .await?
        .assert_problem(404, "route_not_found");
    get(&at(&app, "/metrics"), Some(TOKEN))
        .await?
        .assert_problem(404, "route_not_found");
    Ok(())
}

#[tokio::test]
async fn the_main_listener_serves_metrics_only_with_their_token() -> anyhow::Result<()> {
    let app = with_token().await;
    let missing = get(&at(&app, "/metrics"), None).await?;
    missing.assert_problem(401, "missing_token");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    get(&at(&app, "/metrics"), Some("not-the-metrics-token"))
        .await?
        .assert_problem(401, "invalid_token");
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    get(&at(&app, "/metrics"), Some(&rep.access_token))
        .await?
        .assert_problem(401, "invalid_token");
    let text = scrape(&app).await?;
    assert!(text.contains("# TYPE kam_http_request_duration_seconds histogram"));
    assert!(sample(&text, "kam_db_pool_max_connections", &[]) >= 1.0);
    assert!(text.contains("kam_db_pool_connections{state=\"idle\"}"));
    assert!(text.contains("kam_doc_cache_bytes"));
    Ok(())
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_and_status() -> anyhow::Result<()> {
    let app = with_token().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Wuxi Steel")).await?;
    let read = [
        ("method", "GET"),
        ("route", "/api/v1/accounts/{id}"),
        ("status", "200"),
    ];
    let count = "kam_http_request_duration_seconds_count";
    let before = sample(&scrape(&app).await?, count, &read);
    rep.get(&format!("/accounts/{}", account.id))
        .await?
        .ensure_status(200)?;
    rep.get(&format!("/accounts/{}", Uuid::now_v7()))
        .await?
        .assert_problem(404, "not_found");
    let text = scrape(&app).await?;
    assert!(sample(&text, count, &read) >= before + 1.0, "{text}");
    let missing = [("route", "/api/v1/accounts/{id}"), ("status", "404")];
    assert!(sample(&text, count, &missing) >= 1.0, "{text}");
    let fast = [
        ("route", "/api/v1/accounts/{id}"),
        ("status", "200"),
        ("le", "10"),
    ];
    assert!(
        sample(&text, "kam_http_request_duration_seconds_bucket", &fast) >= 1.0,
        "the buckets reach 10 s"
    );
    assert!(
        !text.contains(&account.id.to_string()),
        "a record id leaked into a label"
    );
    get(&at(&app, "/no/such/page"), None)
        .await?
        .assert_status(404);
    let text = scrape(&app).await?;
    assert!(
        sample(&text, count, &[("route", "unmatched"), ("status", "404")]) >= 1.0,
        "{text}"
    );
    assert!(!text.contains("/no/such/page"));
    Ok(())
}

#[tokio::test]
async fn refusals_are_counted_by_their_code() -> anyhow::Result<()> {
    let app = with_token().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let problems = "kam_http_problems_total";
    let text = scrape(&app).await?;
    let (not_found, invalid) = (
        sample(&text, problems, &[("code", "not_found")]),
        sample(&text, problems, &[("code", "validation_failed")]),
    );
    rep.get(&format!("/accounts/{}", Uuid::now_v7()))
        .await?
        .assert_problem(404, "not_found");
    rep.post("/accounts", &json!({"name": ""}))
        .await?
        .assert_status(422);
    let text = scrape(&app).await?;
    assert!(sample(&text, problems, &[("code", "not_found")]) >= not_found + 1.0);
    assert!(sample(&text, problems, &[("code", "validation_failed")]) >= invalid + 1.0);
    Ok(())
}

#[tokio::test]
async fn a_sync_push_moves_the_sync_counters() -> anyhow::Result<()> {
    let app = with_token().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let kept = rest.create_account(new_account("Bank of Ningbo")).await?;
    let reassigned = rest.create_account(new_account("Bank of Suzhou")).await?;
    let before = scrape(&app).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit_account(kept.id.0, json!({"notes": "Renewal in May."}))?;
    phone.edit_account(reassigned.id.0, json!({"owner_id": org.rep_a2.id}))?;
    let outcome = phone.sync().await?;
    assert!(
        outcome
            .notices
            .iter()
            .any(|notice| notice.code == "owner_change_forbidden"),
        "{:?}",
        outcome.notices
    );
    assert_eq!(
        rest.account(kept.id).await?.account.notes,
        "Renewal in May."
    );
    let after = scrape(&app).await?;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        sample(&after, name, labels) - sample(&before, name, labels)
    };
    assert!(grew("kam_sync_pushed_documents_total", &[("status", "applied")]) >= 1.0);
    assert!(
        grew(
            "kam_sync_pushed_documents_total",
            &[("status", "corrected")]
        ) >= 1.0
    );
    assert!(grew("kam_sync_pushed_changes_total", &[]) >= 2.0);
    assert!(
        grew(
            "kam_sync_notices_total",
            &[("code", "owner_change_forbidden"), ("status", "corrected")]
        ) >= 1.0
    );
    assert!(grew("kam_sync_pulled_documents_total", &[]) >= 1.0);
    assert!(grew("kam_sync_pulled_bytes_total", &[]) >= 1.0);
    assert!(grew("kam_doc_cache_lookups_total", &[]) >= 1.0);
    assert!(
        grew(
            "kam_http_request_duration_seconds_count",
            &[("route", "/api/v1/sync"), ("status", "200")]
        ) >= 2.0
    );
    Ok(())
}

#[tokio::test]
async fn a_metrics_listener_of_its_own_serves_them_and_the_main_one_does_not() -> anyhow::Result<()>
{
    let app = TestApp::spawn_with(|settings| {
        settings.metrics.bind = Some("127.0.0.1:0".into());
    })
    .await;
    let port = app.metrics_port.context("no metrics listener")?;
    let reply = get(&format!("http://127.0.0.1:{port}/metrics"), None)
        .await?
        .ensure_status(200)?;
    let text = exposition(&reply)?;
    assert!(text.contains("kam_db_pool_max_connections"));
    get(&at(&app, "/metrics"), None)
        .await?
        .assert_problem(404, "route_not_found");
    let elsewhere = get(&format!("http://127.0.0.1:{port}/api/v1/accounts"), None).await?;
    elsewhere.assert_problem(404, "route_not_found");
    assert_eq!(elsewhere.header("content-type"), Some(PROBLEM_JSON));
    Ok(())
}
