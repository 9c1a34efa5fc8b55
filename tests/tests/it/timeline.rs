//! `/accounts/{id}/timeline`: the customer file. Every change to an account
//! and to the records under it, newest first, with who, from which device,
//! and each field's old and new value; paging, filters, and who may read it.

use chrono::{Duration, Utc};
use kam_server::records::page::Page;
use kam_server::records::timeline::{EntryWhat, FieldChange, TimelineEntry};
use kam_tests::{Session, TestApp, new_account};
use serde_json::{Value, json};
use std::collections::HashSet;
use uuid::Uuid;

async fn timeline(
    session: &Session,
    account: impl std::fmt::Display,
    query: &str,
) -> anyhow::Result<Page<TimelineEntry>> {
    session
        .read(&format!("/accounts/{account}/timeline{query}"))
        .await
}

async fn plan_visit(session: &Session, account: impl std::fmt::Display) -> anyhow::Result<Uuid> {
    let reply = session
        .post(
            "/visits",
            &json!({
                "account_id": account.to_string(),
                "planned_at": Utc::now() + Duration::days(1),
                "type": "onsite",
                "purpose": "续约方案",
            }),
        )
        .await?
        .ensure_status(201)?;
    Ok(serde_json::from_value(reply.body["id"].clone())?)
}

fn change<'a>(entry: &'a TimelineEntry, path: &str) -> Option<&'a FieldChange> {
    entry.changes.iter().find(|c| c.path == path)
}

#[tokio::test]
async fn a_new_account_shows_one_created_entry_with_who_and_from_which_device() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("杭州水务集团");
    body["address"] = json!({ "city": "杭州" });
    let account = rep.create_account(body).await?;

    let page = timeline(&rep, account.id, "").await?;
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.next_cursor, None);
    let created = &page.items[0];
    assert_eq!(created.what, EntryWhat::Created);
    assert_eq!(created.record_kind, "account");
    assert_eq!(created.record_id, account.id.0);
    assert_eq!(created.user_id, Some(org.rep_a1.id));
    assert!(created.user_name.is_some());
    assert_eq!(created.device.as_deref(), Some("rep_a1-phone"));
    assert!(!created.by_server);
    let fields = created.fields.clone().unwrap_or_default();
    assert_eq!(fields["name"], json!("杭州水务集团"));
    assert_eq!(fields["address"]["city"], json!("杭州"));
    assert!(created.changes.is_empty());
    assert!((Utc::now() - created.at).num_seconds().abs() < 60);
    Ok(())
}

#[tokio::test]
async fn a_patch_shows_each_changed_field_with_its_old_and_new_value() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Ningbo Port");
    body["notes"] = json!("First call.");
    let account = rep.create_account(body).await?;
    let manager = app.login_as(&org.manager).await?;
    manager
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "stage": "engaging", "notes": "First call. 第二次拜访。", "address": { "city": "宁波" } }),
        )
        .await?
        .assert_status(200);

    let page = timeline(&rep, account.id, "").await?;
    assert_eq!(page.items.len(), 2);
    let edit = &page.items[0];
    assert_eq!(edit.what, EntryWhat::Changed);
    assert_eq!(edit.user_id, Some(org.manager.id));
    assert_eq!(edit.device.as_deref(), Some("manager-phone"));
    assert_eq!(edit.fields, None);
    let paths: Vec<&str> = edit.changes.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["address.city", "notes", "stage"]);
    let stage = change(edit, "stage");
    assert_eq!(stage.map(|c| &c.old), Some(&json!("identified")));
    assert_eq!(stage.map(|c| &c.new), Some(&json!("engaging")));
    let notes = change(edit, "notes");
    assert_eq!(notes.map(|c| &c.old), Some(&json!("First call.")));
    assert_eq!(
        notes.map(|c| &c.new),
        Some(&json!("First call. 第二次拜访。"))
    );
    assert_eq!(
        change(edit, "address.city").map(|c| (&c.old, &c.new)),
        Some((&Value::Null, &json!("宁波")))
    );
    assert_eq!(page.items[1].what, EntryWhat::Created);
    Ok(())
}

#[tokio::test]
async fn visits_under_the_account_appear_and_the_kinds_filter_picks_them() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    let visit = plan_visit(&rep, account.id).await?;

    let all = timeline(&rep, account.id, "").await?;
    let kinds: HashSet<&str> = all.items.iter().map(|e| e.record_kind.as_str()).collect();
    assert_eq!(kinds, HashSet::from(["account", "visit"]));

    let visits = timeline(&rep, account.id, "?kinds=visit").await?;
    assert_eq!(visits.items.len(), 1);
    assert_eq!(visits.items[0].record_id, visit);
    assert_eq!(
        visits.items[0]
            .fields
            .as_ref()
            .map(|f| f["purpose"].clone()),
        Some(json!("续约方案"))
    );
    let both = timeline(&rep, account.id, "?kinds=account,visit").await?;
    assert_eq!(both.items.len(), 2);

    rep.get(&format!(
        "/accounts/{}/timeline?kinds=contract_x",
        account.id
    ))
    .await?
    .assert_problem(400, "invalid_query");
    Ok(())
}

#[tokio::test]
async fn soft_deleted_records_keep_their_history() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Wuxi Steel")).await?;
    let visit = plan_visit(&rep, account.id).await?;
    rep.delete(&format!("/visits/{visit}"))
        .await?
        .assert_status(204);

    let page = timeline(&rep, account.id, "?kinds=visit").await?;
    assert_eq!(page.items.len(), 2);
    let deleted = change(&page.items[0], "deleted");
    assert_eq!(deleted.map(|c| &c.new), Some(&json!(true)));
    Ok(())
}

#[tokio::test]
async fn the_timeline_pages_newest_first_with_a_stable_cursor() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hefei Power")).await?;
    for phone in 1..=4 {
        rep.patch(
            &format!("/accounts/{}", account.id),
            &json!({ "phone": format!("0551-{phone}") }),
        )
        .await?
        .assert_status(200);
    }
    plan_visit(&rep, account.id).await?;
    let whole = timeline(&rep, account.id, "?limit=100").await?;
    assert_eq!(whole.items.len(), 6);

    let mut paged = Vec::new();
    let mut query = "?limit=2".to_owned();
    for _ in 0..10 {
        let page = timeline(&rep, account.id, &query).await?;
        assert!(page.items.len() <= 2);
        paged.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    let key = |e: &TimelineEntry| {
        (
            e.record_id,
            e.what,
            e.changes
                .iter()
                .map(|c| c.new.to_string())
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        paged.iter().map(key).collect::<Vec<_>>(),
        whole.items.iter().map(key).collect::<Vec<_>>()
    );
    assert!(paged.windows(2).all(|pair| pair[0].at >= pair[1].at));
    let phones: Vec<Value> = paged
        .iter()
        .filter_map(|e| change(e, "phone").map(|c| c.new.clone()))
        .collect();
    assert_eq!(
        phones,
        ["0551-4", "0551-3", "0551-2", "0551-1"].map(|p| json!(p))
    );

    rep.get(&format!("/accounts/{}/timeline?cursor=garbage", account.id))
        .await?
        .assert_problem(400, "invalid_cursor");
    rep.get(&format!("/accounts/{}/timeline?limit=0", account.id))
        .await?
        .assert_problem(400, "invalid_query");
    Ok(())
}

#[tokio::test]
async fn since_and_until_bound_the_entries_by_time() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Jinan Water")).await?;
    let hour_ago = (Utc::now() - Duration::hours(1)).to_rfc3339();
    let in_an_hour = (Utc::now() + Duration::hours(1)).to_rfc3339();
    let encode = |t: &str| t.replace('+', "%2B");

    let within = timeline(
        &rep,
        account.id,
        &format!("?since={}&until={}", encode(&hour_ago), encode(&in_an_hour)),
    )
    .await?;
    assert_eq!(within.items.len(), 1);
    let later = timeline(&rep, account.id, &format!("?since={}", encode(&in_an_hour))).await?;
    assert!(later.items.is_empty());
    let earlier = timeline(&rep, account.id, &format!("?until={}", encode(&hour_ago))).await?;
    assert!(earlier.items.is_empty());
    Ok(())
}

#[tokio::test]
async fn changes_the_server_makes_are_marked_as_made_by_the_server() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Xiamen Air")).await?;
    let admin = app.login_as(&org.admin).await?;
    admin
        .patch(
            &format!("/users/{}", org.rep_a1.id),
            &json!({ "team_id": org.team_b }),
        )
        .await?
        .assert_status(200);

    let page = timeline(&admin, account.id, "").await?;
    let moved = &page.items[0];
    assert!(moved.by_server);
    assert_eq!(moved.device.as_deref(), Some("server"));
    assert_eq!(moved.user_id, None);
    assert_eq!(
        change(moved, "team_id").map(|c| c.new.clone()),
        Some(json!(org.team_b.to_string()))
    );
    Ok(())
}

#[tokio::test]
async fn only_those_who_see_the_account_read_its_timeline() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Qingdao Beer")).await?;
    let path = format!("/accounts/{}/timeline", account.id);

    let other_rep = app.login_as(&org.rep_b1).await?;
    other_rep.get(&path).await?.assert_problem(404, "not_found");
    for user in [&org.manager, &org.director, &org.service, &org.admin] {
        app.login_as(user)
            .await?
            .get(&path)
            .await?
            .assert_status(200);
    }
    rep.get(&format!("/accounts/{}/timeline", Uuid::now_v7()))
        .await?
        .assert_problem(404, "not_found");
    app.api().get(&path).await?.assert_status(401);
    Ok(())
}

/// Pushes one document's changes over sync and returns the response.
async fn push_changes(
    session: &Session,
    id: Uuid,
    kind: kam_sync_core::RecordKind,
    changes: Vec<u8>,
) -> anyhow::Result<kam_sync_core::protocol::SyncResponse> {
    let request = kam_sync_core::protocol::SyncRequest {
        push: vec![kam_sync_core::protocol::PushDoc {
            id,
            kind,
            changes: kam_sync_core::protocol::Bytes(changes),
        }],
        ..Default::default()
    };
    session
        .post("/sync", &serde_json::to_value(&request)?)
        .await?
        .ensure_status(200)?
        .json()
}

#[tokio::test]
async fn who_and_when_come_from_the_session_and_the_server_clock_not_the_device()
-> anyhow::Result<()> {
    use automerge::transaction::{CommitOptions, Transactable};
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Forgery Ltd")).await?;
    let heads_hex = rep
        .post("/sync", &json!({}))
        .await?
        .ensure_status(200)?
        .json::<kam_sync_core::protocol::SyncResponse>()?;
    let delivered = heads_hex
        .pull
        .iter()
        .find(|d| d.id == account.id.0)
        .ok_or_else(|| anyhow::anyhow!("the account was not pulled"))?;
    let mut doc = automerge::AutoCommit::load(&delivered.data.0)?;
    let heads = doc.get_heads();
    doc.put(automerge::ROOT, "industry", "forged")?;
    let ten_years_ahead = (Utc::now() + Duration::days(3650)).timestamp();
    let claim = json!({ "user": org.director.id, "device": "server" }).to_string();
    doc.commit_with(
        CommitOptions::default()
            .with_message(claim)
            .with_time(ten_years_ahead),
    );
    let response = push_changes(
        &rep,
        account.id.0,
        kam_sync_core::RecordKind::Account,
        doc.save_after(&heads),
    )
    .await?;
    assert_eq!(
        response.pushed[0].status,
        kam_sync_core::protocol::PushStatus::Applied
    );

    let page = timeline(&rep, account.id, "").await?;
    let edit = page
        .items
        .iter()
        .find(|e| change(e, "industry").is_some())
        .ok_or_else(|| anyhow::anyhow!("no entry for the edit: {:?}", page.items))?;
    assert_eq!(
        edit.user_id,
        Some(org.rep_a1.id),
        "the session's user wrote it"
    );
    assert_eq!(edit.device.as_deref(), Some("rep_a1-phone"));
    assert!(!edit.by_server);
    assert!(
        (Utc::now() - edit.at).num_seconds().abs() < 60,
        "stored now: {}",
        edit.at
    );
    assert_eq!(
        edit.device_time.map(|t| t.timestamp()),
        Some(ten_years_ahead),
        "the device's own clock is shown beside, as the device's"
    );
    assert_eq!(page.items[0].record_id, account.id.0);
    assert!(
        page.items[0].at <= Utc::now() + Duration::seconds(60),
        "nothing is dated in the future: {:?}",
        page.items[0]
    );
    Ok(())
}

/// A key person edited `edits` times offline, as one whole document.
fn long_history(account: Uuid, author: Uuid, edits: usize) -> anyhow::Result<Vec<u8>> {
    use automerge::transaction::Transactable;
    let person: kam_sync_core::Contact = serde_json::from_value(json!({
        "account_id": account,
        "name": "Wang Jianguo",
    }))?;
    let meta = kam_sync_core::ChangeMeta {
        user: Some(author.into()),
        device: "phone".into(),
        time: Utc::now(),
    };
    let mut doc = kam_sync_core::RecordDoc::create(&person, automerge::ActorId::random(), &meta)?;
    let doc = doc.automerge_mut();
    for edit in 0..edits {
        doc.put(automerge::ROOT, "title", format!("title {edit}"))?;
        doc.commit();
    }
    Ok(doc.save())
}

/// Asks `/healthz` every 50 ms until `work` ends, each answer within a
/// second (a fresh connection each time, so any worker may take it).
async fn healthy_while<T>(
    app: &TestApp,
    work: tokio::task::JoinHandle<anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let url = app.api().root_url("/healthz");
    let mut answered = 0;
    while !work.is_finished() || answered == 0 {
        let probe = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(std::time::Duration::from_secs(1))
            .build()?;
        let reply = probe
            .get(&url)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("/healthz did not answer within 1 s: {err}"))?;
        assert_eq!(reply.status(), 200);
        answered += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    work.await?
}

// The probes run on a runtime thread of their own, so that the test's own
// work (reading the big responses) cannot hold them up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_at_once_while_long_histories_are_merged_and_read() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_a2 = app.login_as(&org.rep_a2).await?;
    let account = rep_a1.create_account(new_account("Long History")).await?;
    rep_a1
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "shared_with": [org.rep_a2.id] }),
        )
        .await?
        .ensure_status(200)?;
    let account_id = account.id.0;

    // Two devices push a key person with thousands of changes each, at once.
    let first = long_history(account_id, org.rep_a1.id, 5_000)?;
    let second = long_history(account_id, org.rep_a2.id, 5_000)?;
    let push_long = move |session: Session, bytes: Vec<u8>| async move {
        let response = push_changes(
            &session,
            Uuid::now_v7(),
            kam_sync_core::RecordKind::Contact,
            bytes,
        )
        .await?;
        anyhow::ensure!(
            response.pushed[0].status == kam_sync_core::protocol::PushStatus::Applied,
            "{response:?}"
        );
        Ok(())
    };
    let pushes = tokio::spawn(async move {
        tokio::try_join!(push_long(rep_a1, first), push_long(rep_a2, second)).map(drop)
    });
    healthy_while(&app, pushes).await?;

    // Then two people read the account's timeline at once.
    let read = move |session: Session| async move {
        session
            .get(&format!("/accounts/{account_id}/timeline?limit=500"))
            .await?
            .ensure_status(200)
    };
    let (director, manager) = (
        app.login_as(&org.director).await?,
        app.login_as(&org.manager).await?,
    );
    let readers = tokio::spawn(async move { tokio::try_join!(read(director), read(manager)) });
    let (page, _) = healthy_while(&app, readers).await?;
    let kinds: Vec<&str> = page.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["record_kind"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        kinds.iter().filter(|k| **k == "contact").count(),
        2,
        "{}",
        page.body
    );
    Ok(())
}
