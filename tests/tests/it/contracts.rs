//! `/contracts`: creating, reading, listing and patching contracts, the
//! unique number, `If-Match`, the status moves, money, and who may see and
//! change which contract.

use anyhow::Context;
use chrono::NaiveDate;
use kam_server::auth::AuthUser;
use kam_server::entities::user;
use kam_server::records::contracts::{self, ContractStatus, ContractView, NewContract};
use kam_server::records::page::Page;
use kam_sync_core::ids::OpportunityId;
use kam_sync_core::money::Money;
use kam_tests::{Method, Session, TestApp, new_account, sorted};
use sea_orm::{EntityTrait, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

/// A new contract's body: the three required fields.
fn new_contract(account: impl std::fmt::Display, number: &str, amount: f64) -> Value {
    json!({ "account_id": account.to_string(), "number": number, "amount": amount })
}

/// Creates a contract; any answer but 201 is an error carrying the reply.
async fn create(session: &Session, body: &Value) -> anyhow::Result<ContractView> {
    session.created("/contracts", body).await
}

/// Patches a contract; any answer but 200 is an error carrying the reply.
async fn patch(
    session: &Session,
    id: impl std::fmt::Display,
    body: Value,
) -> anyhow::Result<ContractView> {
    session.patched(&format!("/contracts/{id}"), &body).await
}

/// The ids `session` lists with `query`, following the cursor, sorted.
async fn listed(session: &Session, query: &str) -> anyhow::Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/contracts?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Page<ContractView> = session.get(&path).await?.ensure_status(200)?.json()?;
        ids.extend(page.items.iter().map(|c| c.id.0));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => {
                ids.sort();
                return Ok(ids);
            }
        }
    }
    anyhow::bail!("the list of contracts did not end after 100 pages")
}

#[tokio::test]
async fn a_rep_creates_a_contract_owned_by_the_accounts_owner_with_exact_money()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep
        .create_account(new_account("Hangzhou Water Group"))
        .await?;
    let id = Uuid::now_v7();
    let mut body = new_contract(account.id, "HT-2026-001", 1_234_567.89);
    body["id"] = json!(id);
    body["payment_terms"] = json!("30% on signing, 70% within 60 days (账期)");
    let reply = rep.post("/contracts", &body).await?;
    reply.assert_status(201);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/contracts/{id}").as_str())
    );
    let created: ContractView = reply.json()?;
    assert_eq!(created.id.0, id);
    assert_eq!(created.owner_id.0, org.rep_a1.id);
    assert_eq!(created.created_by.map(|u| u.0), Some(org.rep_a1.id));
    assert_eq!(created.amount.minor(), 123_456_789);
    assert_eq!(reply.body["amount"], json!(1_234_567.89));
    assert_eq!(created.currency, "CNY");
    assert_eq!(reply.body["status"], "draft");
    assert_eq!(created.version, 1);

    let read = rep.get(&format!("/contracts/{id}")).await?;
    read.assert_status(200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.json::<ContractView>()?, created);
    Ok(())
}

#[tokio::test]
async fn a_contract_number_is_unique_on_create_and_on_patch() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let other = app.login_as(&org.rep_b1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let elsewhere = other.create_account(new_account("Wenzhou Shoes")).await?;
    create(&rep, &new_contract(account.id, "HT-7", 10.0)).await?;
    other
        .post("/contracts", &new_contract(elsewhere.id, "HT-7", 20.0))
        .await?
        .assert_problem(409, "contract_number_taken");
    let second = create(&rep, &new_contract(account.id, "HT-8", 10.0)).await?;
    rep.patch(
        &format!("/contracts/{}", second.id),
        &json!({ "number": "HT-7" }),
    )
    .await?
    .assert_problem(409, "contract_number_taken");
    let same_id =
        json!({ "id": second.id, "account_id": account.id, "number": "HT-9", "amount": 1 });
    rep.post("/contracts", &same_id)
        .await?
        .assert_problem(409, "already_exists");
    Ok(())
}

#[tokio::test]
async fn a_stale_if_match_on_a_contract_is_412_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Silk")).await?;
    let contract = create(&rep, &new_contract(account.id, "HT-1", 500.0)).await?;
    let path = format!("/contracts/{}", contract.id);

    let fresh = rep
        .send(
            rep.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({ "amount": 600.5 })),
        )
        .await?;
    fresh.assert_status(200);
    assert_eq!(fresh.header("etag"), Some("\"2\""));
    assert_eq!(fresh.body["amount"], json!(600.5));

    let stale = rep
        .send(
            rep.request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({ "amount": 1.0 })),
        )
        .await?;
    stale.assert_problem(412, "precondition_failed");
    let now: ContractView = rep.get(&path).await?.ensure_status(200)?.json()?;
    assert_eq!(now.amount.minor(), 60_050);
    assert_eq!(now.version, 2);

    let unchanged = patch(&rep, contract.id, json!({ "amount": 600.50 })).await?;
    assert_eq!(
        unchanged.version, 2,
        "a patch that changes nothing keeps the version"
    );
    Ok(())
}

#[tokio::test]
async fn a_contract_moves_from_draft_to_active_to_completed_and_then_takes_only_notes()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Shaoxing Textiles")).await?;
    let contract = create(&rep, &new_contract(account.id, "HT-100", 9_000.0)).await?;
    let path = format!("/contracts/{}", contract.id);

    let unsigned = rep.patch(&path, &json!({ "status": "active" })).await?;
    unsigned.assert_problem(422, "validation_failed");
    assert_eq!(unsigned.violated_fields(), ["signed_on"]);
    rep.patch(
        &path,
        &json!({ "status": "completed", "signed_on": "2026-03-01" }),
    )
    .await?
    .assert_problem(409, "invalid_status_move");

    let active = patch(
        &rep,
        contract.id,
        json!({ "status": "active", "signed_on": "2026-03-01" }),
    )
    .await?;
    assert_eq!(
        active.signed_on.map(|d| d.to_string()).as_deref(),
        Some("2026-03-01")
    );
    rep.patch(&path, &json!({ "status": "draft" }))
        .await?
        .assert_problem(409, "invalid_status_move");
    let cleared = rep.patch(&path, &json!({ "signed_on": null })).await?;
    cleared.assert_problem(422, "validation_failed");
    assert_eq!(cleared.violated_fields(), ["signed_on"]);

    let completed = patch(&rep, contract.id, json!({ "status": "completed" })).await?;
    assert_eq!(completed.version, 3);
    rep.patch(&path, &json!({ "amount": 1.0 }))
        .await?
        .assert_problem(409, "contract_closed");
    rep.patch(&path, &json!({ "status": "terminated" }))
        .await?
        .assert_problem(409, "invalid_status_move");
    let noted = patch(&rep, contract.id, json!({ "notes": "paid in full" })).await?;
    assert_eq!(noted.notes.as_deref(), Some("paid in full"));
    Ok(())
}

#[tokio::test]
async fn a_draft_is_terminated_rather_than_deleted() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Jiaxing Paper")).await?;
    let contract = create(&rep, &new_contract(account.id, "HT-5", 1.0)).await?;
    let path = format!("/contracts/{}", contract.id);
    rep.delete(&path)
        .await?
        .assert_problem(405, "method_not_allowed");
    let terminated = patch(&rep, contract.id, json!({ "status": "terminated" })).await?;
    assert_eq!(
        serde_json::to_value(terminated.status)?,
        json!("terminated")
    );
    rep.get(&path).await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_new_contract_is_a_draft_or_active_and_active_needs_its_signing_date()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Huzhou Tea")).await?;
    let mut body = new_contract(account.id, "HT-A", 10.0);
    body["status"] = json!("active");
    let reply = rep.post("/contracts", &body).await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.violated_fields(), ["signed_on"]);
    body["signed_on"] = json!("2026-06-30");
    create(&rep, &body).await?;
    let mut completed = new_contract(account.id, "HT-B", 10.0);
    completed["status"] = json!("completed");
    completed["signed_on"] = json!("2026-06-30");
    let reply = rep.post("/contracts", &completed).await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.violated_fields(), ["status"]);
    Ok(())
}

#[tokio::test]
async fn bad_contract_input_is_a_422_naming_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Quzhou Chemicals")).await?;
    let base = new_contract(account.id, "HT-X", 10.0);
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("number", json!("  ")), "number"),
        (with("number", json!("N".repeat(65))), "number"),
        (with("currency", json!("usd")), "currency"),
        (
            with("payment_terms", json!("x".repeat(1001))),
            "payment_terms",
        ),
        (
            json!({ "account_id": account.id, "number": "HT-Y", "amount": 1, "start_on": "2026-05-01", "end_on": "2026-04-30" }),
            "end_on",
        ),
        (with("account_id", json!(Uuid::now_v7())), "account_id"),
        (with("signed_on", json!("0001-01-01")), "signed_on"),
        (with("amount", json!(-1)), "amount"),
    ] {
        let reply = rep.post("/contracts", &body).await?;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.violated_fields(), [field], "{body}");
    }
    for amount in [
        json!(12.345),
        json!("12"),
        json!(1e13),
        json!(1_000_000_000_000.01),
    ] {
        rep.post("/contracts", &with("amount", amount.clone()))
            .await?
            .assert_problem(422, "invalid_body");
    }
    rep.post("/contracts", &with("signed_on", json!("2026-02-30")))
        .await?
        .assert_problem(422, "invalid_body");
    rep.post("/contracts", &with("colour", json!("red")))
        .await?
        .assert_problem(422, "invalid_body");

    let contract = create(&rep, &base).await?;
    let path = format!("/contracts/{}", contract.id);
    let other = rep.create_account(new_account("Lishui Timber")).await?;
    let moved = rep.patch(&path, &json!({ "account_id": other.id })).await?;
    moved.assert_problem(422, "validation_failed");
    assert_eq!(moved.violated_fields(), ["account_id"]);
    rep.patch(&path, &json!({ "version": 9 }))
        .await?
        .assert_problem(422, "invalid_body");
    rep.patch(&path, &json!({ "number": null }))
        .await?
        .assert_problem(422, "invalid_body");
    rep.get("/contracts?signed_from=yesterday")
        .await?
        .assert_problem(400, "invalid_query");
    Ok(())
}

#[tokio::test]
async fn contracts_are_seen_by_whoever_sees_the_account_and_changed_by_its_writers()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_b1 = app.login_as(&org.rep_b1).await?;
    let manager = app.login_as(&org.manager).await?;
    let director = app.login_as(&org.director).await?;
    let service = app.login_as(&org.service).await?;
    let account = rep_a1.create_account(new_account("Taizhou Pumps")).await?;
    let contract = create(&rep_a1, &new_contract(account.id, "HT-S", 88.0)).await?;
    let path = format!("/contracts/{}", contract.id);

    rep_b1.get(&path).await?.assert_problem(404, "not_found");
    rep_b1
        .patch(&path, &json!({ "notes": "mine now" }))
        .await?
        .assert_problem(404, "not_found");
    assert!(listed(&rep_b1, "").await?.is_empty());
    let reply = rep_b1
        .post("/contracts", &new_contract(account.id, "HT-T", 1.0))
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.violated_fields(), ["account_id"]);

    for reader in [&manager, &director, &service] {
        reader.get(&path).await?.assert_status(200);
        assert_eq!(listed(reader, "").await?, [contract.id.0]);
    }
    service
        .patch(&path, &json!({ "notes": "called" }))
        .await?
        .assert_problem(403, "read_only_role");
    service
        .post("/contracts", &new_contract(account.id, "HT-U", 1.0))
        .await?
        .assert_problem(403, "read_only_role");
    let by_manager = patch(&manager, contract.id, json!({ "notes": "checked" })).await?;
    assert_eq!(by_manager.version, 2);
    create(&director, &new_contract(account.id, "HT-V", 2.0)).await?;
    Ok(())
}

#[tokio::test]
async fn a_contracts_owner_sees_the_account_and_a_rep_names_only_themselves_or_its_owner()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep_a1
        .create_account(new_account("Zhoushan Fisheries"))
        .await?;
    let contract = create(&rep_a1, &new_contract(account.id, "HT-O", 5.0)).await?;
    let path = format!("/contracts/{}", contract.id);

    rep_a1
        .patch(&path, &json!({ "owner_id": org.rep_a2.id }))
        .await?
        .assert_problem(403, "owner_change_forbidden");
    let reply = manager
        .patch(&path, &json!({ "owner_id": org.rep_b1.id }))
        .await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.violated_fields(), ["owner_id"]);

    let mut shared = new_account("Jinhua Ham");
    shared["shared_with"] = json!([org.rep_a2.id]);
    let shared = rep_a1.create_account(shared).await?;
    let moved = patch(&manager, contract.id, json!({ "owner_id": org.rep_a2.id })).await;
    assert!(moved.is_err(), "rep_a2 cannot see the first account");
    let mut body = new_contract(shared.id, "HT-P", 5.0);
    body["owner_id"] = json!(org.rep_a2.id);
    let for_rep_a2 = create(&manager, &body).await?;
    assert_eq!(for_rep_a2.owner_id.0, org.rep_a2.id);
    Ok(())
}

#[tokio::test]
async fn listing_filters_contracts_by_account_owner_opportunity_status_and_signing_date()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_a2 = app.login_as(&org.rep_a2).await?;
    let manager = app.login_as(&org.manager).await?;
    let first = rep_a1.create_account(new_account("Wuxi Electric")).await?;
    let second = rep_a2.create_account(new_account("Changzhou Rail")).await?;
    let opportunity = open_opportunity(&rep_a1, first.id, "Substations").await?;
    let mut body = new_contract(first.id, "L-1", 1.0);
    body["opportunity_id"] = json!(opportunity);
    body["status"] = json!("active");
    body["signed_on"] = json!("2026-01-15");
    let january = create(&rep_a1, &body).await?;
    let mut body = new_contract(first.id, "L-2", 2.0);
    body["status"] = json!("active");
    body["signed_on"] = json!("2026-02-01");
    let february = create(&rep_a1, &body).await?;
    let draft = create(&rep_a2, &new_contract(second.id, "L-3", 3.0)).await?;

    let all = sorted(vec![january.id.0, february.id.0, draft.id.0]);
    assert_eq!(listed(&manager, "").await?, all);
    assert_eq!(listed(&manager, "limit=1").await?, all);
    assert_eq!(
        listed(&manager, &format!("account_id={}", first.id)).await?,
        sorted(vec![january.id.0, february.id.0])
    );
    assert_eq!(
        listed(&manager, &format!("owner_id={}", org.rep_a2.id)).await?,
        [draft.id.0]
    );
    assert_eq!(
        listed(&manager, &format!("opportunity_id={opportunity}")).await?,
        [january.id.0]
    );
    assert_eq!(listed(&manager, "status=draft").await?, [draft.id.0]);
    assert_eq!(
        listed(&manager, "signed_from=2026-01-15&signed_to=2026-01-31").await?,
        [january.id.0]
    );
    assert_eq!(
        listed(&manager, "signed_from=2026-02-01").await?,
        [february.id.0]
    );
    assert_eq!(listed(&rep_a2, "").await?, [draft.id.0]);
    Ok(())
}

#[tokio::test]
async fn a_won_opportunity_creates_its_contract_inside_its_own_transaction() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep
        .create_account(new_account("Won Deal Logistics"))
        .await?;
    let conn = app.db().conn();
    let row = user::Entity::find_by_id(org.rep_a1.id)
        .one(conn)
        .await?
        .context("rep_a1 is seeded")?;
    let caller = AuthUser::without_session(conn, &row)
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    let opportunity = OpportunityId(open_opportunity(&rep, account.id, "Trucks").await?);
    let new = NewContract {
        id: None,
        number: "OPP-2026-1".into(),
        account_id: account.id,
        opportunity_id: Some(opportunity),
        owner_id: None,
        amount: Some(Money::from_minor(500_000).context("a valid amount")?),
        line_items: Vec::new(),
        currency: None,
        signed_on: NaiveDate::from_ymd_opt(2026, 11, 2),
        start_on: None,
        end_on: None,
        payment_terms: None,
        status: Some(ContractStatus::Active),
        notes: None,
    };

    let guard = app.db().write_guard().await;
    let txn = conn.begin().await?;
    let undone = contracts::create(&txn, &caller, new.clone())
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    txn.rollback().await?;
    drop(guard);
    rep.get(&format!("/contracts/{}", undone.id))
        .await?
        .assert_problem(404, "not_found");

    let guard = app.db().write_guard().await;
    let txn = conn.begin().await?;
    let made = contracts::create(&txn, &caller, new)
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    txn.commit().await?;
    drop(guard);
    let read: ContractView = rep
        .get(&format!("/contracts/{}", made.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(read.opportunity_id, Some(opportunity));
    assert_eq!(read.owner_id.0, org.rep_a1.id);
    assert_eq!(read.amount.minor(), 500_000);
    assert_eq!(
        listed(&rep, &format!("opportunity_id={}", opportunity.0)).await?,
        [made.id.0]
    );
    Ok(())
}

/// An opportunity at the contract stage on `account`, opened by `session`.
async fn open_opportunity(
    session: &Session,
    account: impl std::fmt::Display,
    name: &str,
) -> anyhow::Result<Uuid> {
    let reply = session
        .post(
            "/opportunities",
            &json!({ "account_id": account.to_string(), "name": name, "stage": "contract", "amount": 1000.0 }),
        )
        .await?
        .ensure_status(201)?;
    Ok(serde_json::from_value(reply.body["id"].clone())?)
}

/// A won opportunity on `account`, opened by `session`.
async fn won_opportunity(
    session: &Session,
    account: impl std::fmt::Display,
    name: &str,
) -> anyhow::Result<Uuid> {
    let id = open_opportunity(session, account, name).await?;
    session
        .patch(&format!("/opportunities/{id}"), &json!({ "stage": "won" }))
        .await?
        .ensure_status(200)?;
    Ok(id)
}

/// The rep of a second branch, West, with an account of their own.
async fn west_rep(app: &TestApp) -> anyhow::Result<(Session, Uuid)> {
    let west = app.seed_west().await?;
    let session = app.login_as(&west.rep).await?;
    let account = session.create_account(new_account("West Water")).await?;
    Ok((session, account.id.0))
}

#[tokio::test]
async fn a_contract_names_only_an_opportunity_of_its_own_account_that_the_caller_sees()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let second = rep.create_account(new_account("Zhoushan Port")).await?;
    let (west, west_account) = west_rep(&app).await?;
    let foreign = won_opportunity(&west, west_account, "Pipes").await?;
    let elsewhere = won_opportunity(&rep, second.id, "Cranes").await?;
    let own = won_opportunity(&rep, account.id, "Berths").await?;

    for (opportunity, code) in [
        (foreign, "unknown_opportunity"),
        (Uuid::now_v7(), "unknown_opportunity"),
        (elsewhere, "other_account"),
    ] {
        let mut body = new_contract(account.id, "NB-1", 1.0);
        body["opportunity_id"] = json!(opportunity);
        rep.post("/contracts", &body)
            .await?
            .assert_violation("opportunity_id", code);
    }
    assert!(listed(&rep, "").await?.is_empty(), "nothing was stored");

    let contract = create(&rep, &new_contract(account.id, "NB-1", 1.0)).await?;
    for (opportunity, code) in [
        (foreign, "unknown_opportunity"),
        (elsewhere, "other_account"),
    ] {
        rep.patch(
            &format!("/contracts/{}", contract.id),
            &json!({ "opportunity_id": opportunity }),
        )
        .await?
        .assert_violation("opportunity_id", code);
    }
    let closing = patch(&rep, contract.id, json!({ "opportunity_id": own })).await?;
    assert_eq!(closing.opportunity_id.map(|o| o.0), Some(own));

    // The real owner closes their deal as usual.
    west.post(
        &format!("/opportunities/{foreign}/contract"),
        &json!({ "number": "W-1" }),
    )
    .await?
    .assert_status(201);
    Ok(())
}

#[tokio::test]
async fn a_contract_of_another_account_naming_an_opportunity_neither_blocks_nor_leaks()
-> anyhow::Result<()> {
    use kam_server::entities::contract;
    use sea_orm::{ActiveModelTrait, Set};
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let (west, west_account) = west_rep(&app).await?;
    let foreign = won_opportunity(&west, west_account, "Pipes").await?;
    // A contract stored before the rule: on the rep's account, naming the
    // other branch's deal.
    let now = chrono::Utc::now();
    contract::ActiveModel {
        id: Set(Uuid::now_v7()),
        number: Set("SECRET-42".into()),
        account_id: Set(account.id.0),
        opportunity_id: Set(Some(foreign)),
        owner_id: Set(org.rep_a1.id),
        amount_minor: Set(100),
        currency: Set("CNY".into()),
        status: Set("draft".into()),
        created_at: Set(now),
        updated_at: Set(now),
        version: Set(1),
        ..Default::default()
    }
    .insert(app.db().conn())
    .await?;

    let made = west
        .post(
            &format!("/opportunities/{foreign}/contract"),
            &json!({ "number": "W-1" }),
        )
        .await?;
    assert!(
        !made.body.to_string().contains("SECRET-42"),
        "the other account's contract number leaked: {}",
        made.body
    );
    made.assert_status(201);
    west.post(
        &format!("/opportunities/{foreign}/contract"),
        &json!({ "number": "W-2" }),
    )
    .await?
    .assert_problem(409, "contract_exists");
    Ok(())
}
