//! Writers racing each other: edits to one account from many requests at
//! once, creates of one id, `If-Match` races and refresh-token races. The
//! same tests run on SQLite and, with `KAM_TEST_DATABASE_URL`, on PostgreSQL.

use kam_server::records::accounts::AccountView;
use kam_tests::{Method, Reply, TestApp, new_account};
use reqwest::RequestBuilder;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::time::Duration;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Sends every request at once; returns the replies in the order given.
async fn all_at_once(requests: Vec<RequestBuilder>) -> anyhow::Result<Vec<Reply>> {
    let mut tasks = JoinSet::new();
    for (index, request) in requests.into_iter().enumerate() {
        tasks.spawn(async move {
            let reply = match request.send().await {
                Ok(response) => Reply::read(response).await,
                Err(err) => Err(err.into()),
            };
            (index, reply)
        });
    }
    let mut replies = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (index, reply) = done?;
        replies.push((index, reply?));
    }
    replies.sort_by_key(|(index, _)| *index);
    Ok(replies.into_iter().map(|(_, reply)| reply).collect())
}

/// Sends every request at once while holding the server's writers back for
/// a moment. Requests from two phones rarely meet within the millisecond or
/// two a write takes; held back, they all reach the database together.
async fn all_held_back(app: &TestApp, requests: Vec<RequestBuilder>) -> anyhow::Result<Vec<Reply>> {
    const HOLD: Duration = Duration::from_millis(500);
    if app.is_postgres() {
        // Reads and row locks pass; the first write to a document waits.
        let hold = app.db().begin_write().await?;
        hold.execute_unprepared("LOCK TABLE documents IN SHARE MODE")
            .await?;
        let racing = tokio::spawn(all_at_once(requests));
        tokio::time::sleep(HOLD).await;
        hold.commit().await?;
        racing.await?
    } else {
        let hold = app.db().write_guard().await;
        let racing = tokio::spawn(all_at_once(requests));
        tokio::time::sleep(HOLD).await;
        drop(hold);
        racing.await?
    }
}

fn statuses(replies: &[Reply]) -> Vec<u16> {
    replies.iter().map(|r| r.status.as_u16()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_to_different_fields_all_survive() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep.create_account(new_account("Contended")).await?;
    let path = format!("/accounts/{}", account.id);
    let patches = [
        json!({ "industry": "rail" }),
        json!({ "phone": "021-5555" }),
        json!({ "website": "metro.example.cn" }),
        json!({ "stage": "deepening" }),
        json!({ "notes": "a long history" }),
        json!({ "tags": ["transport"] }),
        json!({ "address": { "city": "Shanghai" } }),
        json!({ "scores": { "loyalty": 80 } }),
        json!({ "location": { "lat": 31.23, "lon": 121.47 } }),
        json!({ "proposed_tier": "strategic" }),
    ];
    let requests = patches
        .iter()
        .enumerate()
        .map(|(i, patch)| {
            let who = if i % 2 == 0 { &rep } else { &manager };
            who.request(Method::PATCH, &path).json(patch)
        })
        .collect();

    let replies = all_held_back(&app, requests).await?;
    assert_eq!(statuses(&replies), [200; 10], "{replies:#?}");

    let account = rep.account(account.id).await?.account;
    assert_eq!(account.name, "Contended");
    assert_eq!(account.industry.as_deref(), Some("rail"));
    assert_eq!(account.phone.as_deref(), Some("021-5555"));
    assert_eq!(account.website.as_deref(), Some("metro.example.cn"));
    assert_eq!(account.stage.as_str(), "deepening");
    assert_eq!(account.notes, "a long history");
    assert_eq!(account.tags, ["transport"]);
    assert_eq!(account.address.city.as_deref(), Some("Shanghai"));
    assert_eq!(account.scores.loyalty, Some(80));
    assert!(account.location.is_some());
    assert_eq!(account.proposed_tier.map(|t| t.as_str()), Some("strategic"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_each_get_their_own_version() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Versioned")).await?;
    let path = format!("/accounts/{}", account.id);
    let requests = (0..10)
        .map(|i| {
            let patch = json!({ "scores": { "need": i } });
            rep.request(Method::PATCH, &path).json(&patch)
        })
        .collect();

    let replies = all_held_back(&app, requests).await?;
    assert_eq!(statuses(&replies), [200; 10], "{replies:#?}");
    let mut versions: Vec<i64> = replies
        .iter()
        .map(|r| r.json::<AccountView>().map(|v| v.version))
        .collect::<anyhow::Result<_>>()?;
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), 10, "every change is its own version");
    let read = rep.account(account.id).await?;
    assert_eq!(read.version, versions[9]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_all_land() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let requests = (0..10)
        .map(|i| {
            let body = new_account(&format!("Parallel {i}"));
            rep.request(Method::POST, "/accounts").json(&body)
        })
        .collect();
    let replies = all_held_back(&app, requests).await?;
    assert_eq!(statuses(&replies), [201; 10], "{replies:#?}");
    assert_eq!(rep.list_accounts("").await?.len(), 10);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_id_make_one_account_and_409s() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let id = Uuid::now_v7();
    let requests = (0..4)
        .map(|i| {
            let body = json!({ "id": id, "name": format!("Twin {i}"), "segment": "other" });
            rep.request(Method::POST, "/accounts").json(&body)
        })
        .collect();

    let replies = all_held_back(&app, requests).await?;

    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == Some("already_exists"))
        .count();
    assert_eq!(
        (created, refused),
        (1, 3),
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status.as_u16(), r.code()))
            .collect::<Vec<_>>()
    );
    assert_eq!(rep.list_accounts("").await?.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_with_one_if_match_let_exactly_one_through() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Guarded")).await?;
    let path = format!("/accounts/{}", account.id);
    let tag = format!("\"{}\"", account.version);
    let requests = (0..6)
        .map(|i| {
            let patch = json!({ "industry": format!("industry {i}") });
            rep.request(Method::PATCH, &path)
                .header("if-match", &tag)
                .json(&patch)
        })
        .collect();
    let replies = all_held_back(&app, requests).await?;
    let won: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    let lost = replies
        .iter()
        .filter(|r| r.status == 412 && r.code() == Some("precondition_failed"))
        .count();
    assert_eq!((won.len(), lost), (1, 5), "{replies:#?}");
    let winner: AccountView = won[0].json()?;
    let read = rep.account(account.id).await?;
    assert_eq!(read.account.industry, winner.account.industry);
    assert_eq!(read.version, winner.version);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_let_at_most_one_through() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let session = app.login_as(&org.rep_a1).await?;
    let api = app.api();
    let requests = (0..5)
        .map(|_| {
            let body = json!({ "refresh_token": session.refresh_token });
            api.request(Method::POST, "/auth/refresh").json(&body)
        })
        .collect();
    let replies = all_at_once(requests).await?;
    let refreshed = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 401 && r.code() == Some("refresh_token_reused"))
        .count();
    assert_eq!((refreshed, refused), (1, 4), "{replies:#?}");
    // A replayed token ends the session, the winner's new tokens included.
    session
        .get("/auth/me")
        .await?
        .assert_problem(401, "session_revoked");
    Ok(())
}
