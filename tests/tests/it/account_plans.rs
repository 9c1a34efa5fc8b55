//! Account plans (`/account-plans`): REST and sync, the figures of the view,
//! who may see and change which plan, one active plan per account and
//! period, status moves, resource approval by managers only, action owners,
//! and actions edited offline on two devices.

use kam_server::records::account_plans::{AccountPlanView, ResourceTotals};
use kam_server::records::page::Page;
use kam_sync_core::AccountPlan;
use kam_sync_core::account_plan::{PlanStatus, ResourceStatus};
use kam_sync_core::money::Total;
use kam_tests::{Device, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

fn new_plan(account: impl std::fmt::Display, period_start: &str) -> Value {
    json!({
        "account_id": account.to_string(),
        "period_kind": "quarter",
        "period_start": period_start,
        "title": "Win the metro tender",
    })
}

async fn add(session: &Session, body: Value) -> anyhow::Result<AccountPlanView> {
    session.created("/account-plans", &body).await
}

async fn patch(
    session: &Session,
    id: impl std::fmt::Display,
    body: Value,
) -> anyhow::Result<AccountPlanView> {
    session
        .patched(&format!("/account-plans/{id}"), &body)
        .await
}

async fn read(session: &Session, id: impl std::fmt::Display) -> anyhow::Result<AccountPlanView> {
    session.read(&format!("/account-plans/{id}")).await
}

fn codes(outcome: &kam_sync_core::SyncOutcome) -> Vec<&str> {
    outcome.notices.iter().map(|n| n.code.as_str()).collect()
}

#[tokio::test]
async fn a_rep_writes_a_quarter_plan_and_reads_its_figures_back() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    let mut body = new_plan(account.id, "2026-10-01");
    body["goals"] = json!([
        {"text": "Sign the framework contract", "metric": "revenue", "target_value": 2000000}
    ]);
    body["strategies"] = json!("Win the CIO through a pilot at the west depot.");
    body["actions"] = json!([
        {"text": "Book the pilot site", "due_on": "2020-01-15", "owner_id": org.rep_a1.id},
        {"text": "Meet the CIO", "due_on": "2020-01-10", "status": "done"},
        {"text": "Send the proposal", "due_on": "2999-01-01", "status": "in_progress"},
        {"text": "Ask for the tender rules", "status": "blocked"},
    ]);
    body["resources"] = json!([
        {"kind": "technical", "description": "Two presales engineers", "amount": 1000.5},
        {"kind": "executive_sponsor", "description": "Our VP at the kick-off"},
        {"kind": "budget", "description": "Pilot hardware", "amount": 0.2},
    ]);
    let created = rep.post("/account-plans", &body).await?;
    created.assert_status(201);
    let plan: AccountPlanView = created.json()?;
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/account-plans/{}", plan.id).as_str())
    );
    assert_eq!(plan.plan.owner_id.0, org.rep_a1.id);
    assert_eq!(plan.plan.status, PlanStatus::Draft);
    assert_eq!(plan.plan.currency, "CNY");
    assert_eq!(plan.stamp.created_by.map(|u| u.0), Some(org.rep_a1.id));
    assert_eq!(plan.overdue_actions, 1, "the old undone action only");
    assert_eq!(plan.progress, Some(0.25));
    assert_eq!(
        plan.resource_totals,
        ResourceTotals {
            requested: Total::from_minor(100_070),
            approved: Total::ZERO,
            rejected: Total::ZERO,
        }
    );
    let ids: Vec<Uuid> = plan.plan.actions.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.iter().all(|id| !id.is_nil()), "every action got an id");

    let again = read(&rep, plan.id).await?;
    assert_eq!(again.plan, plan.plan);
    let query = format!(
        "/account-plans?account_id={}&period_kind=quarter&period_start=2026-10-01&status=draft&owner_id={}",
        account.id, org.rep_a1.id
    );
    let listed: Page<AccountPlanView> = rep.get(&query).await?.ensure_status(200)?.json()?;
    assert_eq!(listed.items.len(), 1);
    for other in [
        "/account-plans?period_kind=year",
        "/account-plans?status=active",
        "/account-plans?period_start=2026-07-01",
    ] {
        let listed: Page<AccountPlanView> = rep.get(other).await?.ensure_status(200)?.json()?;
        assert!(listed.items.is_empty(), "{other}");
    }
    let listed: Page<AccountPlanView> = rep
        .get(&format!("/account-plans?owner_id={}", org.manager.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(listed.items.is_empty());
    Ok(())
}

#[tokio::test]
async fn bad_plans_are_refused_with_their_fields_named() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    rep.post("/account-plans", &new_plan(account.id, "2026-11-01"))
        .await?
        .assert_violation("period_start", "not_period_start");
    let mut body = new_plan(account.id, "2026-10-01");
    body["period_kind"] = json!("year");
    rep.post("/account-plans", &body)
        .await?
        .assert_violation("period_start", "not_period_start");
    let mut body = new_plan(account.id, "2026-10-01");
    body["resources"] = json!([{"kind": "budget", "description": "Dinner", "amount": 1.005}]);
    rep.post("/account-plans", &body)
        .await?
        .assert_violation("resources.0.amount", "invalid_amount");
    let mut body = new_plan(account.id, "2026-10-01");
    body["currency"] = json!("yuan");
    rep.post("/account-plans", &body)
        .await?
        .assert_violation("currency", "invalid_value");
    let mut body = new_plan(account.id, "2026-10-01");
    body["status"] = json!("closed");
    rep.post("/account-plans", &body)
        .await?
        .assert_violation("status", "invalid_status_move");
    let mut body = new_plan(account.id, "2026-10-01");
    body["period_kind"] = json!("week");
    let reply = rep.post("/account-plans", &body).await?;
    assert_eq!(reply.status.as_u16(), 422, "{reply:?}");
    rep.post("/account-plans", &new_plan(Uuid::now_v7(), "2026-10-01"))
        .await?
        .assert_violation("account_id", "unknown_account");
    let listed: Page<AccountPlanView> = rep
        .get("/account-plans")
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(listed.items.is_empty(), "nothing was stored");
    Ok(())
}

#[tokio::test]
async fn plans_are_seen_by_whoever_sees_their_account_and_changed_by_writers() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let plan = add(&rep, new_plan(account.id, "2026-07-01")).await?;
    let path = format!("/account-plans/{}", plan.id);

    let other_rep = app.login_as(&org.rep_b1).await?;
    other_rep.get(&path).await?.assert_problem(404, "not_found");
    other_rep
        .patch(&path, &json!({"title": "Mine now"}))
        .await?
        .assert_problem(404, "not_found");
    other_rep
        .delete(&path)
        .await?
        .assert_problem(404, "not_found");
    let listed: Page<AccountPlanView> = other_rep
        .get("/account-plans")
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(listed.items.is_empty());
    other_rep
        .post("/account-plans", &new_plan(account.id, "2026-10-01"))
        .await?
        .assert_violation("account_id", "unknown_account");

    for user in [&org.manager, &org.director, &org.admin, &org.service] {
        let session = app.login_as(user).await?;
        session.get(&path).await?.assert_status(200);
    }
    let service = app.login_as(&org.service).await?;
    service
        .patch(&path, &json!({"title": "Service plan"}))
        .await?
        .assert_problem(403, "read_only_role");

    // A rep owns their own plans; a manager assigns any user who sees the account.
    rep.patch(&path, &json!({"owner_id": org.rep_a2.id}))
        .await?
        .assert_problem(403, "owner_change_forbidden");
    let manager = app.login_as(&org.manager).await?;
    manager
        .patch(&path, &json!({"owner_id": org.rep_b1.id}))
        .await?
        .assert_violation("owner_id", "owner_cannot_see_account");
    let reassigned = patch(&manager, plan.id, json!({"owner_id": org.manager.id})).await?;
    assert_eq!(reassigned.plan.owner_id.0, org.manager.id);
    rep.patch(&path, &json!({"account_id": Uuid::now_v7()}))
        .await?
        .assert_violation("account_id", "immutable_field");

    rep.delete(&path).await?.assert_status(204);
    let deleted = read(&rep, plan.id).await?;
    assert!(deleted.plan.deleted);
    let listed: Page<AccountPlanView> = rep
        .get("/account-plans")
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(listed.items.is_empty());
    Ok(())
}

#[tokio::test]
async fn a_plan_moves_from_draft_to_active_to_closed_only() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let plan = add(&rep, new_plan(account.id, "2026-07-01")).await?;
    let path = format!("/account-plans/{}", plan.id);
    let reply = rep.patch(&path, &json!({"status": "closed"})).await?;
    reply.assert_violation("status", "invalid_status_move");
    assert!(
        reply.json::<Value>()?["detail"]
            .as_str()
            .is_some_and(|d| d.contains("draft → closed")),
        "{reply:?}"
    );
    assert_eq!(
        patch(&rep, plan.id, json!({"status": "active"}))
            .await?
            .plan
            .status,
        PlanStatus::Active
    );
    rep.patch(&path, &json!({"status": "draft"}))
        .await?
        .assert_violation("status", "invalid_status_move");
    assert_eq!(
        patch(&rep, plan.id, json!({"status": "closed"}))
            .await?
            .plan
            .status,
        PlanStatus::Closed
    );
    rep.patch(&path, &json!({"status": "active"}))
        .await?
        .assert_violation("status", "invalid_status_move");
    Ok(())
}

#[tokio::test]
async fn one_plan_is_active_per_account_and_period() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Wuxi Power")).await?;
    let other_account = rep.create_account(new_account("Changzhou Power")).await?;
    let mut body = new_plan(account.id, "2026-10-01");
    body["status"] = json!("active");
    let first = add(&rep, body.clone()).await?;

    let reply = rep.post("/account-plans", &body).await?;
    reply.assert_problem(422, "plan_exists");
    assert!(
        reply.json::<Value>()?["detail"]
            .as_str()
            .is_some_and(|d| d.contains(&first.id.to_string())),
        "the problem names the active plan: {reply:?}"
    );
    let second = add(&rep, new_plan(account.id, "2026-10-01")).await?;
    rep.patch(
        &format!("/account-plans/{}", second.id),
        &json!({"status": "active"}),
    )
    .await?
    .assert_problem(422, "plan_exists");

    // Other periods, kinds and accounts are other plans.
    let mut next_quarter = body.clone();
    next_quarter["period_start"] = json!("2027-01-01");
    let next = add(&rep, next_quarter).await?;
    let mut month = body.clone();
    month["period_kind"] = json!("month");
    add(&rep, month).await?;
    let mut elsewhere = body.clone();
    elsewhere["account_id"] = json!(other_account.id);
    add(&rep, elsewhere).await?;
    // Moving an active plan onto a taken period is refused too.
    rep.patch(
        &format!("/account-plans/{}", next.id),
        &json!({"period_start": "2026-10-01"}),
    )
    .await?
    .assert_problem(422, "plan_exists");

    patch(&rep, first.id, json!({"status": "closed"})).await?;
    let now_active = patch(&rep, second.id, json!({"status": "active"})).await?;
    assert_eq!(now_active.plan.status, PlanStatus::Active);
    let active: Page<AccountPlanView> = rep
        .get(&format!(
            "/account-plans?account_id={}&period_start=2026-10-01&period_kind=quarter&status=active",
            account.id
        ))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(active.items.len(), 1);
    assert_eq!(active.items[0].id, second.id);
    Ok(())
}

#[tokio::test]
async fn only_a_manager_or_above_approves_resource_requests() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let mut body = new_plan(account.id, "2026-10-01");
    body["resources"] = json!([
        {"kind": "budget", "description": "Pilot hardware", "amount": 12000.5},
        {"kind": "people", "description": "A delivery lead", "amount": 3000},
    ]);
    let plan = add(&rep, body.clone()).await?;
    let path = format!("/account-plans/{}", plan.id);
    let mut resources = serde_json::to_value(&plan.plan.resources)?;

    let mut approved_by_rep = resources.clone();
    approved_by_rep[0]["status"] = json!("approved");
    rep.patch(&path, &json!({"resources": approved_by_rep}))
        .await?
        .assert_problem(403, "approval_forbidden");
    let mut created_approved = body.clone();
    created_approved["resources"][0]["status"] = json!("approved");
    rep.post("/account-plans", &created_approved)
        .await?
        .assert_problem(403, "approval_forbidden");

    let manager = app.login_as(&org.manager).await?;
    resources[0]["status"] = json!("approved");
    resources[1]["status"] = json!("rejected");
    resources[1]["decided_by"] = json!(org.rep_a1.id);
    let decided = patch(&manager, plan.id, json!({"resources": resources})).await?;
    let statuses: Vec<_> = decided.plan.resources.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [ResourceStatus::Approved, ResourceStatus::Rejected]
    );
    assert!(
        decided
            .plan
            .resources
            .iter()
            .all(|r| r.decided_by.map(|u| u.0) == Some(org.manager.id)),
        "the server records who decided, whatever the client sent"
    );
    assert_eq!(
        decided.resource_totals,
        ResourceTotals {
            requested: Total::ZERO,
            approved: Total::from_minor(1_200_050),
            rejected: Total::from_major(3_000),
        }
    );

    // The rep may edit a request's wording but not take the decision back.
    let mut reworded = serde_json::to_value(&decided.plan.resources)?;
    reworded[0]["description"] = json!("Pilot hardware (two racks)");
    let kept = patch(&rep, plan.id, json!({"resources": reworded.clone()})).await?;
    assert_eq!(kept.plan.resources[0].status, ResourceStatus::Approved);
    assert_eq!(
        kept.plan.resources[0].decided_by.map(|u| u.0),
        Some(org.manager.id)
    );
    reworded[0]["status"] = json!("requested");
    rep.patch(&path, &json!({"resources": reworded}))
        .await?
        .assert_problem(403, "approval_forbidden");
    let director = app.login_as(&org.director).await?;
    let mut reopened = serde_json::to_value(&kept.plan.resources)?;
    reopened[1]["status"] = json!("requested");
    let reopened = patch(&director, plan.id, json!({"resources": reopened})).await?;
    assert_eq!(reopened.plan.resources[1].decided_by, None);
    assert_eq!(reopened.resource_totals.requested, Total::from_major(3_000));
    Ok(())
}

#[tokio::test]
async fn action_owners_are_active_users_who_can_see_the_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let mut body = new_plan(account.id, "2026-10-01");
    body["actions"] = json!([{"text": "Pilot", "owner_id": org.rep_b1.id}]);
    rep.post("/account-plans", &body)
        .await?
        .assert_violation("actions.0.owner_id", "owner_cannot_see_account");
    // A user who does not exist gets the same answer: it does not tell
    // which users exist.
    body["actions"] = json!([{"text": "Pilot", "owner_id": Uuid::now_v7()}]);
    rep.post("/account-plans", &body)
        .await?
        .assert_violation("actions.0.owner_id", "owner_cannot_see_account");
    body["actions"] = json!([
        {"text": "Pilot", "owner_id": org.rep_a1.id},
        {"text": "Escalate", "owner_id": org.manager.id},
    ]);
    let plan = add(&rep, body).await?;
    let mut actions = serde_json::to_value(&plan.plan.actions)?;
    actions[1]["owner_id"] = json!(org.rep_a2.id);
    rep.patch(
        &format!("/account-plans/{}", plan.id),
        &json!({"actions": actions}),
    )
    .await?
    .assert_violation("actions.1.owner_id", "owner_cannot_see_account");
    Ok(())
}

#[tokio::test]
async fn sync_undoes_a_reps_approval_a_second_active_plan_and_a_bad_move_with_notices()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Wuxi Power")).await?;
    let mut body = new_plan(account.id, "2026-10-01");
    body["status"] = json!("active");
    body["resources"] = json!([{"kind": "budget", "description": "Demo kit", "amount": 800}]);
    let plan = add(&rest, body).await?;
    let id = plan.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;

    // Offline: the rep approves his own request while rewording it, and
    // writes a second active plan for the same quarter.
    let mut resources = phone.json(id)["resources"].clone();
    resources[0]["status"] = json!("approved");
    resources[0]["description"] = json!("Demo kit and cables");
    phone.edit::<AccountPlan>(id, json!({"resources": resources}))?;
    let second: AccountPlan = serde_json::from_value(json!({
        "account_id": account.id, "period_kind": "quarter", "period_start": "2026-10-01",
        "title": "Plan B", "owner_id": org.rep_a1.id, "status": "active",
    }))?;
    let second_id = phone.create(&second)?;
    let outcome = phone.sync().await?;
    let mut seen = codes(&outcome);
    seen.sort_unstable();
    assert_eq!(
        seen,
        ["approval_forbidden", "plan_exists"],
        "{:?}",
        outcome.notices
    );
    let on_phone = phone.json(id);
    assert_eq!(on_phone["resources"][0]["status"], json!("requested"));
    assert_eq!(
        on_phone["resources"][0]["description"],
        json!("Demo kit and cables")
    );
    assert_eq!(phone.json(second_id)["status"], json!("draft"));
    let server = read(&rest, id).await?;
    assert_eq!(serde_json::to_value(&server.plan)?, on_phone);

    // A move the workflow does not have is undone too.
    phone.edit::<AccountPlan>(second_id, json!({"status": "closed"}))?;
    let outcome = phone.sync().await?;
    assert_eq!(codes(&outcome), ["invalid_status_move"]);
    assert_eq!(phone.json(second_id)["status"], json!("draft"));

    // The manager's device approves; the server records who decided.
    let mut tablet = Device::new(&app, &org.manager, "tablet").await?;
    tablet.sync().await?;
    let mut resources = tablet.json(id)["resources"].clone();
    resources[0]["status"] = json!("approved");
    tablet.edit::<AccountPlan>(id, json!({"resources": resources}))?;
    let outcome = tablet.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    assert_eq!(
        tablet.json(id)["resources"][0]["decided_by"],
        json!(org.manager.id)
    );
    phone.sync().await?;
    assert_eq!(phone.json(id), tablet.json(id));
    let server = read(&rest, id).await?;
    assert_eq!(server.resource_totals.approved, Total::from_major(800));
    Ok(())
}

#[tokio::test]
async fn actions_edited_offline_on_two_devices_converge_item_by_item() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Suzhou Metro")).await?;
    let mut body = new_plan(account.id, "2026-10-01");
    body["actions"] = json!([
        {"text": "Book the pilot site", "owner_id": org.rep_a1.id},
        {"text": "Send the proposal", "due_on": "2026-11-01"},
    ]);
    body["strategies"] = json!("Win the CIO.");
    let plan = add(&rest, body).await?;
    let id = plan.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut tablet = Device::new(&app, &org.manager, "tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;

    // The rep finishes the first action and adds one; the manager moves
    // the second one's date, takes it over and adds to the strategy.
    let mut on_phone = phone.json(id)["actions"].clone();
    on_phone[0]["status"] = json!("done");
    if let Some(list) = on_phone.as_array_mut() {
        list.push(
            json!({"id": Uuid::now_v7(), "text": "Invite the CIO to the demo", "status": "todo"}),
        );
    }
    phone.edit::<AccountPlan>(id, json!({"actions": on_phone}))?;
    let mut on_tablet = tablet.json(id)["actions"].clone();
    on_tablet[1]["due_on"] = json!("2026-11-20");
    on_tablet[1]["owner_id"] = json!(org.manager.id);
    tablet.edit::<AccountPlan>(
        id,
        json!({"actions": on_tablet, "strategies": "Win the CIO. Bring our VP."}),
    )?;
    let first = phone.sync().await?;
    let second = tablet.sync().await?;
    phone.sync().await?;
    assert!(first.notices.is_empty() && second.notices.is_empty());
    assert_eq!(phone.json(id), tablet.json(id));

    let merged = phone.json(id);
    let actions = merged["actions"].as_array().cloned().unwrap_or_default();
    assert_eq!(actions.len(), 3, "{merged}");
    assert_eq!(actions[0]["status"], json!("done"));
    assert_eq!(actions[1]["due_on"], json!("2026-11-20"));
    assert_eq!(actions[1]["owner_id"], json!(org.manager.id));
    assert_eq!(actions[2]["text"], json!("Invite the CIO to the demo"));
    assert_eq!(merged["strategies"], json!("Win the CIO. Bring our VP."));

    let server = read(&rest, id).await?;
    assert_eq!(serde_json::to_value(&server.plan)?, merged);
    assert_eq!(server.progress, Some(1.0 / 3.0));
    assert!(
        server.stamp.conflicts.is_empty(),
        "{:?}",
        server.stamp.conflicts
    );
    Ok(())
}
