//! Logging in, refreshing, logging out, revoking devices, and the access
//! tokens the server refuses.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use kam_server::auth::{Role, TokenKeys};
use kam_tests::{Method, PROBLEM_JSON, Session, TestApp};
use serde_json::{Value, json};

async fn refresh(app: &TestApp, refresh_token: &str) -> anyhow::Result<kam_tests::Reply> {
    app.api()
        .post("/auth/refresh", &json!({ "refresh_token": refresh_token }))
        .await
}

/// `/auth/me` with the session's access token.
async fn me(session: &Session) -> anyhow::Result<kam_tests::Reply> {
    session.get("/auth/me").await
}

#[tokio::test]
async fn login_gives_a_token_pair_that_opens_the_api() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let reply = app
        .api()
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": org.rep_a1.password, "device_id": "pixel-7" }),
        )
        .await?;
    reply.assert_status(200);
    assert_eq!(reply.body["token_type"], "Bearer");
    assert_eq!(reply.body["expires_in"], 900);
    assert!(
        reply.body["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 32)
    );

    let session = app.login_as(&org.rep_a1).await?;
    let me = me(&session).await?;
    me.assert_status(200);
    assert_eq!(me.body["id"], org.rep_a1.id.to_string());
    assert_eq!(me.body["username"], "rep_a1");
    assert_eq!(me.body["role"], "rep");
    assert_eq!(me.body["team_id"], org.team_a.to_string());
    assert_eq!(me.body["branch_id"], org.branch_id.to_string());
    assert_eq!(me.body["device_id"], "rep_a1-phone");
    Ok(())
}

#[tokio::test]
async fn a_manager_is_told_the_teams_they_lead() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let me = me(&manager).await?;
    me.assert_status(200);
    assert_eq!(me.body["role"], "manager");
    assert_eq!(me.body["led_teams"], json!([org.team_a.to_string()]));
    Ok(())
}

#[tokio::test]
async fn a_wrong_password_is_401_invalid_credentials() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    app.seed_org().await?;
    let reply = app
        .api()
        .post(
            "/auth/login",
            &json!({ "username": "rep_a1", "password": "not-the-password" }),
        )
        .await?;
    reply.assert_problem(401, "invalid_credentials");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert!(reply.body.get("refresh_token").is_none());
    Ok(())
}

#[tokio::test]
async fn an_unknown_username_gets_the_same_answer_as_a_wrong_password() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    app.seed_org().await?;
    let reply = app
        .api()
        .post(
            "/auth/login",
            &json!({ "username": "nobody", "password": "whatever-password" }),
        )
        .await?;
    reply.assert_problem(401, "invalid_credentials");
    Ok(())
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let first = app.login_as(&org.rep_a1).await?;

    let reply = refresh(&app, &first.refresh_token).await?;
    reply.assert_status(200);
    let second = app.session(reply.json()?, &first.device_id);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(second.session_id, first.session_id);
    me(&second).await?.assert_status(200);

    let reply = refresh(&app, &second.refresh_token).await?;
    reply.assert_status(200);
    let third = app.session(reply.json()?, &first.device_id);
    me(&third).await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_the_whole_session() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let stolen = app.login_as(&org.rep_a1).await?;
    let reply = refresh(&app, &stolen.refresh_token).await?;
    let newest = app.session(reply.ensure_status(200)?.json()?, &stolen.device_id);

    refresh(&app, &stolen.refresh_token)
        .await?
        .assert_problem(401, "refresh_token_reused");

    refresh(&app, &newest.refresh_token)
        .await?
        .assert_problem(401, "session_revoked");
    me(&newest).await?.assert_problem(401, "session_revoked");
    me(&stolen).await?.assert_problem(401, "session_revoked");
    Ok(())
}

#[tokio::test]
async fn an_unknown_refresh_token_is_401_invalid_refresh_token() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    refresh(&app, "made-up-token")
        .await?
        .assert_problem(401, "invalid_refresh_token");
    Ok(())
}

#[tokio::test]
async fn logout_ends_the_session_and_no_other() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let phone = app.login_as(&org.rep_a1).await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;

    phone
        .post("/auth/logout", &json!({}))
        .await?
        .assert_status(204);

    me(&phone).await?.assert_problem(401, "session_revoked");
    refresh(&app, &phone.refresh_token)
        .await?
        .assert_problem(401, "session_revoked");
    me(&laptop).await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn logging_in_again_on_a_device_ends_its_earlier_session() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let before = app.login_as(&org.rep_a1).await?;
    let after = app.login_as(&org.rep_a1).await?;
    assert_ne!(before.session_id, after.session_id);
    me(&before).await?.assert_problem(401, "session_revoked");
    me(&after).await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn revoking_a_users_devices_cuts_off_every_token_at_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let phone = app.login_as(&org.rep_a1).await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;
    let colleague = app.login_as(&org.rep_a2).await?;

    let revoked = app
        .state()
        .sessions()
        .revoke_user(org.rep_a1.id, None, "lost_phone")
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    assert_eq!(revoked, 2);

    me(&phone).await?.assert_problem(401, "session_revoked");
    me(&laptop).await?.assert_problem(401, "session_revoked");
    refresh(&app, &laptop.refresh_token)
        .await?
        .assert_problem(401, "session_revoked");
    me(&colleague).await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn revoking_one_device_leaves_the_others_working() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let phone = app.login_as(&org.rep_a1).await?;
    let laptop = app.login("rep_a1", &org.rep_a1.password, "laptop").await?;

    app.state()
        .sessions()
        .revoke_user(org.rep_a1.id, Some(&phone.device_id), "lost_phone")
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;

    me(&phone).await?.assert_problem(401, "session_revoked");
    me(&laptop).await?.assert_status(200);
    Ok(())
}

/// The token's three parts, the first two decoded.
fn split_token(token: &str) -> anyhow::Result<(Value, Value, String)> {
    let parts: Vec<&str> = token.split('.').collect();
    anyhow::ensure!(parts.len() == 3, "not a JWT: {token}");
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0])?)?;
    let payload = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1])?)?;
    Ok((header, payload, parts[2].to_owned()))
}

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn me_with_token(app: &TestApp, token: &str) -> anyhow::Result<kam_tests::Reply> {
    app.api().with_token(token).get("/auth/me").await
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let (_, payload, _) = split_token(&session.access_token)?;
    for alg in ["none", "None", "NONE"] {
        let header = json!({ "alg": alg, "typ": "JWT" });
        let unsigned = format!("{}.{}.", encode_part(&header), encode_part(&payload));
        me_with_token(&app, &unsigned)
            .await?
            .assert_problem(401, "invalid_token");
    }
    Ok(())
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let forged = TokenKeys::new(b"an attacker's key of 32 bytes!!!", 900).issue(
        org.rep_a1.id,
        Role::Rep.as_str(),
        session.session_id,
        &session.device_id,
        Utc::now(),
    )?;
    me_with_token(&app, &forged)
        .await?
        .assert_problem(401, "invalid_token");
    Ok(())
}

#[tokio::test]
async fn an_expired_access_token_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let expired = app.state().keys.issue(
        org.rep_a1.id,
        Role::Rep.as_str(),
        session.session_id,
        &session.device_id,
        Utc::now() - Duration::hours(1),
    )?;
    me_with_token(&app, &expired)
        .await?
        .assert_problem(401, "invalid_token");
    Ok(())
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let (header, payload, signature) = split_token(&session.access_token)?;
    let mut tampered = Vec::new();
    let mut as_admin = payload.clone();
    as_admin["role"] = json!("admin");
    tampered.push(as_admin);
    let mut as_other_user = payload.clone();
    as_other_user["sub"] = json!(org.admin.id.to_string());
    tampered.push(as_other_user);
    let mut longer = payload.clone();
    longer["exp"] = json!(Utc::now().timestamp() + 365 * 24 * 3600);
    tampered.push(longer);
    for payload in tampered {
        let token = format!(
            "{}.{}.{signature}",
            encode_part(&header),
            encode_part(&payload)
        );
        me_with_token(&app, &token)
            .await?
            .assert_problem(401, "invalid_token");
    }
    // The untouched token still works: the refusals above are the tampering's.
    me(&session).await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_missing_authorization_header_is_401_missing_token() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let reply = app.api().get("/auth/me").await?;
    reply.assert_problem(401, "missing_token");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    app.api()
        .get("/accounts")
        .await?
        .assert_problem(401, "missing_token");
    Ok(())
}

#[tokio::test]
async fn a_garbled_authorization_header_is_401_invalid_token() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let api = app.api();
    let garbled = [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        "Bearer garbage".to_owned(),
        format!("Basic {}", session.access_token),
        session.access_token.clone(),
        format!("Bearer {}x", session.access_token),
    ];
    for value in garbled {
        let reply = api
            .send(
                api.request(Method::GET, "/auth/me")
                    .header("authorization", &value),
            )
            .await?;
        assert_eq!(reply.status, 401, "{value:?} gave {}", reply.body);
        assert_eq!(reply.header("content-type"), Some(PROBLEM_JSON));
        assert!(
            matches!(reply.code(), Some("invalid_token" | "missing_token")),
            "{value:?} gave {}",
            reply.body
        );
    }
    let not_text = reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe")?;
    api.send(
        api.request(Method::GET, "/auth/me")
            .header("authorization", not_text),
    )
    .await?
    .assert_problem(401, "invalid_token");
    Ok(())
}

#[tokio::test]
async fn too_many_failed_logins_are_429_with_retry_after() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let api = app.api();
    let wrong = json!({ "username": "rep_a1", "password": "guessing-password" });
    for _ in 0..5 {
        api.post("/auth/login", &wrong)
            .await?
            .assert_problem(401, "invalid_credentials");
    }
    let reply = api.post("/auth/login", &wrong).await?;
    reply.assert_problem(429, "too_many_attempts");
    let retry_after: u64 = reply
        .header("retry-after")
        .ok_or_else(|| anyhow::anyhow!("no Retry-After header"))?
        .parse()?;
    assert!(
        (1..=900).contains(&retry_after),
        "Retry-After: {retry_after}"
    );

    // From the guessing address and device, even the right password waits
    // (the rules for other addresses and devices are in security.rs)...
    let right = json!({ "username": "rep_a1", "password": org.rep_a1.password });
    api.post("/auth/login", &right)
        .await?
        .assert_problem(429, "too_many_attempts");
    // ...while other users log in as usual.
    app.login_as(&org.rep_a2).await?;
    Ok(())
}
