//! Bad requests: each gets its 4xx `application/problem+json` with a stable
//! `code`, and none of them changes any data.

use kam_server::records::accounts::AccountView;
use kam_tests::{Method, PROBLEM_JSON, Reply, Session, TestApp, new_account};
use serde_json::{Value, json};

/// A server with one account, owned by `rep`.
struct Fixture {
    app: TestApp,
    rep: Session,
    account: AccountView,
    path: String,
}

impl Fixture {
    async fn new() -> anyhow::Result<Self> {
        let app = TestApp::spawn().await;
        let org = app.seed_org().await?;
        let rep = app.login_as(&org.rep_a1).await?;
        let account = rep
            .create_account(json!({
                "name": "Untouchable",
                "segment": "financial",
                "industry": "banking",
                "address": { "city": "Beijing" },
                "tags": ["vip"],
            }))
            .await?;
        let path = format!("/accounts/{}", account.id);
        Ok(Self {
            app,
            rep,
            account,
            path,
        })
    }

    /// Sends `body` as is, with `content_type`.
    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<Reply> {
        let mut request = self.rep.request(method, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.rep.send(request).await
    }

    /// Asserts that the account reads as it was made and is still the only one.
    async fn assert_nothing_changed(&self) -> anyhow::Result<()> {
        let now = self.rep.account(self.account.id).await?;
        assert_eq!(now.account, self.account.account);
        assert_eq!(now.version, self.account.version);
        let all = self.rep.list_accounts("include_deleted=true").await?;
        assert_eq!(all.len(), 1, "no account was created");
        Ok(())
    }
}

/// Asserts a 422 whose violations name `field`.
#[track_caller]
fn assert_names_field(reply: &Reply, field: &str) {
    assert_eq!(reply.status, 422, "body: {}", reply.body);
    assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));
    assert!(
        reply.violated_fields().iter().any(|f| f == field),
        "the violations should name {field:?}: {}",
        reply.body
    );
}

#[tokio::test]
async fn malformed_json_is_400_malformed_json() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for body in [
        r#"{"name": "#,
        r#"{"name": "x",}"#,
        r#"{"name": "x"} trailing"#,
        "{'name': 'x'}",
        "",
    ] {
        for (method, path) in [
            (Method::POST, "/accounts"),
            (Method::PATCH, f.path.as_str()),
        ] {
            let reply = f
                .send_raw(method.clone(), path, Some("application/json"), body)
                .await?;
            assert_eq!(
                reply.code(),
                Some("malformed_json"),
                "{method} {body:?}: {}",
                reply.body
            );
            reply.assert_problem(400, "malformed_json");
        }
    }
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn an_unknown_field_is_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let mut body = new_account("Colourful");
    body["colour"] = json!("red");
    let reply = f.rep.post("/accounts", &body).await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "colour");

    let reply = f.rep.patch(&f.path, &json!({ "colour": "red" })).await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "colour");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn an_unknown_nested_field_is_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let reply = f
        .rep
        .patch(&f.path, &json!({ "address": { "planet": "Mars" } }))
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "address.planet");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_wrong_enum_value_is_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let reply = f
        .rep
        .post(
            "/accounts",
            &json!({ "name": "Aliens", "segment": "martian" }),
        )
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "segment");

    for (field, value) in [
        ("stage", "bogus"),
        ("segment", "martian"),
        ("proposed_tier", "gold"),
    ] {
        let reply = f.rep.patch(&f.path, &json!({ field: value })).await?;
        reply.assert_problem(422, "validation_failed");
        assert_names_field(&reply, field);
    }
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_missing_name_is_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let reply = f
        .rep
        .post("/accounts", &json!({ "segment": "enterprise" }))
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "name");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn clearing_the_name_is_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let reply = f.rep.patch(&f.path, &json!({ "name": null })).await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "name");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_blank_name_is_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let reply = f
        .rep
        .post(
            "/accounts",
            &json!({ "name": "   ", "segment": "enterprise" }),
        )
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "name");

    let reply = f.rep.patch(&f.path, &json!({ "name": "  " })).await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "name");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_422() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for body in [
        json!([]),
        json!([{ "name": "x" }]),
        json!("name"),
        json!(42),
        Value::Null,
    ] {
        for (method, path) in [
            (Method::POST, "/accounts"),
            (Method::PATCH, f.path.as_str()),
        ] {
            let reply = f
                .rep
                .send(f.rep.request(method.clone(), path).json(&body))
                .await?;
            assert_eq!(reply.status, 422, "{method} {body}: {}", reply.body);
            assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));
            assert_eq!(reply.code(), Some("invalid_body"), "{method} {body}");
        }
    }
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn out_of_range_and_overlong_values_are_422_naming_the_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for (patch, field) in [
        (json!({ "scores": { "need": 101 } }), "scores.need"),
        (json!({ "scores": { "loyalty": -1 } }), "scores.loyalty"),
        (json!({ "name": "x".repeat(201) }), "name"),
        (json!({ "tags": ["ok", " "] }), "tags.1"),
        (json!({ "industry": "y".repeat(201) }), "industry"),
        (json!({ "scores": { "need": "high" } }), "scores.need"),
    ] {
        let reply = f.rep.patch(&f.path, &patch).await?;
        reply.assert_problem(422, "validation_failed");
        assert_names_field(&reply, field);
    }
    let mut body = new_account("Bad id");
    body["id"] = json!("not-a-uuid");
    let reply = f.rep.post("/accounts", &body).await?;
    assert_names_field(&reply, "id");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn an_oversized_body_is_413_payload_too_large() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let huge = "x".repeat(2 * 1024 * 1024 + 1);
    let mut body = new_account("Huge");
    body["notes"] = json!(huge);
    f.rep
        .post("/accounts", &body)
        .await?
        .assert_problem(413, "payload_too_large");
    f.rep
        .patch(&f.path, &json!({ "notes": huge }))
        .await?
        .assert_problem(413, "payload_too_large");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn an_oversized_chunked_body_is_413_payload_too_large() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let mut body = new_account("Streamed");
    body["notes"] = json!("x".repeat(3 * 1024 * 1024));
    let status_line = post_chunked(&f, &serde_json::to_vec(&body)?).await?;
    assert!(
        status_line.starts_with("HTTP/1.1 413"),
        "got {status_line:?}"
    );
    f.assert_nothing_changed().await
}

/// POSTs a new account with `Transfer-Encoding: chunked` (no length known
/// up front) over a plain socket; returns the response's status line.
async fn post_chunked(f: &Fixture, body: &[u8]) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", f.app.port)).await?;
    let head = format!(
        "POST /api/v1/accounts HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        f.rep.access_token
    );
    socket.write_all(head.as_bytes()).await?;
    for chunk in body.chunks(64 * 1024) {
        let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
        framed.extend_from_slice(chunk);
        framed.extend_from_slice(b"\r\n");
        // The server may answer and close before the whole body is sent.
        if socket.write_all(&framed).await.is_err() {
            break;
        }
    }
    socket.write_all(b"0\r\n\r\n").await.ok();
    let mut response = Vec::new();
    socket.read_to_end(&mut response).await.ok();
    let text = String::from_utf8_lossy(&response);
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_bad_uuid_in_the_path_is_400_invalid_path() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for path in ["/accounts/not-a-uuid", "/accounts/1234", "/accounts/%00"] {
        f.rep.get(path).await?.assert_problem(400, "invalid_path");
        f.rep
            .patch(path, &json!({ "industry": "x" }))
            .await?
            .assert_problem(400, "invalid_path");
        f.rep
            .delete(path)
            .await?
            .assert_problem(400, "invalid_path");
    }
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_bad_query_parameter_is_400_invalid_query() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for query in [
        "tier=platinum",
        "segment=martian",
        "stage=sleeping",
        "limit=abc",
        "limit=0",
        "limit=100000",
        "limit=-1",
        "updated_since=yesterday",
        "include_deleted=maybe",
        "owner_id=123",
        "colour=red",
    ] {
        let reply = f.rep.get(&format!("/accounts?{query}")).await?;
        assert_eq!(
            reply.code(),
            Some("invalid_query"),
            "{query}: {}",
            reply.body
        );
        reply.assert_problem(400, "invalid_query");
    }
    Ok(())
}

#[tokio::test]
async fn a_bad_cursor_is_400_invalid_cursor() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for cursor in ["garbage!!", "djI6MTA", "djE6YWJj", "", "dj%00"] {
        let reply = f.rep.get(&format!("/accounts?cursor={cursor}")).await?;
        assert_eq!(
            reply.code(),
            Some("invalid_cursor"),
            "{cursor}: {}",
            reply.body
        );
        reply.assert_problem(400, "invalid_cursor");
    }
    Ok(())
}

#[tokio::test]
async fn a_wrong_content_type_is_415() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let body = new_account("Typed wrong").to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/xml"),
        None,
    ] {
        for (method, path) in [
            (Method::POST, "/accounts"),
            (Method::PATCH, f.path.as_str()),
        ] {
            let reply = f
                .send_raw(method.clone(), path, content_type, body.clone())
                .await?;
            assert_eq!(
                reply.status, 415,
                "{method} {content_type:?}: {}",
                reply.body
            );
            reply.assert_problem(415, "unsupported_media_type");
        }
    }
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_merge_patch_content_type_is_accepted() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let reply = f
        .send_raw(
            Method::PATCH,
            &f.path,
            Some("application/merge-patch+json"),
            json!({ "industry": "insurance" }).to_string(),
        )
        .await?;
    reply.assert_status(200);
    let read = f.rep.account(f.account.id).await?;
    assert_eq!(read.account.industry.as_deref(), Some("insurance"));
    Ok(())
}

#[tokio::test]
async fn an_unknown_route_is_404_route_not_found() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for path in ["/nope", "/accounts/extra/segments", "/account"] {
        f.rep
            .get(path)
            .await?
            .assert_problem(404, "route_not_found");
    }
    let api = f.rep.api();
    for url in [api.root_url("/nope"), api.root_url("/api/v2/accounts")] {
        let reply = api.send(api.http().get(&url)).await?;
        reply.assert_problem(404, "route_not_found");
    }
    Ok(())
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405_with_allow() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    for (method, path, allowed) in [
        (Method::PUT, "/accounts", "GET, POST"),
        (Method::TRACE, "/accounts", "GET, POST"),
        (Method::POST, f.path.as_str(), "GET, DELETE, PATCH"),
        (Method::GET, "/auth/login", "POST"),
    ] {
        let reply = f.rep.send(f.rep.request(method.clone(), path)).await?;
        reply.assert_problem(405, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allowed), "{method} {path}");
    }
    let api = f.rep.api();
    let reply = api
        .send(api.http().delete(api.root_url("/healthz")))
        .await?;
    reply.assert_problem(405, "method_not_allowed");
    assert_eq!(reply.header("allow"), Some("GET"));
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_team_id_in_a_create_body_is_422_read_only_field() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let mut body = new_account("Team chooser");
    body["team_id"] = json!(uuid::Uuid::now_v7());
    let reply = f.rep.post("/accounts", &body).await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "team_id");
    assert_eq!(reply.body["violations"][0]["code"], "read_only_field");

    let reply = f
        .rep
        .patch(&f.path, &json!({ "team_id": uuid::Uuid::now_v7() }))
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.body["violations"][0]["code"], "read_only_field");
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn deeply_nested_json_is_refused_and_the_server_carries_on() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let depth = 100_000;
    let body = format!(
        r#"{{"name": "Deep", "segment": "other", "notes": {}{}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let reply = f
        .send_raw(Method::POST, "/accounts", Some("application/json"), body)
        .await?;
    assert!(
        reply.status.is_client_error(),
        "{}: {}",
        reply.status,
        reply.body
    );
    assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));
    f.assert_nothing_changed().await
}

#[tokio::test]
async fn a_bad_login_body_is_refused_without_a_session() -> anyhow::Result<()> {
    let f = Fixture::new().await?;
    let anonymous = f.app.api();
    let reply = anonymous
        .post("/auth/login", &json!({ "username": "rep_a1" }))
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));

    let reply = anonymous
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": "rep_a1-secret-pw", "device_id": "d".repeat(129) }),
        )
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_names_field(&reply, "device_id");

    let reply = anonymous
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": "rep_a1-secret-pw", "remember_me": true }),
        )
        .await?;
    assert_eq!(reply.status, 422, "{}", reply.body);
    Ok(())
}

#[tokio::test]
async fn a_nul_character_in_a_record_is_422_not_a_database_error() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Nul\u{0}Corp");
    rep.post("/accounts", &body)
        .await?
        .assert_violation("name", "invalid_value");
    body["name"] = json!("Clean Corp");
    body["tags"] = json!(["fine", "bad\u{0}"]);
    rep.post("/accounts", &body)
        .await?
        .assert_violation("tags.1", "invalid_value");
    assert!(
        rep.list_accounts("").await?.is_empty(),
        "nothing was stored"
    );
    Ok(())
}
