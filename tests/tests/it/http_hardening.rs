//! What every request and response gets whatever the route: a deadline for
//! the body (a client trickling a body is cut off), and the security
//! headers (`nosniff`, no caching of API answers, no framing).

use kam_tests::{Reply, TestApp};
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` and then `body_len` bytes of body, one every 200 ms, while
/// reading the answer; returns what the server answered and how many body
/// bytes had been sent by then.
async fn trickle(port: u16, head: &str, body_len: usize) -> anyhow::Result<(String, usize)> {
    let stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await?;
    let mut sent = 0;
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            read = reader.read(&mut buffer) => {
                let read = read?;
                if read == 0 {
                    break;
                }
                answer.extend_from_slice(&buffer[..read]);
            }
            _ = ticks.tick(), if sent < body_len => {
                // The server may have closed its side already.
                if writer.write_all(b" ").await.is_err() {
                    continue;
                }
                sent += 1;
            }
        }
    }
    Ok((String::from_utf8_lossy(&answer).into_owned(), sent))
}

#[tokio::test]
async fn a_body_trickled_slowly_is_cut_off_at_the_body_deadline() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(|settings| settings.server.body_timeout_secs = 1).await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    // A body of 60 bytes at 5 bytes a second takes 12 s; the deadline is 1 s.
    let body_len = 60;
    let requests = [
        ("/api/v1/auth/login", "application/json", None),
        ("/api/v1/sync", "application/json", Some(&rep.access_token)),
        (
            "/api/v1/accounts",
            "application/json",
            Some(&rep.access_token),
        ),
    ];
    for (path, content_type, token) in requests {
        let authorization = token
            .map(|token| format!("Authorization: Bearer {token}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
             {authorization}Content-Length: {body_len}\r\n\r\n"
        );
        let (answer, sent) = trickle(app.port, &head, body_len).await?;
        assert!(
            sent < body_len,
            "{path}: the server waited for the whole trickled body and answered {:?}",
            answer.lines().next()
        );
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{path} answered {answer}"
        );
        assert!(answer.contains("body_timeout"), "{path} answered {answer}");
    }
    Ok(())
}

fn assert_header(reply: &Reply, what: &str, name: &str, expected: &str) {
    assert_eq!(
        reply.header(name),
        Some(expected),
        "{what}: {name} in {:?}",
        reply.headers
    );
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let api = app.api();
    let login = api
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": org.rep_a1.password }),
        )
        .await?;
    login.assert_status(200);
    let refresh_token = login.body["refresh_token"].as_str().unwrap_or_default();
    let refresh = api
        .post("/auth/refresh", &json!({ "refresh_token": refresh_token }))
        .await?;
    refresh.assert_status(200);
    let rep = app.login_as(&org.rep_a1).await?;
    let answers = [
        ("login", login),
        ("refresh", refresh),
        (
            "wrong password",
            api.post(
                "/auth/login",
                &json!({ "username": "rep_a1", "password": "wrong-password" }),
            )
            .await?,
        ),
        ("a list", rep.get("/accounts").await?),
        ("no token", api.get("/accounts").await?),
        ("no route", api.get("/no/such/route").await?),
        ("export", rep.get("/export/accounts").await?),
        ("document", api.get("/openapi.json").await?),
    ];
    for (what, reply) in &answers {
        assert_header(reply, what, "x-content-type-options", "nosniff");
        assert_header(reply, what, "cache-control", "no-store");
        assert_header(reply, what, "referrer-policy", "no-referrer");
        assert_header(reply, what, "x-frame-options", "DENY");
        assert_header(
            reply,
            what,
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        );
    }

    // The Swagger UI runs its scripts and styles, and may not be framed either.
    for path in ["/docs/", "/docs/swagger-ui-bundle.js", "/healthz"] {
        let reply = Reply::read(api.http().get(api.root_url(path)).send().await?).await?;
        reply.assert_status(200);
        assert_header(&reply, path, "x-content-type-options", "nosniff");
        assert_header(&reply, path, "x-frame-options", "DENY");
        assert_header(&reply, path, "referrer-policy", "no-referrer");
        assert_header(
            &reply,
            path,
            "content-security-policy",
            "frame-ancestors 'none'",
        );
    }
    Ok(())
}
