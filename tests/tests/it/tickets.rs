//! Tickets (`/tickets`) and the service summary: REST and sync, the
//! workflow and its refusals, the SLA from the configured hours, the
//! complaint that closes only after its callback, and who may see and
//! change which ticket.

use kam_server::records::callbacks::CallbackView;
use kam_server::records::page::Page;
use kam_server::records::tickets::{ServiceSummary, TicketView};
use kam_sync_core::ticket::TicketStatus;
use kam_sync_core::{Callback, Ticket};
use kam_tests::{Device, Org, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

fn new_ticket(account: impl std::fmt::Display, kind: &str, severity: &str) -> Value {
    json!({
        "account_id": account.to_string(),
        "type": kind,
        "title": "Meter readings doubled since March",
        "description": "Three sites report doubled readings.",
        "severity": severity,
    })
}

async fn open(session: &Session, body: Value) -> anyhow::Result<TicketView> {
    session.created("/tickets", &body).await
}

async fn change(
    session: &Session,
    id: impl std::fmt::Display,
    patch: Value,
) -> anyhow::Result<TicketView> {
    session.patched(&format!("/tickets/{id}"), &patch).await
}

/// A ticket at an account of rep_a1, worked by customer service up to `resolved`.
async fn resolved_ticket(
    app: &TestApp,
    org: &Org,
    kind: &str,
) -> anyhow::Result<(Session, Session, Uuid, TicketView)> {
    let rep = app.login_as(&org.rep_a1).await?;
    let service = app.login_as(&org.service).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let ticket = open(&service, new_ticket(account.id, kind, "high")).await?;
    change(
        &service,
        ticket.id,
        json!({"status": "assigned", "assignee_id": org.service.id}),
    )
    .await?;
    change(&service, ticket.id, json!({"status": "in_progress"})).await?;
    let resolved = change(
        &service,
        ticket.id,
        json!({"status": "resolved", "resolution": "Firmware rolled back"}),
    )
    .await?;
    Ok((rep, service, account.id.0, resolved))
}

#[tokio::test]
async fn a_ticket_is_due_after_the_configured_hours_for_its_severity() -> anyhow::Result<()> {
    let app = TestApp::spawn_with(|settings| settings.service.sla_hours.critical = 2).await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let critical = open(&rep, new_ticket(account.id, "complaint", "critical")).await?;
    assert_eq!(critical.ticket.status, TicketStatus::Open);
    assert_eq!((critical.sla_due_at - critical.opened_at).num_hours(), 2);
    assert!(!critical.sla_breached);
    assert_eq!(critical.resolved_at, None);
    let low = open(&rep, new_ticket(account.id, "question", "low")).await?;
    assert_eq!((low.sla_due_at - low.opened_at).num_hours(), 168);

    // Raising the severity brings the due time forward from the opening.
    let raised = change(&rep, low.id, json!({"severity": "high"})).await?;
    assert_eq!(
        raised.sla_due_at - raised.opened_at,
        chrono::Duration::hours(24)
    );
    let listed: Page<TicketView> = rep
        .get("/tickets?severity=critical&type=complaint&open_only=true")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, critical.id);
    Ok(())
}

#[tokio::test]
async fn ticket_status_moves_follow_the_workflow_and_others_are_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let service = app.login_as(&org.service).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let ticket = open(
        &service,
        new_ticket(account.id, "service_request", "medium"),
    )
    .await?;
    let path = format!("/tickets/{}", ticket.id);

    service
        .patch(&path, &json!({"status": "resolved", "resolution": "done"}))
        .await?
        .assert_problem(422, "invalid_status_move");
    service
        .patch(&path, &json!({"status": "assigned"}))
        .await?
        .assert_violation("assignee_id", "required");
    let assigned = change(
        &service,
        ticket.id,
        json!({"status": "assigned", "assignee_id": org.service.id}),
    )
    .await?;
    assert_eq!(assigned.ticket.status, TicketStatus::Assigned);
    service
        .patch(&path, &json!({"assignee_id": null}))
        .await?
        .assert_violation("assignee_id", "required");
    change(&service, ticket.id, json!({"status": "in_progress"})).await?;
    service
        .patch(&path, &json!({"status": "resolved"}))
        .await?
        .assert_violation("resolution", "required");
    let resolved = change(
        &service,
        ticket.id,
        json!({"status": "resolved", "resolution": "Replaced the pump"}),
    )
    .await?;
    assert!(resolved.resolved_at.is_some());
    assert!(resolved.time_to_resolve_hours.is_some_and(|h| h >= 0.0));
    assert!(!resolved.sla_breached);

    let reopened = change(&service, ticket.id, json!({"status": "in_progress"})).await?;
    assert_eq!(reopened.resolved_at, None);
    service
        .patch(&path, &json!({"status": "open"}))
        .await?
        .assert_problem(422, "invalid_status_move");
    change(&service, ticket.id, json!({"status": "resolved"})).await?;
    let closed = change(&service, ticket.id, json!({"status": "closed"})).await?;
    assert!(closed.closed_at.is_some());
    service
        .patch(&path, &json!({"status": "in_progress"}))
        .await?
        .assert_problem(422, "invalid_status_move");

    // A question answered on the spot closes at once, with its answer.
    let question = open(&rep, new_ticket(account.id, "question", "low")).await?;
    rep.patch(
        &format!("/tickets/{}", question.id),
        &json!({"status": "closed"}),
    )
    .await?
    .assert_violation("resolution", "required");
    let answered = change(
        &rep,
        question.id,
        json!({"status": "closed", "resolution": "Sent the manual"}),
    )
    .await?;
    assert!(answered.resolved_at.is_some() && answered.closed_at.is_some());
    Ok(())
}

#[tokio::test]
async fn a_complaint_closes_only_once_a_callback_after_it_is_done() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rep, service, account, complaint) = resolved_ticket(&app, &org, "complaint").await?;
    let path = format!("/tickets/{}", complaint.id);
    service
        .patch(&path, &json!({"status": "closed"}))
        .await?
        .assert_problem(422, "callback_required");
    service
        .patch(&path, &json!({"type": "question", "status": "closed"}))
        .await?
        .assert_violation("type", "immutable_field");

    let callback: CallbackView = rep
        .post(
            "/callbacks",
            &json!({
                "account_id": account, "kind": "after_ticket", "ticket_id": complaint.id,
                "scheduled_on": "2026-12-01",
            }),
        )
        .await?
        .ensure_status(201)?
        .json()?;
    service
        .patch(&path, &json!({"status": "closed"}))
        .await?
        .assert_problem(422, "callback_required");
    rep.patch(
        &format!("/callbacks/{}", callback.id),
        &json!({"status": "done", "satisfaction": 4, "comments": "Happy with the fix"}),
    )
    .await?
    .assert_status(200);
    let closed = change(&service, complaint.id, json!({"status": "closed"})).await?;
    assert_eq!(closed.ticket.status, TicketStatus::Closed);

    // A complaint is always resolved before it closes.
    let other = open(&service, new_ticket(account, "complaint", "low")).await?;
    service
        .patch(
            &format!("/tickets/{}", other.id),
            &json!({"status": "closed", "resolution": "Duplicate"}),
        )
        .await?
        .assert_problem(422, "invalid_status_move");
    Ok(())
}

#[tokio::test]
async fn an_assignee_is_active_and_sees_the_account_or_works_in_service() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let ticket = open(&rep, new_ticket(account.id, "service_request", "high")).await?;
    let path = format!("/tickets/{}", ticket.id);
    for (assignee, code) in [
        (org.rep_b1.id, "assignee_cannot_see_account"),
        (org.rep_a2.id, "assignee_cannot_see_account"),
        (Uuid::now_v7(), "unknown_user"),
    ] {
        rep.patch(
            &path,
            &json!({"status": "assigned", "assignee_id": assignee}),
        )
        .await?
        .assert_violation("assignee_id", code);
    }
    for assignee in [org.manager.id, org.service.id, org.rep_a1.id] {
        let assigned = change(
            &rep,
            ticket.id,
            json!({"status": "assigned", "assignee_id": assignee}),
        )
        .await?;
        assert_eq!(assigned.ticket.assignee_id.map(|u| u.0), Some(assignee));
    }
    let listed: Page<TicketView> = rep
        .get(&format!(
            "/tickets?assignee_id={}&status=assigned",
            org.rep_a1.id
        ))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(listed.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn tickets_are_seen_with_their_account_and_service_works_them_but_not_accounts()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    let service = app.login_as(&org.service).await?;
    let ticket = open(&service, new_ticket(account.id, "complaint", "high")).await?;
    let path = format!("/tickets/{}", ticket.id);
    assert_eq!(ticket.stamp.created_by.map(|u| u.0), Some(org.service.id));

    let outsider = app.login_as(&org.rep_b1).await?;
    outsider.get(&path).await?.assert_problem(404, "not_found");
    outsider
        .patch(&path, &json!({"severity": "low"}))
        .await?
        .assert_problem(404, "not_found");
    outsider
        .post("/tickets", &new_ticket(account.id, "question", "low"))
        .await?
        .assert_violation("account_id", "unknown_account");
    let listed: Page<TicketView> = outsider.get("/tickets").await?.ensure_status(200)?.json()?;
    assert!(listed.items.is_empty());

    for user in [&org.manager, &org.director, &org.admin] {
        app.login_as(user)
            .await?
            .get(&path)
            .await?
            .assert_status(200);
    }
    service
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({"name": "Renamed"}),
        )
        .await?
        .assert_problem(403, "read_only_role");
    change(&service, ticket.id, json!({"severity": "critical"})).await?;
    rep.patch(&path, &json!({"account_id": Uuid::now_v7()}))
        .await?
        .assert_violation("account_id", "immutable_field");
    rep.delete(&path).await?.assert_status(204);
    let hidden: Page<TicketView> = rep.get("/tickets").await?.ensure_status(200)?.json()?;
    assert!(hidden.items.is_empty());
    Ok(())
}

#[tokio::test]
async fn the_service_summary_counts_open_tickets_breaches_resolution_and_satisfaction_in_scope()
-> anyhow::Result<()> {
    // Critical tickets are due the moment they open, so they breach at once.
    let app = TestApp::spawn_with(|settings| settings.service.sla_hours.critical = 0).await;
    let org = app.seed_org().await?;
    let (rep, service, account, complaint) = resolved_ticket(&app, &org, "complaint").await?;
    let critical = open(&service, new_ticket(account, "service_request", "critical")).await?;
    open(&service, new_ticket(account, "question", "low")).await?;
    for satisfaction in [2, 5] {
        rep.post(
            "/callbacks",
            &json!({
                "account_id": account, "kind": "after_ticket", "ticket_id": complaint.id,
                "scheduled_on": "2026-12-01", "status": "done", "satisfaction": satisfaction,
            }),
        )
        .await?
        .assert_status(201);
    }
    let breached: Page<TicketView> = rep
        .get("/tickets?sla_breached=true")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(breached.items.len(), 1);
    assert_eq!(breached.items[0].id, critical.id);
    assert!(breached.items[0].sla_breached);

    let summary: ServiceSummary = service
        .get("/service/summary")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        (
            summary.open_tickets.critical,
            summary.open_tickets.high,
            summary.open_tickets.low
        ),
        (1, 0, 1)
    );
    assert_eq!(summary.sla_breached, 1);
    assert_eq!(summary.complaints, 1);
    assert_eq!(summary.open_complaints, 0);
    assert!(summary.average_resolution_hours.is_some_and(|h| h >= 0.0));
    assert_eq!(summary.average_satisfaction, Some(3.5));
    assert_eq!(summary.low_satisfaction_callbacks, 1);

    let outsider = app.login_as(&org.rep_b1).await?;
    let nothing: ServiceSummary = outsider
        .get("/service/summary")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(nothing.open_tickets.critical + nothing.open_tickets.low, 0);
    assert_eq!((nothing.complaints, nothing.sla_breached), (0, 0));
    assert_eq!(nothing.average_satisfaction, None);
    Ok(())
}

#[tokio::test]
async fn sync_undoes_an_invalid_status_move_with_a_notice() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Wuxi Power")).await?;
    let ticket = open(&rep, new_ticket(account.id, "service_request", "high")).await?;
    let mut phone = Device::new(&app, &org.service, "service-tablet").await?;
    phone.sync().await?;
    phone.edit::<Ticket>(
        ticket.id.0,
        json!({"status": "resolved", "resolution": "Fixed", "title": "Pump failure"}),
    )?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["invalid_status_move"]);
    assert_eq!(phone.json(ticket.id.0)["status"], json!("open"));
    assert_eq!(phone.json(ticket.id.0)["title"], json!("Pump failure"));
    let server: TicketView = rep
        .get(&format!("/tickets/{}", ticket.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(server.ticket.status, TicketStatus::Open);
    assert_eq!(server.ticket.title, "Pump failure");
    Ok(())
}

#[tokio::test]
async fn a_complaint_closed_offline_with_its_callback_in_the_same_push_is_accepted()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let (rep, _, account, complaint) = resolved_ticket(&app, &org, "complaint").await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;

    // Closing without the callback is undone, with a notice.
    phone.edit::<Ticket>(complaint.id.0, json!({"status": "closed"}))?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["callback_required"]);
    assert_eq!(phone.json(complaint.id.0)["status"], json!("resolved"));

    // The callback made offline and the close travel in one request; the
    // ticket is pushed first, yet its review sees the callback.
    phone.edit::<Ticket>(complaint.id.0, json!({"status": "closed"}))?;
    let callback: Callback = serde_json::from_value(json!({
        "account_id": account, "kind": "after_ticket", "ticket_id": complaint.id,
        "owner_id": org.rep_a1.id, "scheduled_on": "2026-12-01",
        "status": "done", "satisfaction": 5, "comments": "Satisfied",
    }))?;
    let callback_id = phone.create(&callback)?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    let server: TicketView = rep
        .get(&format!("/tickets/{}", complaint.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(server.ticket.status, TicketStatus::Closed);
    let done: CallbackView = rep
        .get(&format!("/callbacks/{callback_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(done.done_at.is_some());
    Ok(())
}

#[tokio::test]
async fn service_staff_sync_tickets_but_their_account_edits_are_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Changzhou Power")).await?;
    let mut tablet = Device::new(&app, &org.service, "service-tablet").await?;
    tablet.sync().await?;
    let ticket: Ticket = serde_json::from_value(json!({
        "account_id": account.id, "type": "question", "title": "Invoice copy",
        "severity": "low", "status": "assigned", "assignee_id": org.service.id,
    }))?;
    let ticket_id = tablet.create(&ticket)?;
    tablet.edit_account(account.id.0, json!({"name": "Renamed offline"}))?;
    let outcome = tablet.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["read_only_role"]);
    let server: TicketView = rep
        .get(&format!("/tickets/{ticket_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(server.ticket.status, TicketStatus::Assigned);
    assert_eq!(
        rep.account(account.id).await?.account.name,
        "Changzhou Power"
    );

    let mut outsider = Device::new(&app, &org.rep_b1, "phone").await?;
    outsider.sync().await?;
    assert_eq!(outsider.json(ticket_id), Value::Null);
    Ok(())
}
