//! `/targets`: setting, reading, changing and deleting sales targets, the
//! rule of decomposition (the parts of a target never add up to more than
//! it), the decomposition report, progress computed from contracts,
//! accounts and visits made through the API, and who may set and read
//! which target.

use chrono::{Datelike, Duration, NaiveDate, Utc};
use kam_server::records::page::Page;
use kam_server::records::targets::{Decomposition, TargetView};
use kam_sync_core::money::Total;
use kam_tests::{Method, Org, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

/// A quarterly target's body.
fn quarter_target(level: &str, subject: Option<Uuid>, metric: &str, value: f64) -> Value {
    json!({
        "period": "quarter",
        "period_start": "2026-01-01",
        "level": level,
        "subject_id": subject,
        "metric": metric,
        "value": value,
    })
}

/// Sets a target; any answer but 201 is an error carrying the reply.
async fn set(session: &Session, body: &Value) -> anyhow::Result<TargetView> {
    session.created("/targets", body).await
}

/// The revenue targets of Q1 2026 down one line of the org: org 1,000,000,
/// the East branch 600,000 (by the admin) and team A 400,000 (by its manager).
async fn revenue_line(app: &TestApp, org: &Org) -> anyhow::Result<[TargetView; 3]> {
    let admin = app.login_as(&org.admin).await?;
    let manager = app.login_as(&org.manager).await?;
    let whole = set(&admin, &quarter_target("org", None, "revenue", 1_000_000.0)).await?;
    let branch = set(
        &admin,
        &quarter_target("branch", Some(org.branch_id), "revenue", 600_000.0),
    )
    .await?;
    let team = set(
        &manager,
        &quarter_target("team", Some(org.team_a), "revenue", 400_000.0),
    )
    .await?;
    Ok([whole, branch, team])
}

/// A figure in major units (money) or a count, as a float.
fn number(value: &Total) -> f64 {
    value.minor() as f64 / 100.0
}

#[tokio::test]
async fn a_manager_sets_team_and_rep_targets_and_reads_them_back() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let id = Uuid::now_v7();
    let mut body = quarter_target("team", Some(org.team_a), "revenue", 400_000.5);
    body["id"] = json!(id);
    let reply = manager.post("/targets", &body).await?;
    reply.assert_status(201);
    assert_eq!(reply.header("etag"), Some("\"1\""));
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/targets/{id}").as_str())
    );
    let team: TargetView = reply.json()?;
    assert_eq!(team.id.0, id);
    assert_eq!(number(&team.value), 400_000.5);
    assert_eq!(team.currency.as_deref(), Some("CNY"));
    assert_eq!(
        team.period_end,
        NaiveDate::from_ymd_opt(2026, 4, 1).unwrap_or_default()
    );

    let visits = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a1.id), "visits", 30.0),
    )
    .await?;
    assert_eq!(visits.value, Total::from_major(30));
    assert_eq!(visits.currency, None);

    let read = manager.get(&format!("/targets/{id}")).await?;
    read.assert_status(200);
    assert_eq!(read.header("etag"), Some("\"1\""));
    assert_eq!(read.json::<TargetView>()?, team);
    let page: Page<TargetView> = manager
        .get("/targets?metric=visits&period=quarter&period_start=2026-01-01")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(page.items, [visits]);
    Ok(())
}

#[tokio::test]
async fn one_target_per_period_level_subject_and_metric() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    set(&admin, &quarter_target("org", None, "visits", 100.0)).await?;
    admin
        .post("/targets", &quarter_target("org", None, "visits", 50.0))
        .await?
        .assert_problem(409, "target_exists");
    let mut april = quarter_target("org", None, "visits", 50.0);
    april["period_start"] = json!("2026-04-01");
    set(&admin, &april).await?;
    set(
        &admin,
        &quarter_target("org", None, "signed_contracts", 5.0),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_target_input_is_a_422_naming_the_field() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let with = |field: &str, value: Value| {
        let mut body = quarter_target("team", Some(org.team_a), "visits", 10.0);
        body[field] = value;
        body
    };
    for (body, field) in [
        (with("period_start", json!("2026-02-01")), "period_start"),
        (
            json!({ "period": "year", "period_start": "2026-04-01", "level": "org", "metric": "visits", "value": 1 }),
            "period_start",
        ),
        (
            json!({ "period": "month", "period_start": "2026-04-02", "level": "org", "metric": "visits", "value": 1 }),
            "period_start",
        ),
        (with("value", json!(1.5)), "value"),
        (with("value", json!(-3)), "value"),
        (with("currency", json!("CNY")), "currency"),
        (with("subject_id", json!(Uuid::now_v7())), "subject_id"),
        (with("subject_id", Value::Null), "subject_id"),
        (
            quarter_target("org", Some(org.team_a), "visits", 1.0),
            "subject_id",
        ),
        (
            quarter_target("branch", Some(org.team_a), "visits", 1.0),
            "subject_id",
        ),
        (quarter_target("org", None, "revenue", 0.001), "value"),
        (with("period_start", json!("9999-10-01")), "period_start"),
        (with("period_start", json!("1899-01-01")), "period_start"),
    ] {
        let reply = admin.post("/targets", &body).await?;
        reply.assert_problem(422, "validation_failed");
        assert_eq!(reply.violated_fields(), [field], "{body}");
    }
    for (field, value) in [
        ("metric", json!("profit")),
        ("level", json!("region")),
        ("period", json!("week")),
        ("period_start", json!("2026-13-01")),
        ("value", json!("10")),
    ] {
        admin
            .post("/targets", &with(field, value))
            .await?
            .assert_problem(422, "invalid_body");
    }
    admin
        .get("/targets?metric=profit")
        .await?
        .assert_problem(400, "invalid_query");
    Ok(())
}

#[tokio::test]
async fn parts_that_would_exceed_their_whole_are_refused_naming_the_whole() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let [_, branch, team] = revenue_line(&app, &org).await?;
    let manager = app.login_as(&org.manager).await?;
    let admin = app.login_as(&org.admin).await?;
    set(
        &manager,
        &quarter_target("rep", Some(org.rep_a1.id), "revenue", 250_000.0),
    )
    .await?;
    let over = manager
        .post(
            "/targets",
            &quarter_target("rep", Some(org.rep_a2.id), "revenue", 150_000.01),
        )
        .await?;
    over.assert_problem(422, "decomposition_exceeded");
    let detail = over.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&team.id.to_string()), "{detail}");
    assert!(detail.contains("400000.00"), "{detail}");
    assert!(detail.contains("400000.01"), "{detail}");
    let fits = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a2.id), "revenue", 150_000.0),
    )
    .await?;

    let raised = manager
        .patch(
            &format!("/targets/{}", fits.id),
            &json!({ "value": 150_001 }),
        )
        .await?;
    raised.assert_problem(422, "decomposition_exceeded");
    let lowered = manager
        .patch(
            &format!("/targets/{}", team.id),
            &json!({ "value": 399_999.99 }),
        )
        .await?;
    lowered.assert_problem(422, "decomposition_exceeded");
    let team_b = admin
        .post(
            "/targets",
            &quarter_target("team", Some(org.team_b), "revenue", 200_000.01),
        )
        .await?;
    team_b.assert_problem(422, "decomposition_exceeded");
    let detail = team_b.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(&branch.id.to_string()), "{detail}");

    let mut in_dollars = quarter_target("team", Some(org.team_b), "revenue", 1.0);
    in_dollars["currency"] = json!("USD");
    let reply = admin.post("/targets", &in_dollars).await?;
    reply.assert_problem(422, "validation_failed");
    assert_eq!(reply.violated_fields(), ["currency"]);
    Ok(())
}

#[tokio::test]
async fn a_whole_set_after_its_parts_must_hold_them() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    for rep in [&org.rep_a1, &org.rep_a2] {
        set(
            &manager,
            &quarter_target("rep", Some(rep.id), "visits", 20.0),
        )
        .await?;
    }
    manager
        .post(
            "/targets",
            &quarter_target("team", Some(org.team_a), "visits", 39.0),
        )
        .await?
        .assert_problem(422, "decomposition_exceeded");
    set(
        &manager,
        &quarter_target("team", Some(org.team_a), "visits", 40.0),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn the_decomposition_report_shows_parts_their_sum_the_gap_and_who_has_no_target()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let [whole, branch, team] = revenue_line(&app, &org).await?;
    let manager = app.login_as(&org.manager).await?;
    let admin = app.login_as(&org.admin).await?;
    let part = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a1.id), "revenue", 250_000.25),
    )
    .await?;

    let report: Decomposition = manager
        .get(&format!("/targets/{}/decomposition", team.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(report.target, team);
    assert_eq!(report.parts, [part]);
    assert_eq!(number(&report.parts_sum), 250_000.25);
    assert_eq!(number(&report.gap), 149_999.75);
    let missing: Vec<Uuid> = report.without_target.iter().map(|s| s.id).collect();
    assert_eq!(missing, [org.rep_a2.id]);
    assert_eq!(report.without_target[0].name, "Test rep_a2");

    let report: Decomposition = admin
        .get(&format!("/targets/{}/decomposition", whole.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(report.parts, std::slice::from_ref(&branch));
    assert_eq!(number(&report.gap), 400_000.0);
    assert!(report.without_target.is_empty());

    let report: Decomposition = admin
        .get(&format!("/targets/{}/decomposition", branch.id))
        .await?
        .ensure_status(200)?
        .json()?;
    let missing: Vec<Uuid> = report.without_target.iter().map(|s| s.id).collect();
    assert_eq!(missing, [org.team_b]);

    let rep = app.login_as(&org.rep_a2).await?;
    let report: Decomposition = rep
        .get(&format!("/targets/{}/decomposition", team.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(
        report.parts.is_empty(),
        "rep_a2 does not read rep_a1's target"
    );
    assert_eq!(number(&report.gap), 149_999.75);
    Ok(())
}

#[tokio::test]
async fn targets_are_read_and_set_by_role_and_place_in_the_org() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let [whole, branch, team_a] = revenue_line(&app, &org).await?;
    let admin = app.login_as(&org.admin).await?;
    let director = app.login_as(&org.director).await?;
    let manager = app.login_as(&org.manager).await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_b1 = app.login_as(&org.rep_b1).await?;
    let service = app.login_as(&org.service).await?;
    let team_b = set(
        &director,
        &quarter_target("team", Some(org.team_b), "revenue", 100_000.0),
    )
    .await?;
    let own = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a1.id), "revenue", 100_000.0),
    )
    .await?;
    let peer = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a2.id), "revenue", 100_000.0),
    )
    .await?;
    let path = |t: &TargetView| format!("/targets/{}", t.id);

    // A rep reads their own target and their team's, and sets none.
    for readable in [&own, &team_a] {
        rep_a1.get(&path(readable)).await?.assert_status(200);
    }
    for hidden in [&peer, &team_b, &branch, &whole] {
        rep_a1
            .get(&path(hidden))
            .await?
            .assert_problem(404, "not_found");
    }
    rep_a1
        .patch(&path(&own), &json!({ "value": 1 }))
        .await?
        .assert_problem(403, "role_forbidden");
    rep_a1
        .post(
            "/targets",
            &quarter_target("rep", Some(org.rep_a1.id), "visits", 1.0),
        )
        .await?
        .assert_problem(403, "role_forbidden");
    let listed: Page<TargetView> = rep_b1.get("/targets").await?.ensure_status(200)?.json()?;
    assert_eq!(listed.items, std::slice::from_ref(&team_b));

    // A manager reads and sets the teams they lead and those teams' users.
    manager
        .get(&path(&team_b))
        .await?
        .assert_problem(404, "not_found");
    manager
        .get(&path(&branch))
        .await?
        .assert_problem(404, "not_found");
    manager
        .post(
            "/targets",
            &quarter_target("rep", Some(org.rep_b1.id), "visits", 1.0),
        )
        .await?
        .assert_problem(403, "target_scope_forbidden");
    manager
        .post(
            "/targets",
            &quarter_target("branch", Some(org.branch_id), "visits", 1.0),
        )
        .await?
        .assert_problem(403, "target_scope_forbidden");
    let listed: Page<TargetView> = manager.get("/targets").await?.ensure_status(200)?.json()?;
    assert_eq!(listed.items.len(), 3);

    // A director of a branch reads the org's target but sets their branch and below.
    director.get(&path(&whole)).await?.assert_status(200);
    director
        .patch(&path(&whole), &json!({ "value": 2_000_000 }))
        .await?
        .assert_problem(403, "target_scope_forbidden");
    director
        .patch(&path(&peer), &json!({ "value": 50_000 }))
        .await?
        .assert_status(200);
    let west = app.create_branch("West").await?;
    director
        .post(
            "/targets",
            &quarter_target("branch", Some(west), "visits", 1.0),
        )
        .await?
        .assert_problem(403, "target_scope_forbidden");
    admin
        .post(
            "/targets",
            &quarter_target("branch", Some(west), "visits", 1.0),
        )
        .await?
        .assert_status(201);

    // The service role works tickets, not targets.
    for reply in [
        service.get("/targets").await?,
        service.get(&path(&team_a)).await?,
        service
            .get(&format!("/targets/{}/progress", team_a.id))
            .await?,
        service
            .post("/targets", &quarter_target("org", None, "visits", 1.0))
            .await?,
    ] {
        reply.assert_problem(403, "role_forbidden");
    }
    Ok(())
}

#[tokio::test]
async fn a_stale_if_match_on_a_target_is_412_and_deleting_keeps_the_parts() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let [_, _, team] = revenue_line(&app, &org).await?;
    let manager = app.login_as(&org.manager).await?;
    let part = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a1.id), "revenue", 100_000.0),
    )
    .await?;
    let path = format!("/targets/{}", team.id);
    let changed = manager
        .send(
            manager
                .request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({ "value": 450_000 })),
        )
        .await?;
    changed.assert_status(200);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    manager
        .send(
            manager
                .request(Method::PATCH, &path)
                .header("if-match", "\"1\"")
                .json(&json!({ "value": 500_000 })),
        )
        .await?
        .assert_problem(412, "precondition_failed");
    manager
        .send(
            manager
                .request(Method::DELETE, &path)
                .header("if-match", "\"1\""),
        )
        .await?
        .assert_problem(412, "precondition_failed");
    manager
        .patch(&path, &json!({ "level": "org" }))
        .await?
        .assert_problem(422, "invalid_body");
    manager.delete(&path).await?.assert_status(204);
    manager.get(&path).await?.assert_problem(404, "not_found");
    manager
        .get(&format!("/targets/{}", part.id))
        .await?
        .assert_status(200);
    Ok(())
}

/// A contract body signed on `signed_on` in `status`.
fn signed(account: Uuid, number: &str, amount: f64, signed_on: &str, status: &str) -> Value {
    json!({
        "account_id": account,
        "number": number,
        "amount": amount,
        "signed_on": signed_on,
        "status": status,
    })
}

#[tokio::test]
async fn revenue_progress_sums_the_contracts_signed_in_the_period_by_the_subjects_users()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let [whole, _, team] = revenue_line(&app, &org).await?;
    let admin = app.login_as(&org.admin).await?;
    let manager = app.login_as(&org.manager).await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_b1 = app.login_as(&org.rep_b1).await?;
    let a1 = rep_a1
        .create_account(new_account("Hefei Glass"))
        .await?
        .id
        .0;
    let b1 = rep_b1
        .create_account(new_account("Wuhu Cement"))
        .await?
        .id
        .0;
    for (session, body) in [
        (
            &rep_a1,
            signed(a1, "P-1", 100_000.0, "2026-02-10", "active"),
        ),
        (&rep_a1, signed(a1, "P-2", 50_000.5, "2026-03-31", "active")),
        (&rep_a1, signed(a1, "P-3", 70_000.0, "2026-04-01", "active")),
        (
            &rep_a1,
            json!({ "account_id": a1, "number": "P-4", "amount": 9_999.0 }),
        ),
        (&rep_b1, signed(b1, "P-5", 25_000.0, "2026-01-01", "active")),
    ] {
        session.post("/contracts", &body).await?.assert_status(201);
    }
    let mut dollars = signed(a1, "P-6", 1_000.0, "2026-01-20", "active");
    dollars["currency"] = json!("USD");
    rep_a1
        .post("/contracts", &dollars)
        .await?
        .assert_status(201);
    let completed: Value = rep_a1
        .get("/contracts?status=active&signed_from=2026-03-31&signed_to=2026-03-31")
        .await?
        .ensure_status(200)?
        .json()?;
    let p2 = completed["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    rep_a1
        .patch(
            &format!("/contracts/{p2}"),
            &json!({ "status": "completed" }),
        )
        .await?
        .assert_status(200);

    let progress: TargetView = manager
        .get(&format!("/targets/{}/progress", team.id))
        .await?
        .ensure_status(200)?
        .json()?;
    let team_progress = progress.progress.clone().unwrap_or_else(|| unreachable!());
    assert_eq!(number(&team_progress.actual), 150_000.5);
    assert_eq!(team_progress.attainment, Some(0.375));

    let progress: TargetView = admin
        .get(&format!("/targets/{}/progress", whole.id))
        .await?
        .ensure_status(200)?
        .json()?;
    let org_progress = progress.progress.unwrap_or_else(|| unreachable!());
    assert_eq!(number(&org_progress.actual), 175_000.5);

    let count = set(
        &manager,
        &quarter_target("rep", Some(org.rep_a1.id), "signed_contracts", 0.0),
    )
    .await?;
    let page: Page<TargetView> = manager
        .get("/targets?with_progress=true&metric=signed_contracts")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, count.id);
    let counted = page.items[0]
        .progress
        .clone()
        .unwrap_or_else(|| unreachable!());
    assert_eq!(
        counted.actual,
        Total::from_major(3),
        "two in CNY and one in USD"
    );
    assert_eq!(counted.attainment, None, "a target of 0 has no attainment");
    Ok(())
}

#[tokio::test]
async fn progress_counts_new_key_accounts_and_effective_or_completed_visits_of_the_period()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let today = Utc::now().date_naive();
    let month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or_default();
    let this_month = |level: &str, subject: Uuid, metric: &str, value: f64| {
        json!({
            "period": "month",
            "period_start": month,
            "level": level,
            "subject_id": subject,
            "metric": metric,
            "value": value,
        })
    };

    for (name, tier) in [
        ("Key One", "key"),
        ("Key Two", "strategic"),
        ("Plain", "standard"),
    ] {
        let body = json!({ "name": name, "segment": "enterprise", "tier": tier, "owner_id": org.rep_a1.id });
        manager.create_account(body).await?;
    }
    let b_key = json!({ "name": "Key B", "segment": "enterprise", "tier": "key", "owner_id": org.rep_b1.id });
    app.login_as(&org.admin)
        .await?
        .create_account(b_key)
        .await?;

    let account = rep_a1.create_account(new_account("Visited")).await?;
    let planned_at = month.and_hms_opt(1, 0, 0).unwrap_or_default().and_utc();
    let here = json!({ "location": { "lat": 30.27, "lon": 120.15 } });
    let mut visits = Vec::new();
    let done_step = json!({ "done": true });
    let all_steps = json!({ "identify": done_step, "probe": done_step, "recommend": done_step, "close": done_step, "follow_up": done_step });
    for i in 0..3 {
        // Only the first records its five steps: the one effective visit.
        let mut body =
            json!({ "account_id": account.id, "planned_at": planned_at, "type": "onsite" });
        if i == 0 {
            body["steps"] = all_steps.clone();
        }
        let visit: Value = rep_a1
            .post("/visits", &body)
            .await?
            .ensure_status(201)?
            .json()?;
        visits.push(visit["id"].as_str().unwrap_or_default().to_owned());
    }
    for id in &visits[..2] {
        rep_a1
            .post(&format!("/visits/{id}/check-in"), &here)
            .await?
            .assert_status(200);
        rep_a1
            .post(&format!("/visits/{id}/check-out"), &here)
            .await?
            .assert_status(200);
    }
    let next_month = json!({
        "account_id": account.id,
        "planned_at": planned_at + Duration::days(40),
        "type": "onsite",
    });
    let later: Value = rep_a1
        .post("/visits", &next_month)
        .await?
        .ensure_status(201)?
        .json()?;
    let later = later["id"].as_str().unwrap_or_default();
    rep_a1
        .post(&format!("/visits/{later}/check-in"), &here)
        .await?
        .assert_status(200);
    rep_a1
        .post(&format!("/visits/{later}/check-out"), &here)
        .await?
        .assert_status(200);

    let accounts = set(
        &manager,
        &this_month("team", org.team_a, "new_key_accounts", 4.0),
    )
    .await?;
    let done = set(&manager, &this_month("rep", org.rep_a1.id, "visits", 8.0)).await?;
    let progress_of = |target: TargetView| {
        let manager = &manager;
        async move {
            let view: TargetView = manager
                .get(&format!("/targets/{}/progress", target.id))
                .await?
                .ensure_status(200)?
                .json()?;
            anyhow::Ok(view.progress.unwrap_or_else(|| unreachable!()))
        }
    };
    let accounts = progress_of(accounts).await?;
    assert_eq!(
        accounts.actual,
        Total::from_major(2),
        "key and strategic accounts of team A"
    );
    assert_eq!(accounts.attainment, Some(0.5));
    let effective = progress_of(done.clone()).await?;
    assert_eq!(
        effective.actual,
        Total::from_major(1),
        "effective visits planned this month"
    );
    assert_eq!(effective.attainment, Some(0.125));
    let admin = app.login_as(&org.admin).await?;
    let mut settings: Value = admin.read("/admin/settings/insight").await?;
    settings["visits"]["targets_count_effective_only"] = json!(false);
    admin
        .put("/admin/settings/insight", &settings)
        .await?
        .ensure_status(200)?;
    let completed = progress_of(done).await?;
    assert_eq!(
        completed.actual,
        Total::from_major(2),
        "completed visits planned this month"
    );
    assert_eq!(completed.attainment, Some(0.25));
    Ok(())
}

#[tokio::test]
async fn parts_written_at_the_same_time_never_add_up_past_their_whole() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let month = |month: u32, level: &str, subject: Uuid, value: f64| {
        json!({
            "period": "month",
            "period_start": format!("2026-{month:02}-01"),
            "level": level,
            "subject_id": subject,
            "metric": "visits",
            "value": value,
        })
    };
    for m in 1..=12 {
        let whole = month(m, "team", org.team_a, 50.0);
        let (first, second, late_whole) = (
            month(m, "rep", org.rep_a1.id, 30.0),
            month(m, "rep", org.rep_a2.id, 30.0),
            month(m, "team", org.team_a, 40.0),
        );
        // Odd months: the whole exists and two parts race for it; even
        // months: two parts race a whole too small for both.
        let replies = if m % 2 == 1 {
            set(&manager, &whole).await?;
            let (a, b) = tokio::join!(
                manager.post("/targets", &first),
                manager.post("/targets", &second)
            );
            vec![a?, b?]
        } else {
            let (a, b, c) = tokio::join!(
                manager.post("/targets", &first),
                manager.post("/targets", &second),
                manager.post("/targets", &late_whole)
            );
            vec![a?, b?, c?]
        };
        for reply in &replies {
            assert!(
                reply.status == 201 || reply.code() == Some("decomposition_exceeded"),
                "{}",
                reply.body
            );
        }
        let page: Page<TargetView> = manager
            .get(&format!("/targets?period_start=2026-{m:02}-01&limit=10"))
            .await?
            .ensure_status(200)?
            .json()?;
        let team = page
            .items
            .iter()
            .find(|t| t.level == kam_server::records::targets::Level::Team);
        let parts: f64 = page
            .items
            .iter()
            .filter(|t| t.level == kam_server::records::targets::Level::Rep)
            .map(|t| number(&t.value))
            .sum();
        if let Some(team) = team {
            assert!(
                parts <= number(&team.value),
                "month {m}: {parts} > {}",
                team.value
            );
        }
    }
    Ok(())
}
