//! `/accounts`: creating, reading, listing with filters and cursors,
//! merge-patching, soft deletion and `If-Match`.

use chrono::SecondsFormat;
use kam_server::records::accounts::AccountView;
use kam_tests::{Method, Session, TestApp, new_account};
use serde_json::json;
use std::collections::HashSet;
use uuid::Uuid;

fn names(accounts: &[AccountView]) -> Vec<String> {
    let mut names: Vec<String> = accounts.iter().map(|a| a.account.name.clone()).collect();
    names.sort();
    names
}

async fn listed_names(session: &Session, query: &str) -> anyhow::Result<Vec<String>> {
    Ok(names(&session.list_accounts(query).await?))
}

#[tokio::test]
async fn creating_an_account_honours_the_client_chosen_id() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let id = Uuid::now_v7();

    let reply = rep
        .post(
            "/accounts",
            &json!({ "id": id, "name": "Shanghai Metro", "segment": "government" }),
        )
        .await?;
    reply.assert_status(201);
    let created: AccountView = reply.json()?;
    assert_eq!(created.id.0, id);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/accounts/{id}").as_str())
    );
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", created.version).as_str())
    );
    assert_eq!(created.account.owner_id.0, org.rep_a1.id);
    assert_eq!(created.account.team_id.map(|t| t.0), Some(org.team_a));
    assert_eq!(created.account.stage.as_str(), "identified");
    assert_eq!(created.created_by.map(|u| u.0), Some(org.rep_a1.id));
    assert!(!created.account.deleted);

    let reply = rep.get(&format!("/accounts/{id}")).await?;
    reply.assert_status(200);
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", created.version).as_str())
    );
    let read: AccountView = reply.json()?;
    assert_eq!(read.account, created.account);
    assert_eq!(read.version, created.version);
    Ok(())
}

#[tokio::test]
async fn an_account_that_does_not_exist_is_404_on_every_route() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let path = format!("/accounts/{}", Uuid::now_v7());
    admin.get(&path).await?.assert_problem(404, "not_found");
    admin
        .patch(&path, &json!({ "industry": "ghosts" }))
        .await?
        .assert_problem(404, "not_found");
    admin.delete(&path).await?.assert_problem(404, "not_found");
    assert!(
        admin
            .list_accounts("include_deleted=true")
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn an_account_created_without_an_id_gets_a_uuid_v7() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let created = rep.create_account(new_account("Ningbo Port")).await?;
    assert_eq!(created.id.0.get_version_num(), 7);
    assert_eq!(rep.account(created.id).await?.account.name, "Ningbo Port");
    Ok(())
}

#[tokio::test]
async fn creating_an_existing_id_again_is_409_and_keeps_the_first() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let id = Uuid::now_v7();
    let first = rep
        .create_account(json!({ "id": id, "name": "First", "segment": "enterprise" }))
        .await?;
    rep.post(
        "/accounts",
        &json!({ "id": id, "name": "Second", "segment": "financial" }),
    )
    .await?
    .assert_problem(409, "already_exists");
    let read = rep.account(id).await?;
    assert_eq!(read.account, first.account);
    assert_eq!(read.version, first.version);
    Ok(())
}

#[tokio::test]
async fn listing_filters_by_owner_team_tier_segment_stage_and_text() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    for (name, owner, segment, tier, stage) in [
        (
            "Alpha Steel",
            &org.rep_a1,
            "enterprise",
            Some("key"),
            "engaging",
        ),
        (
            "Beta Bank",
            &org.rep_a1,
            "financial",
            Some("strategic"),
            "identified",
        ),
        (
            "Gamma Ministry",
            &org.rep_a2,
            "government",
            Some("key"),
            "maintaining",
        ),
        (
            "Delta 50% Hospital",
            &org.rep_b1,
            "healthcare",
            None,
            "engaging",
        ),
        (
            "Theta_Sports Academy",
            &org.rep_b1,
            "education",
            Some("standard"),
            "at_risk",
        ),
    ] {
        let mut body =
            json!({ "name": name, "segment": segment, "stage": stage, "owner_id": owner.id });
        if let Some(tier) = tier {
            body["tier"] = json!(tier);
        }
        admin.create_account(body).await?;
    }

    let all = listed_names(&admin, "").await?;
    assert_eq!(all.len(), 5);
    assert_eq!(
        listed_names(&admin, &format!("owner_id={}", org.rep_a1.id)).await?,
        ["Alpha Steel", "Beta Bank"]
    );
    assert_eq!(
        listed_names(&admin, &format!("team_id={}", org.team_b)).await?,
        ["Delta 50% Hospital", "Theta_Sports Academy"]
    );
    assert_eq!(
        listed_names(&admin, "tier=key").await?,
        ["Alpha Steel", "Gamma Ministry"]
    );
    assert_eq!(
        listed_names(&admin, "segment=government").await?,
        ["Gamma Ministry"]
    );
    assert_eq!(
        listed_names(&admin, "stage=engaging").await?,
        ["Alpha Steel", "Delta 50% Hospital"]
    );
    assert_eq!(listed_names(&admin, "q=BANK").await?, ["Beta Bank"]);
    assert_eq!(listed_names(&admin, "q=%20steel").await?, ["Alpha Steel"]);
    // LIKE wildcards in the text are taken literally.
    assert_eq!(
        listed_names(&admin, "q=50%25").await?,
        ["Delta 50% Hospital"]
    );
    assert_eq!(
        listed_names(&admin, "q=a_s").await?,
        ["Theta_Sports Academy"]
    );
    assert_eq!(
        listed_names(
            &admin,
            &format!("owner_id={}&stage=engaging", org.rep_b1.id)
        )
        .await?,
        ["Delta 50% Hospital"]
    );
    assert!(
        listed_names(&admin, "q=nothing-like-this")
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn listing_filters_by_updated_since() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let old = rep.create_account(new_account("Old")).await?;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let since = old.updated_at + chrono::Duration::milliseconds(25);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    rep.create_account(new_account("New")).await?;
    let query = format!(
        "updated_since={}",
        since.to_rfc3339_opts(SecondsFormat::Micros, true)
    );

    assert_eq!(listed_names(&rep, &query).await?, ["New"]);

    rep.patch(
        &format!("/accounts/{}", old.id),
        &json!({ "industry": "rail" }),
    )
    .await?
    .assert_status(200);
    assert_eq!(listed_names(&rep, &query).await?, ["New", "Old"]);
    Ok(())
}

#[tokio::test]
async fn listing_pages_through_every_account_without_duplicates_or_gaps() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut created = HashSet::new();
    for i in 0..23 {
        created.insert(
            rep.create_account(new_account(&format!("Account {i:02}")))
                .await?
                .id,
        );
    }

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = "/accounts?limit=5".to_owned();
    loop {
        let page: kam_server::records::page::Page<AccountView> =
            rep.get(&path).await?.ensure_status(200)?.json()?;
        pages += 1;
        assert!(page.items.len() <= 5);
        seen.extend(page.items.iter().map(|a| a.id));
        match page.next_cursor {
            Some(cursor) => path = format!("/accounts?limit=5&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "the pages do not end");
    }
    assert_eq!(pages, 5);
    assert_eq!(seen.len(), 23, "no account is listed twice");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), created);
    Ok(())
}

#[tokio::test]
async fn listing_shows_the_newest_first_and_an_edit_keeps_its_place() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let first = rep.create_account(new_account("First")).await?;
    rep.create_account(new_account("Second")).await?;
    rep.create_account(new_account("Third")).await?;
    let order = |items: Vec<AccountView>| -> Vec<String> {
        items.into_iter().map(|a| a.account.name).collect()
    };
    assert_eq!(
        order(rep.list_accounts("").await?),
        ["Third", "Second", "First"]
    );
    rep.patch(
        &format!("/accounts/{}", first.id),
        &json!({ "phone": "021-1234" }),
    )
    .await?
    .assert_status(200);
    assert_eq!(
        order(rep.list_accounts("").await?),
        ["Third", "Second", "First"]
    );
    Ok(())
}

#[tokio::test]
async fn an_account_edited_while_paging_is_not_skipped() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut created = Vec::new();
    for i in 0..6 {
        created.push(
            rep.create_account(new_account(&format!("Account {i}")))
                .await?
                .id,
        );
    }
    let first: kam_server::records::page::Page<AccountView> = rep
        .get("/accounts?limit=3")
        .await?
        .ensure_status(200)?
        .json()?;
    let mut seen: HashSet<_> = first.items.iter().map(|a| a.id).collect();
    // The oldest account, not yet seen, changes while the client pages.
    rep.patch(
        &format!("/accounts/{}", created[0]),
        &json!({ "industry": "rail" }),
    )
    .await?
    .assert_status(200);
    let mut cursor = first.next_cursor;
    while let Some(next) = cursor {
        let page: kam_server::records::page::Page<AccountView> = rep
            .get(&format!("/accounts?limit=3&cursor={next}"))
            .await?
            .ensure_status(200)?
            .json()?;
        seen.extend(page.items.iter().map(|a| a.id));
        cursor = page.next_cursor;
    }
    let missing: Vec<_> = created.iter().filter(|id| !seen.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "a client paging through every account never saw {missing:?}"
    );
    Ok(())
}

#[tokio::test]
async fn patch_merges_into_the_account_and_null_clears_a_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let created = rep
        .create_account(json!({
            "name": "Hangzhou Water",
            "segment": "government",
            "industry": "utilities",
            "phone": "0571-000",
            "address": { "street": "1 Lake Road" },
            "tags": ["water"],
            "notes": "met the CFO",
        }))
        .await?;
    let path = format!("/accounts/{}", created.id);

    let reply = rep
        .patch(
            &path,
            &json!({
                "address": { "city": "Hangzhou" },
                "tags": ["water", "tender-2027"],
                "notes": "met the CFO and the CTO",
                "phone": null,
                "stage": "engaging",
            }),
        )
        .await?;
    reply.assert_status(200);
    let patched: AccountView = reply.json()?;
    assert!(patched.version > created.version);
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", patched.version).as_str())
    );
    let account = rep.account(created.id).await?.account;
    assert_eq!(account.name, "Hangzhou Water");
    assert_eq!(account.industry.as_deref(), Some("utilities"));
    assert_eq!(account.phone, None);
    assert_eq!(account.address.street.as_deref(), Some("1 Lake Road"));
    assert_eq!(account.address.city.as_deref(), Some("Hangzhou"));
    assert_eq!(account.tags, ["water", "tender-2027"]);
    assert_eq!(account.notes, "met the CFO and the CTO");
    assert_eq!(account.stage.as_str(), "engaging");
    assert_eq!(account.owner_id.0, org.rep_a1.id);
    Ok(())
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_version() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let created = rep.create_account(new_account("Suzhou Silk")).await?;
    let reply = rep
        .patch(
            &format!("/accounts/{}", created.id),
            &json!({ "name": "Suzhou Silk", "segment": "enterprise" }),
        )
        .await?;
    reply.assert_status(200);
    assert_eq!(reply.json::<AccountView>()?.version, created.version);
    assert_eq!(rep.account(created.id).await?.version, created.version);
    Ok(())
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let created = rep.create_account(new_account("Wuhan Steel")).await?;
    let path = format!("/accounts/{}", created.id);
    let stale = format!("\"{}\"", created.version);
    let reply = rep.patch(&path, &json!({ "industry": "steel" })).await?;
    reply.assert_status(200);
    let current: AccountView = reply.json()?;

    let reply = rep
        .send(
            rep.request(Method::PATCH, &path)
                .header("if-match", &stale)
                .json(&json!({ "industry": "mining", "name": "Renamed" })),
        )
        .await?;
    reply.assert_problem(412, "precondition_failed");
    rep.send(
        rep.request(Method::DELETE, &path)
            .header("if-match", &stale),
    )
    .await?
    .assert_problem(412, "precondition_failed");
    let read = rep.account(created.id).await?;
    assert_eq!(read.account, current.account);
    assert_eq!(read.version, current.version);

    let fresh = format!("\"{}\"", current.version);
    rep.send(
        rep.request(Method::PATCH, &path)
            .header("if-match", &fresh)
            .json(&json!({ "industry": "mining" })),
    )
    .await?
    .assert_status(200);
    rep.send(
        rep.request(Method::PATCH, &path)
            .header("if-match", "*")
            .json(&json!({ "phone": "027-1" })),
    )
    .await?
    .assert_status(200);
    let read = rep.account(created.id).await?;
    assert_eq!(read.account.industry.as_deref(), Some("mining"));
    assert_eq!(read.account.phone.as_deref(), Some("027-1"));
    Ok(())
}

#[tokio::test]
async fn delete_is_soft_and_hides_the_account_from_lists_by_default() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let kept = rep.create_account(new_account("Kept")).await?;
    let gone = rep.create_account(new_account("Gone")).await?;
    let path = format!("/accounts/{}", gone.id);

    let reply = rep.delete(&path).await?;
    reply.assert_status(204);
    assert!(reply.body.is_null());

    assert_eq!(listed_names(&rep, "").await?, ["Kept"]);
    let with_deleted = rep.list_accounts("include_deleted=true").await?;
    assert_eq!(names(&with_deleted), ["Gone", "Kept"]);
    assert!(
        with_deleted
            .iter()
            .any(|a| a.id == gone.id && a.account.deleted)
    );
    let read = rep.account(gone.id).await?;
    assert!(read.account.deleted);
    assert_eq!(read.account.name, "Gone");
    assert!(!rep.account(kept.id).await?.account.deleted);

    // Deletion merges like any edit: it can be undone.
    rep.patch(&path, &json!({ "deleted": false }))
        .await?
        .assert_status(200);
    assert_eq!(listed_names(&rep, "").await?, ["Gone", "Kept"]);
    Ok(())
}

#[tokio::test]
async fn an_account_keeps_every_edit_past_the_compaction_threshold() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let created = rep.create_account(new_account("Long History")).await?;
    let path = format!("/accounts/{}", created.id);
    let edits = kam_server::store::log::COMPACT_AFTER + 8;
    let mut notes = String::new();
    let mut last_version = created.version;
    for i in 0..edits {
        notes.push_str(&format!("visit {i}; "));
        let patched: AccountView = rep
            .patch(&path, &json!({ "notes": notes, "scores": { "need": i } }))
            .await?
            .ensure_status(200)?
            .json()?;
        assert!(patched.version > last_version);
        last_version = patched.version;
    }
    let read = rep.account(created.id).await?;
    assert_eq!(read.account.notes, notes);
    assert_eq!(read.account.scores.need, Some(i64::from(edits - 1)));
    assert_eq!(read.version, last_version);
    Ok(())
}
