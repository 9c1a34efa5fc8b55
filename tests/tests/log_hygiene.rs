//! Log hygiene: whatever the server logs, at any level and in either format,
//! never holds a password, an access or refresh token (nor a token's
//! signature), or the key tokens are signed with; and what the real binary
//! prints with its default filter is one line per request, no ERROR for an
//! expected path, and no colour when its output is not a terminal.
//!
//! For the secrets, the server runs in this process, and
//! [`no_password_token_or_signing_key_is_ever_logged`] installs the global
//! subscriber itself, before its server starts: every event and every span
//! (with the fields recorded on it by the end, such as
//! `exception.details`), at TRACE for every target, as text and as JSON
//! lines, into memory. That is more than `kam_server::telemetry` prints at
//! any `KAM_LOG` level. It is the only test here that installs a
//! subscriber; the others read the standard output of a `kam-server`
//! process ([`kam_tests::cli::ServerProcess`]) on the test's database.

use automerge::ActorId;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use kam_server::entities::server_value;
use kam_sync_core::protocol::SyncResponse;
use kam_sync_core::{Account, ChangeMeta, Replica};
use kam_tests::cli::ServerProcess;
use kam_tests::log_capture::LogCapture;
use kam_tests::{Device, Session, TestApp, new_account};
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;
use serde_json::json;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, fmt};
use uuid::Uuid;

fn capture_everything() -> anyhow::Result<LogCapture> {
    let capture = LogCapture::default();
    tracing_subscriber::registry()
        .with(EnvFilter::new("trace"))
        .with(
            fmt::layer()
                .with_ansi(false)
                .with_span_events(FmtSpan::FULL)
                .with_writer(capture.clone()),
        )
        .with(
            fmt::layer()
                .json()
                .with_span_list(true)
                .with_span_events(FmtSpan::CLOSE)
                .with_writer(capture.clone()),
        )
        .try_init()?;
    Ok(capture)
}

/// The key the server signs access tokens with, as configured or stored.
async fn signing_key(app: &TestApp) -> anyhow::Result<String> {
    if let Some(secret) = &app.state().settings.auth.jwt_secret {
        return Ok(secret.expose_secret().to_owned());
    }
    let stored = server_value::Entity::find_by_id("jwt_signing_key".to_owned())
        .one(app.db().conn())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no JWT key stored"))?;
    anyhow::ensure!(STANDARD.decode(&stored.value)?.len() >= 32);
    Ok(stored.value)
}

/// A session's tokens and the access token's signature.
fn secrets_of(session: &Session) -> Vec<String> {
    let signature = session
        .access_token
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_owned();
    vec![
        session.access_token.clone(),
        signature,
        session.refresh_token.clone(),
    ]
}

#[tokio::test]
async fn no_password_token_or_signing_key_is_ever_logged() -> anyhow::Result<()> {
    let capture = capture_everything()?;
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let api = app.api();
    let mut secrets = vec![org.rep_a1.password.clone(), org.admin.password.clone()];

    // Failed logins: a wrong password, and a body the server refuses.
    let wrong = "Wrong-Guess-Tr0ub4dor&3";
    secrets.push(wrong.to_owned());
    api.post(
        "/auth/login",
        &json!({ "username": "rep_a1", "password": wrong }),
    )
    .await?
    .assert_problem(401, "invalid_credentials");
    api.post(
        "/auth/login",
        &json!({ "username": "rep_a1", "password": org.rep_a1.password, "remember_me": true }),
    )
    .await?
    .assert_status(422);

    // A working session: reads, writes, a 404, a sync.
    let phone = app.login_as(&org.rep_a1).await?;
    secrets.extend(secrets_of(&phone));
    phone.get("/auth/me").await?.assert_status(200);
    let account = phone.create_account(new_account("Logged")).await?;
    phone
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "notes": "met the buyer" }),
        )
        .await?
        .assert_status(200);
    phone
        .get(&format!("/accounts/{}", Uuid::now_v7()))
        .await?
        .assert_problem(404, "not_found");
    let mut replica = Replica::new(ActorId::random());
    let meta = ChangeMeta {
        user: Some(org.rep_a1.id.into()),
        device: phone.device_id.clone(),
        time: Utc::now(),
    };
    replica.create::<Account>(
        Uuid::now_v7(),
        &serde_json::from_value(json!({
            "name": "Synced", "segment": "enterprise", "owner_id": org.rep_a1.id
        }))?,
        &meta,
    )?;
    let request = replica.prepare_sync();
    let response: SyncResponse = phone
        .post("/sync", &serde_json::to_value(&request)?)
        .await?
        .ensure_status(200)?
        .json()?;
    replica.apply_sync(response)?;

    // Tokens spoiled in ways that still contain the real one.
    for header in [
        format!("Bearer {}x", phone.access_token),
        format!("Basic {}", phone.access_token),
        format!("Bearer {}.{}", phone.access_token, phone.refresh_token),
    ] {
        let reply = api
            .send(
                api.request(kam_tests::Method::GET, "/auth/me")
                    .header("authorization", header),
            )
            .await?;
        assert_eq!(reply.status, 401);
    }

    // Refresh, then the old refresh token replayed: the session is revoked.
    let rotated = app.session(
        api.post(
            "/auth/refresh",
            &json!({ "refresh_token": phone.refresh_token }),
        )
        .await?
        .ensure_status(200)?
        .json()?,
        &phone.device_id,
    );
    secrets.extend(secrets_of(&rotated));
    api.post(
        "/auth/refresh",
        &json!({ "refresh_token": phone.refresh_token }),
    )
    .await?
    .assert_problem(401, "refresh_token_reused");
    api.post(
        "/auth/refresh",
        &json!({ "refresh_token": rotated.refresh_token, "extra": 1 }),
    )
    .await?
    .assert_status(422);

    // An admin creates a user and changes their password; a too short
    // password is refused.
    let admin = app.login_as(&org.admin).await?;
    secrets.extend(secrets_of(&admin));
    let first = "Fresh-user-password-1";
    let second = "Changed-password-2";
    let short = "Sh0rt!";
    secrets.extend([first, second, short].map(str::to_owned));
    let created = admin
        .post(
            "/users",
            &json!({
                "username": "newbie", "display_name": "Newbie", "password": first,
                "role": "rep", "team_id": org.team_a,
            }),
        )
        .await?
        .ensure_status(201)?;
    let id = created.body["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id: {}", created.body))?
        .to_owned();
    admin
        .post(
            "/users",
            &json!({
                "username": "shorty", "display_name": "Shorty", "password": short,
                "role": "rep", "team_id": org.team_a,
            }),
        )
        .await?
        .assert_status(422);
    admin
        .patch(&format!("/users/{id}"), &json!({ "password": second }))
        .await?
        .assert_status(200);
    let newbie = app.login("newbie", second, "newbie-phone").await?;
    secrets.extend(secrets_of(&newbie));
    newbie
        .post("/auth/logout", &json!({}))
        .await?
        .assert_status(204);
    secrets.push(signing_key(&app).await?);

    let logged = capture.text();
    // The capture saw the server at work: the test is not looking at nothing.
    for expected in [
        "failed login",
        "logged in",
        "refresh token reused",
        "user created",
        "/api/v1/auth/login",
        "/api/v1/sync",
        "exception.details",
        org.rep_a1.id.to_string().as_str(),
    ] {
        assert!(
            logged.contains(expected),
            "the capture lacks {expected:?}; is the server logging into it?"
        );
    }
    for secret in &secrets {
        assert!(secret.len() >= 6, "{secret:?} is too short to look for");
        if let Some(at) = logged.find(secret.as_str()) {
            let line_start = logged[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = logged[at..].find('\n').map_or(logged.len(), |i| at + i);
            panic!("a secret was logged:\n{}", &logged[line_start..line_end]);
        }
    }
    Ok(())
}

/// The request lines (see `kam_server::telemetry::KamRootSpan`) of `route`
/// in `printed`.
fn request_lines<'a>(printed: &'a str, route: &str) -> Vec<&'a str> {
    let field = format!(" route=\"{route}\"");
    printed
        .lines()
        .filter(|line| line.contains(&field))
        .collect()
}

#[tokio::test]
async fn a_sync_pushing_an_edit_to_an_existing_record_logs_no_error() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let server = ServerProcess::start(&app)?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.session = server.session(&phone.session);
    let account = phone.create(&serde_json::from_value::<Account>(json!({
        "name": "Edited offline", "segment": "enterprise", "owner_id": org.rep_a1.id
    }))?)?;
    phone.sync().await?;
    phone.edit_account(account, json!({ "notes": "met the buyer" }))?;
    phone.sync().await?;
    let printed = server.stop()?;

    let syncs = request_lines(&printed, "/api/v1/sync");
    assert!(syncs.len() >= 2, "the syncs were not logged:\n{printed}");
    let errors: Vec<&str> = printed.lines().filter(|l| l.contains(" ERROR ")).collect();
    assert!(
        errors.is_empty(),
        "an expected path logged errors:\n{errors:#?}"
    );
    let stored = app.login_as(&org.rep_a1).await?.account(account).await?;
    assert_eq!(stored.account.notes, "met the buyer");
    Ok(())
}

#[tokio::test]
async fn a_request_is_one_info_line_with_its_method_route_status_duration_and_user()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Logged once")).await?;
    let server = ServerProcess::start(&app)?;
    server
        .session(&rep)
        .get(&format!("/accounts/{}", account.id))
        .await?
        .assert_status(200);
    let printed = server.stop()?;

    let lines = request_lines(&printed, "/api/v1/accounts/{id}");
    assert_eq!(lines.len(), 1, "{printed}");
    let line = lines[0];
    for part in [
        " INFO ",
        " method=\"GET\"",
        " status=200",
        " duration_ms=",
        &format!(" user_id={}", org.rep_a1.id),
    ] {
        assert!(line.contains(part), "{part:?} is not in {line}");
    }
    assert!(!line.contains(&format!("route=\"/api/v1/accounts/{}", account.id)));
    Ok(())
}

#[tokio::test]
async fn the_binary_writing_to_a_pipe_prints_no_colour_escapes() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let server = ServerProcess::start(&app)?;
    let here = server.session(&rep);
    here.get("/auth/me").await?.assert_status(200);
    here.get(&format!("/accounts/{}", Uuid::now_v7()))
        .await?
        .assert_problem(404, "not_found");
    let printed = server.stop()?;
    assert!(printed.contains(" WARN "), "{printed}");
    assert!(!printed.contains("\u{1b}["), "{printed:?}");
    Ok(())
}
