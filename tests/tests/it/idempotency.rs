//! `Idempotency-Key`: a `POST` repeated with the same key has one effect and
//! answers what the first answered; keys are per user; a key reused for
//! another request, a malformed key and a repeat racing the first are
//! refused with their own problems.

use chrono::{Duration, Utc};
use kam_server::records::accounts::AccountView;
use kam_tests::{Method, Reply, Session, TestApp, new_account};
use serde_json::{Value, json};

const KEY: &str = "Idempotency-Key";
const REPLAYED: &str = "idempotent-replayed";

async fn post_with_key(
    session: &Session,
    path: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<Reply> {
    session
        .send(
            session
                .request(Method::POST, path)
                .header(KEY, key)
                .json(body),
        )
        .await
}

/// How many accounts `session` lists with exactly this name.
async fn named(session: &Session, name: &str) -> anyhow::Result<usize> {
    Ok(session
        .list_accounts("")
        .await?
        .iter()
        .filter(|a| a.account.name == name)
        .count())
}

#[tokio::test]
async fn a_repeated_create_makes_one_account_and_answers_the_same() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let body = new_account("Ningbo Port Logistics");

    let first = post_with_key(&rep, "/accounts", "create-ningbo-1", &body).await?;
    first.assert_status(201);
    assert_eq!(first.header(REPLAYED), None);
    let second = post_with_key(&rep, "/accounts", "create-ningbo-1", &body).await?;
    second.assert_status(201);
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("etag"), first.header("etag"));
    assert!(
        second
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
    );
    assert_eq!(named(&rep, "Ningbo Port Logistics").await?, 1);

    // Without a key the same body is a second account: the key is what
    // makes a repeat a repeat.
    rep.post("/accounts", &body).await?.assert_status(201);
    assert_eq!(named(&rep, "Ningbo Port Logistics").await?, 2);
    Ok(())
}

#[tokio::test]
async fn a_key_reused_for_another_request_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    post_with_key(&rep, "/accounts", "k-1", &new_account("Wuxi Steel"))
        .await?
        .assert_status(201);
    post_with_key(&rep, "/accounts", "k-1", &new_account("Wuxi Steel Trading"))
        .await?
        .assert_problem(422, "idempotency_key_reused");
    assert_eq!(named(&rep, "Wuxi Steel Trading").await?, 0);
    assert_eq!(named(&rep, "Wuxi Steel").await?, 1);
    Ok(())
}

#[tokio::test]
async fn keys_belong_to_their_user() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let body = new_account("Changzhou Textiles");
    let mine: AccountView = post_with_key(&a1, "/accounts", "same-key", &body)
        .await?
        .ensure_status(201)?
        .json()?;
    let theirs = post_with_key(&a2, "/accounts", "same-key", &body).await?;
    theirs.assert_status(201);
    assert_eq!(theirs.header(REPLAYED), None);
    let theirs: AccountView = theirs.json()?;
    assert_ne!(mine.id, theirs.id);
    assert_eq!(theirs.account.owner_id, org.rep_a2.id.into());
    Ok(())
}

#[tokio::test]
async fn a_repeated_check_in_is_applied_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Xuzhou Mining")).await?;
    let visit = rep
        .post(
            "/visits",
            &json!({
                "account_id": account.id.to_string(),
                "planned_at": Utc::now() + Duration::hours(2),
                "type": "onsite",
            }),
        )
        .await?
        .ensure_status(201)?;
    let id = visit.body["id"].as_str().unwrap_or_default().to_owned();
    let body = json!({ "location": { "lat": 34.26, "lon": 117.18 }, "at": Utc::now() });
    let path = format!("/visits/{id}/check-in");
    let first = post_with_key(&rep, &path, "check-in-1", &body).await?;
    first.assert_status(200);
    let second = post_with_key(&rep, &path, "check-in-1", &body).await?;
    second.assert_status(200);
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.body, first.body);
    let now = rep
        .get(&format!("/visits/{id}"))
        .await?
        .ensure_status(200)?;
    assert_eq!(now.body["version"], first.body["version"]);

    // Without the key, checking in again is refused: the first one stands.
    let again = rep.post(&path, &body).await?;
    assert_eq!(again.status.as_u16() / 100, 4, "{:?}", again.body);
    Ok(())
}

#[tokio::test]
async fn a_refused_request_is_answered_the_same_when_repeated() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let bad = json!({ "name": "", "segment": "strategic" });
    let first = post_with_key(&rep, "/accounts", "bad-1", &bad).await?;
    first.assert_problem(422, "validation_failed");
    let second = post_with_key(&rep, "/accounts", "bad-1", &bad).await?;
    second.assert_problem(422, "validation_failed");
    assert_eq!(second.header(REPLAYED), Some("true"));
    assert_eq!(second.body, first.body);
    Ok(())
}

#[tokio::test]
async fn malformed_keys_are_refused_and_change_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let too_long = "k".repeat(256);
    for key in ["", "two words", too_long.as_str()] {
        post_with_key(&rep, "/accounts", key, &new_account("Lianyungang Port"))
            .await?
            .assert_problem(400, "invalid_idempotency_key");
    }
    assert_eq!(named(&rep, "Lianyungang Port").await?, 0);
    Ok(())
}

#[tokio::test]
async fn concurrent_repeats_make_one_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let body = new_account("Yangzhou Shipyard");
    let replies = futures_util::future::try_join_all(
        (0..6).map(|_| post_with_key(&rep, "/accounts", "race-1", &body)),
    )
    .await?;
    let mut created = None;
    for reply in &replies {
        match reply.status.as_u16() {
            201 => {
                let id = reply.body["id"].clone();
                assert_eq!(created.get_or_insert(id.clone()), &id);
            }
            409 => assert_eq!(reply.code(), Some("idempotency_key_in_flight")),
            other => panic!("unexpected {other}: {:?}", reply.body),
        }
    }
    assert!(created.is_some());
    assert_eq!(named(&rep, "Yangzhou Shipyard").await?, 1);
    Ok(())
}

#[tokio::test]
async fn sync_and_login_ignore_the_header() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    for _ in 0..2 {
        let reply = post_with_key(&rep, "/sync", "sync-1", &json!({ "push": [] })).await?;
        reply.assert_status(200);
        assert_eq!(reply.header(REPLAYED), None);
    }
    Ok(())
}
