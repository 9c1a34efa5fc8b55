//! Callbacks (`/callbacks`): REST and sync, the workflow and the
//! satisfaction a done callback records, the ticket an after-ticket
//! callback follows up, owners, and who may see and change which callback.

use kam_server::records::callbacks::CallbackView;
use kam_server::records::page::Page;
use kam_server::records::tickets::TicketView;
use kam_sync_core::Callback;
use kam_sync_core::callback::CallbackStatus;
use kam_tests::{Device, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

fn new_callback(account: impl std::fmt::Display, kind: &str) -> Value {
    json!({
        "account_id": account.to_string(),
        "kind": kind,
        "scheduled_on": "2026-12-01",
        "comments": "Ask about the new line",
    })
}

async fn plan(session: &Session, body: Value) -> anyhow::Result<CallbackView> {
    session.created("/callbacks", &body).await
}

async fn change(
    session: &Session,
    id: impl std::fmt::Display,
    patch: Value,
) -> anyhow::Result<CallbackView> {
    session.patched(&format!("/callbacks/{id}"), &patch).await
}

#[tokio::test]
async fn a_rep_plans_a_callback_and_logs_it_done_with_the_satisfaction() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let callback = plan(&rep, new_callback(account.id, "after_sale")).await?;
    assert_eq!(callback.callback.owner_id.0, org.rep_a1.id);
    assert_eq!(callback.callback.status, CallbackStatus::Planned);
    assert_eq!(callback.done_at, None);
    let path = format!("/callbacks/{}", callback.id);

    rep.patch(&path, &json!({"status": "done"}))
        .await?
        .assert_violation("satisfaction", "required");
    rep.patch(&path, &json!({"status": "done", "satisfaction": 6}))
        .await?
        .assert_violation("satisfaction", "out_of_range");
    let done = change(
        &rep,
        callback.id,
        json!({"status": "done", "satisfaction": 2}),
    )
    .await?;
    assert!(done.done_at.is_some());
    assert!(done.low_satisfaction);
    rep.patch(&path, &json!({"status": "planned"}))
        .await?
        .assert_problem(422, "invalid_status_move");
    rep.patch(&path, &json!({"satisfaction": null}))
        .await?
        .assert_violation("satisfaction", "required");

    let missed = plan(&rep, new_callback(account.id, "routine")).await?;
    change(&rep, missed.id, json!({"status": "missed"})).await?;
    rep.patch(
        &format!("/callbacks/{}", missed.id),
        &json!({"status": "done", "satisfaction": 5}),
    )
    .await?
    .assert_problem(422, "invalid_status_move");
    change(
        &rep,
        missed.id,
        json!({"status": "planned", "scheduled_on": "2026-12-08"}),
    )
    .await?;

    for (query, expected) in [
        ("status=done&low_satisfaction=true", vec![callback.id]),
        ("low_satisfaction=false", vec![missed.id]),
        ("kind=routine&status=planned", vec![missed.id]),
        (
            &*format!("owner_id={}&kind=after_sale", org.rep_a1.id),
            vec![callback.id],
        ),
    ] {
        let listed: Page<CallbackView> = rep
            .get(&format!("/callbacks?{query}"))
            .await?
            .ensure_status(200)?
            .json()?;
        let ids: Vec<_> = listed.items.iter().map(|c| c.id).collect();
        assert_eq!(ids, expected, "{query}");
    }
    Ok(())
}

#[tokio::test]
async fn an_after_ticket_callback_names_a_ticket_of_the_same_account() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let first = rep.create_account(new_account("Ningbo Port")).await?;
    let second = rep.create_account(new_account("Zhoushan Port")).await?;
    let ticket: TicketView = rep
        .post(
            "/tickets",
            &json!({
                "account_id": first.id, "type": "complaint", "title": "Late delivery",
                "severity": "medium",
            }),
        )
        .await?
        .ensure_status(201)?
        .json()?;
    rep.post("/callbacks", &new_callback(first.id, "after_ticket"))
        .await?
        .assert_violation("ticket_id", "required");
    let mut body = new_callback(second.id, "after_ticket");
    body["ticket_id"] = json!(ticket.id);
    rep.post("/callbacks", &body)
        .await?
        .assert_violation("ticket_id", "other_account");
    let mut body = new_callback(first.id, "after_ticket");
    body["ticket_id"] = json!(ticket.id);
    let callback = plan(&rep, body).await?;
    let listed: Page<CallbackView> = rep
        .get(&format!("/callbacks?ticket_id={}", ticket.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, callback.id);
    rep.patch(
        &format!("/callbacks/{}", callback.id),
        &json!({"account_id": second.id}),
    )
    .await?
    .assert_violation("account_id", "immutable_field");
    Ok(())
}

#[tokio::test]
async fn a_rep_owns_their_callbacks_and_a_manager_assigns_them_within_the_account()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    let mut body = new_callback(account.id, "routine");
    body["owner_id"] = json!(org.rep_a2.id);
    rep.post("/callbacks", &body)
        .await?
        .assert_problem(403, "owner_change_forbidden");
    let manager = app.login_as(&org.manager).await?;
    body["owner_id"] = json!(org.rep_b1.id);
    manager
        .post("/callbacks", &body)
        .await?
        .assert_violation("owner_id", "owner_cannot_see_account");
    // A user who does not exist gets the same answer: it does not tell
    // which users exist.
    body["owner_id"] = json!(Uuid::now_v7());
    manager
        .post("/callbacks", &body)
        .await?
        .assert_violation("owner_id", "owner_cannot_see_account");
    body["owner_id"] = json!(org.rep_a1.id);
    let assigned = plan(&manager, body).await?;
    assert_eq!(assigned.callback.owner_id.0, org.rep_a1.id);
    Ok(())
}

#[tokio::test]
async fn callbacks_are_seen_with_their_account_and_written_by_service_staff() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Wuxi Power")).await?;
    let service = app.login_as(&org.service).await?;
    let callback = plan(&service, new_callback(account.id, "routine")).await?;
    assert_eq!(callback.callback.owner_id.0, org.service.id);
    let path = format!("/callbacks/{}", callback.id);
    change(
        &service,
        callback.id,
        json!({"status": "done", "satisfaction": 5}),
    )
    .await?;

    let outsider = app.login_as(&org.rep_b1).await?;
    outsider.get(&path).await?.assert_problem(404, "not_found");
    outsider
        .patch(&path, &json!({"comments": "x"}))
        .await?
        .assert_problem(404, "not_found");
    outsider
        .post("/callbacks", &new_callback(account.id, "routine"))
        .await?
        .assert_violation("account_id", "unknown_account");
    for user in [&org.manager, &org.director, &org.admin] {
        app.login_as(user)
            .await?
            .get(&path)
            .await?
            .assert_status(200);
    }
    rep.get(&path).await?.assert_status(200);
    rep.delete(&path).await?.assert_status(204);
    let listed: Page<CallbackView> = rep.get("/callbacks").await?.ensure_status(200)?.json()?;
    assert!(listed.items.is_empty());
    Ok(())
}

#[tokio::test]
async fn callbacks_made_offline_sync_and_refused_moves_are_undone_with_notices()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Changzhou Power")).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut tablet = Device::new(&app, &org.service, "service-tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;

    // Logged done offline without the satisfaction: kept, but planned.
    let unrated: Callback = serde_json::from_value(json!({
        "account_id": account.id, "kind": "routine", "owner_id": org.rep_a1.id,
        "scheduled_on": "2026-12-01", "status": "done",
    }))?;
    let unrated_id = phone.create(&unrated)?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["required"]);
    assert_eq!(phone.json(unrated_id)["status"], json!("planned"));

    phone.edit::<Callback>(unrated_id, json!({"status": "done", "satisfaction": 4}))?;
    assert!(phone.sync().await?.notices.is_empty());
    tablet.sync().await?;
    assert_eq!(tablet.json(unrated_id)["satisfaction"], json!(4));

    // A done callback is final: the tablet's move back is undone.
    tablet.edit::<Callback>(
        unrated_id,
        json!({"status": "planned", "comments": "Call again in spring"}),
    )?;
    let outcome = tablet.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["invalid_status_move"]);
    assert_eq!(tablet.json(unrated_id)["status"], json!("done"));
    phone.sync().await?;
    assert_eq!(phone.json(unrated_id), tablet.json(unrated_id));
    let server: CallbackView = rest
        .get(&format!("/callbacks/{unrated_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(server.callback.comments, "Call again in spring");
    assert_eq!(server.callback.status, CallbackStatus::Done);
    Ok(())
}
