//! The console's cookie session (`/auth/console/*`) and its files at `/`,
//! over plain HTTP: the cookie's attributes, refresh rotation, the
//! cross-site refusal, logout, and the page's Content-Security-Policy.
//! (The console itself is driven in a real browser in `console.rs`.)

use kam_tests::{Method, PROBLEM_JSON, Reply, TestApp};
use serde_json::json;

const MARK: (&str, &str) = ("X-KAM-Console", "1");

/// The `kam_console_refresh` cookie's value in a `Set-Cookie`, and the whole header.
fn refresh_cookie(reply: &Reply) -> anyhow::Result<(String, String)> {
    let header = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("kam_console_refresh="))
        .ok_or_else(|| anyhow::anyhow!("no refresh cookie in {:?}", reply.headers))?
        .to_owned();
    let value = header
        .trim_start_matches("kam_console_refresh=")
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((value, header))
}

async fn console_login(app: &TestApp, username: &str, password: &str) -> anyhow::Result<Reply> {
    let api = app.api();
    api.send(
        api.request(Method::POST, "/auth/console/login")
            .header(MARK.0, MARK.1)
            .json(
                &json!({ "username": username, "password": password, "device_id": "console-test" }),
            ),
    )
    .await
}

async fn console_refresh(app: &TestApp, cookie: Option<&str>) -> anyhow::Result<Reply> {
    let api = app.api();
    let mut request = api
        .request(Method::POST, "/auth/console/refresh")
        .header(MARK.0, MARK.1);
    if let Some(value) = cookie {
        request = request.header("Cookie", format!("kam_console_refresh={value}"));
    }
    api.send(request).await
}

#[tokio::test]
async fn login_puts_the_refresh_token_in_an_http_only_strict_cookie_and_not_in_the_body()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let reply = console_login(&app, &org.rep_a1.username, &org.rep_a1.password).await?;
    reply.assert_status(200);
    assert!(reply.body.get("refresh_token").is_none(), "{}", reply.body);
    let token = reply.body["access_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no access token: {}", reply.body))?;
    let (value, header) = refresh_cookie(&reply)?;
    assert!(value.len() >= 32, "{header}");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/v1/auth/console",
    ] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    // The access token opens the API like any other.
    let me = app.api().with_token(token).get("/auth/me").await?;
    me.assert_status(200);
    assert_eq!(me.body["device_id"], "console-test");
    Ok(())
}

#[tokio::test]
async fn refresh_rotates_the_cookie_and_a_replayed_cookie_ends_the_session() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let login = console_login(&app, &org.rep_a1.username, &org.rep_a1.password).await?;
    let (first, _) = refresh_cookie(&login)?;

    let renewed = console_refresh(&app, Some(&first)).await?;
    renewed.assert_status(200);
    let (second, _) = refresh_cookie(&renewed)?;
    assert_ne!(first, second);
    let token = renewed.body["access_token"].as_str().unwrap_or_default();
    app.api()
        .with_token(token)
        .get("/auth/me")
        .await?
        .assert_status(200);

    // The first cookie again: the session ends, and the cookie is removed.
    let replayed = console_refresh(&app, Some(&first)).await?;
    replayed.assert_problem(401, "refresh_token_reused");
    let (removed, header) = refresh_cookie(&replayed)?;
    assert!(
        removed.is_empty() && header.contains("Max-Age=0"),
        "{header}"
    );
    console_refresh(&app, Some(&second))
        .await?
        .assert_problem(401, "session_revoked");
    Ok(())
}

#[tokio::test]
async fn refresh_without_a_cookie_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    console_refresh(&app, None)
        .await?
        .assert_problem(401, "invalid_refresh_token");
    Ok(())
}

#[tokio::test]
async fn session_requests_another_site_could_make_are_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let api = app.api();
    let body = json!({ "username": org.rep_a1.username, "password": org.rep_a1.password });
    // A cross-site form cannot set the marker header.
    let unmarked = api
        .send(api.request(Method::POST, "/auth/console/login").json(&body))
        .await?;
    unmarked.assert_problem(403, "cross_site_refused");
    assert_eq!(unmarked.header("content-type"), Some(PROBLEM_JSON));
    assert!(unmarked.header("set-cookie").is_none());
    // A script on another origin that got the header through.
    let foreign = api
        .send(
            api.request(Method::POST, "/auth/console/login")
                .header(MARK.0, MARK.1)
                .header("Origin", "https://evil.example")
                .json(&body),
        )
        .await?;
    foreign.assert_problem(403, "cross_site_refused");
    // The page's own origin passes.
    let own = api
        .send(
            api.request(Method::POST, "/auth/console/login")
                .header(MARK.0, MARK.1)
                .header("Origin", app.address.clone())
                .json(&body),
        )
        .await?;
    own.assert_status(200);
    let (cookie, _) = refresh_cookie(&own)?;
    let refresh_unmarked = api
        .send(
            api.request(Method::POST, "/auth/console/refresh")
                .header("Cookie", format!("kam_console_refresh={cookie}")),
        )
        .await?;
    refresh_unmarked.assert_problem(403, "cross_site_refused");
    // The refused refresh did not spend the cookie.
    console_refresh(&app, Some(&cookie))
        .await?
        .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn logout_ends_the_session_and_removes_the_cookie() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let login = console_login(&app, &org.manager.username, &org.manager.password).await?;
    let (cookie, _) = refresh_cookie(&login)?;
    let token = login.body["access_token"].as_str().unwrap_or_default();
    let api = app.api().with_token(token);
    let out = api
        .send(
            api.request(Method::POST, "/auth/console/logout")
                .header(MARK.0, MARK.1),
        )
        .await?;
    out.assert_status(204);
    let (removed, header) = refresh_cookie(&out)?;
    assert!(
        removed.is_empty() && header.contains("Max-Age=0"),
        "{header}"
    );
    api.get("/auth/me")
        .await?
        .assert_problem(401, "session_revoked");
    console_refresh(&app, Some(&cookie))
        .await?
        .assert_problem(401, "session_revoked");
    Ok(())
}

#[tokio::test]
async fn wrong_passwords_are_throttled_as_on_the_api_login() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut last = None;
    for _ in 0..6 {
        last = Some(console_login(&app, &org.rep_a1.username, "wrong-password").await?);
    }
    let last = last.ok_or_else(|| anyhow::anyhow!("no attempt"))?;
    last.assert_problem(429, "too_many_attempts");
    assert!(last.header("retry-after").is_some());
    Ok(())
}

#[tokio::test]
async fn the_console_page_and_its_files_load_from_this_origin_only() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let http = app.api().http().clone();
    let page = http.get(app.api().root_url("/")).send().await?;
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let text = page.text().await?;
    assert!(text.contains("/console/js/main.js"), "{text}");
    let policy = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        policy.contains("default-src 'self'") && policy.contains("script-src 'self'"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe"), "{policy}");
    let etag = headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    // Unchanged: 304.
    let again = http
        .get(app.api().root_url("/"))
        .header("If-None-Match", &etag)
        .send()
        .await?;
    assert_eq!(again.status(), 304);

    let script = http
        .get(app.api().root_url("/console/js/main.js"))
        .send()
        .await?;
    assert_eq!(script.status(), 200);
    assert_eq!(
        script
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/javascript; charset=utf-8")
    );
    // Only the console's own names are served: no path walks out of it.
    for path in [
        "/console/../Cargo.toml",
        "/console/js/../../src/console.rs",
        "/console/nope.js",
    ] {
        let reply = Reply::read(http.get(app.api().root_url(path)).send().await?).await?;
        reply.assert_problem(404, "route_not_found");
    }
    Ok(())
}
