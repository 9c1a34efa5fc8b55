//! `/reports/*`: the sales analysis reports over records made through the
//! API, their exact figures, grouping, periods and CSV, who reads which
//! rows (a rep his accounts, a manager her teams', a director his branch),
//! and the parameters refused.

use chrono::{Datelike, Months, NaiveDate, Utc};
use kam_server::reports::accounts::AccountsReport;
use kam_server::reports::coverage::CoverageReport;
use kam_server::reports::funnel::FunnelReport;
use kam_server::reports::pipeline::PipelineReport;
use kam_server::reports::sales::SalesReport;
use kam_server::reports::service::ServiceReport;
use kam_sync_core::money::Total;
use kam_tests::{Method, Org, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

/// The first day of this month (UTC).
fn this_month() -> NaiveDate {
    let today = Utc::now().date_naive();
    NaiveDate::from_ymd_opt(today.year(), today.month(), 1).unwrap_or(today)
}

/// Money in major units, as reports write it.
fn money(major: f64) -> Total {
    Total::from_minor((major * 100.0).round() as i128)
}

/// The id in a 201's body.
async fn create(session: &Session, path: &str, body: Value) -> anyhow::Result<Uuid> {
    let view: Value = session.created(path, &body).await?;
    view["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| anyhow::anyhow!("no id in {view}"))
}

/// An account of `tier` owned by `owner`, made by a session that may set both.
async fn account_of(
    session: &Session,
    name: &str,
    tier: &str,
    owner: Uuid,
) -> anyhow::Result<Uuid> {
    let body = json!({ "name": name, "segment": "enterprise", "tier": tier, "owner_id": owner });
    Ok(session.create_account(body).await?.id.0)
}

/// A contract signed today in `status` (a draft is not signed; a
/// completed one is made active first).
async fn sign(
    session: &Session,
    account: Uuid,
    number: &str,
    amount: f64,
    status: &str,
) -> anyhow::Result<()> {
    let mut body = json!({ "account_id": account, "number": number, "amount": amount });
    if status != "draft" {
        body["status"] = json!("active");
        body["signed_on"] = json!(Utc::now().date_naive());
    }
    let id = create(session, "/contracts", body).await?;
    if status == "completed" {
        session
            .patch(
                &format!("/contracts/{id}"),
                &json!({ "status": "completed" }),
            )
            .await?
            .ensure_status(200)?;
    }
    Ok(())
}

/// The org of the sales tests, this month: team A signs 170,000.50 in CNY
/// (rep_a1 100,000 and 50,000.50, rep_a2 20,000) and 1,000 USD (rep_a1),
/// besides a draft; team B 25,000. Team A has a revenue target of 200,000
/// and rep_a1 one of 4 contracts. Key accounts: rep_a1 one, rep_a2 one,
/// rep_b1 one. rep_a1 completes two visits, one of them effective.
async fn sales_org(app: &TestApp) -> anyhow::Result<Org> {
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let manager = app.login_as(&org.manager).await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_a2 = app.login_as(&org.rep_a2).await?;
    let rep_b1 = app.login_as(&org.rep_b1).await?;
    let key_one = account_of(&manager, "Key One", "key", org.rep_a1.id).await?;
    let plain = account_of(&manager, "Plain", "standard", org.rep_a1.id).await?;
    let key_two = account_of(&manager, "Key Two", "strategic", org.rep_a2.id).await?;
    let key_b = account_of(&admin, "Key B", "key", org.rep_b1.id).await?;
    sign(&rep_a1, key_one, "S-1", 100_000.0, "active").await?;
    sign(&rep_a1, key_one, "S-2", 50_000.5, "completed").await?;
    sign(&rep_a1, key_one, "S-3", 9_999.0, "draft").await?;
    sign(&rep_a2, key_two, "S-4", 20_000.0, "active").await?;
    sign(&rep_b1, key_b, "S-5", 25_000.0, "active").await?;
    let dollars = json!({
        "account_id": plain, "number": "S-6", "amount": 1_000.0, "currency": "USD",
        "status": "active", "signed_on": Utc::now().date_naive(),
    });
    create(&rep_a1, "/contracts", dollars).await?;
    let target = |level: &str, subject: Uuid, metric: &str, value: f64| {
        json!({
            "period": "month", "period_start": this_month(), "level": level,
            "subject_id": subject, "metric": metric, "value": value,
        })
    };
    create(
        &manager,
        "/targets",
        target("team", org.team_a, "revenue", 200_000.0),
    )
    .await?;
    create(
        &manager,
        "/targets",
        target("rep", org.rep_a1.id, "signed_contracts", 4.0),
    )
    .await?;
    let done = json!({ "done": true });
    let steps = json!({
        "identify": done, "probe": done, "recommend": done, "close": done, "follow_up": done,
    });
    let here = json!({ "location": { "lat": 30.27, "lon": 120.15 } });
    for with_steps in [true, false] {
        let mut body = json!({ "account_id": plain, "planned_at": Utc::now(), "type": "onsite" });
        if with_steps {
            body["steps"] = steps.clone();
        }
        let visit = create(&rep_a1, "/visits", body).await?;
        for step in ["check-in", "check-out"] {
            rep_a1
                .post(&format!("/visits/{visit}/{step}"), &here)
                .await?
                .assert_status(200);
        }
    }
    Ok(org)
}

#[tokio::test]
async fn the_sales_report_sums_what_targets_count_per_team_against_their_targets()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = sales_org(&app).await?;
    let admin = app.login_as(&org.admin).await?;
    let report: SalesReport = admin.read("/reports/sales").await?;
    assert_eq!(report.period.from, this_month(), "this month by default");
    assert_eq!(report.currency, "CNY");
    let names: Vec<&str> = report.rows.iter().map(|r| r.group.name.as_str()).collect();
    assert_eq!(names, ["Team A", "Team B"]);
    let (a, b) = (&report.rows[0], &report.rows[1]);
    assert_eq!(a.group.id, Some(org.team_a));
    assert_eq!(a.revenue, money(170_000.5));
    assert_eq!(
        a.contracts_signed, 4,
        "the USD contract counts, the draft not"
    );
    assert_eq!(a.new_key_accounts, 2);
    assert_eq!(a.visits_completed, 2);
    assert_eq!(a.effective_visits, 1, "only the visit with its five steps");
    let target = a.revenue_target.as_ref().map(|t| (t.target, t.attainment));
    assert_eq!(target, Some((money(200_000.0), Some(0.85))));
    assert_eq!(a.contracts_target, None, "rep_a1's target is a rep's");
    assert_eq!(
        (b.revenue, b.contracts_signed, b.new_key_accounts),
        (money(25_000.0), 1, 1)
    );
    assert_eq!(b.revenue_target, None);
    assert_eq!(report.total.revenue, money(195_000.5));
    assert_eq!(report.total.contracts_signed, 5);
    assert_eq!(report.total.new_key_accounts, 3);
    let total_target = report.total.revenue_target.as_ref();
    assert_eq!(
        total_target.map(|t| (t.target, t.attainment)),
        Some((money(200_000.0), Some(0.85))),
        "measured against the groups with a target only"
    );

    let by_rep: SalesReport = admin.read("/reports/sales?group_by=rep").await?;
    let rep_a1 = by_rep
        .rows
        .iter()
        .find(|r| r.group.id == Some(org.rep_a1.id))
        .ok_or_else(|| anyhow::anyhow!("no row for rep_a1"))?;
    assert_eq!(rep_a1.group.name, "Test rep_a1");
    assert_eq!(rep_a1.revenue, money(150_000.5));
    assert_eq!(
        rep_a1
            .contracts_target
            .as_ref()
            .map(|t| (t.target, t.attainment)),
        Some((Total::from_major(4), Some(0.75)))
    );
    let by_branch: SalesReport = admin.read("/reports/sales?group_by=branch").await?;
    assert_eq!(by_branch.rows.len(), 1);
    assert_eq!(by_branch.rows[0].group.id, Some(org.branch_id));
    assert_eq!(by_branch.rows[0].group.name, "East");
    assert_eq!(by_branch.rows[0].revenue, money(195_000.5));
    let dollars: SalesReport = admin.read("/reports/sales?currency=USD").await?;
    assert_eq!(dollars.total.revenue, money(1_000.0));
    assert_eq!(dollars.rows[0].revenue_target, None, "the target is in CNY");

    let last_month = this_month() - Months::new(1);
    let before: SalesReport = admin
        .read(&format!(
            "/reports/sales?period=month&period_start={last_month}"
        ))
        .await?;
    assert!(before.rows.is_empty(), "nothing happened last month");
    Ok(())
}

#[tokio::test]
async fn the_sales_report_comes_as_csv_with_a_line_per_group_and_the_totals() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = sales_org(&app).await?;
    let director = app.login_as(&org.director).await?;
    let reply = director.get("/reports/sales?format=csv").await?;
    reply.assert_status(200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    let text = reply.body.as_str().unwrap_or_default().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "group_id,group_name,revenue,contracts_signed,new_key_accounts,visits_completed,\
             effective_visits,revenue_target,revenue_attainment,contracts_target,contracts_attainment,\
             new_key_accounts_target,new_key_accounts_attainment,visits_target,visits_attainment,currency",
            &format!(
                "{},Team A,170000.50,4,2,2,1,200000.00,0.85,,,,,,,CNY",
                org.team_a
            ),
            &format!("{},Team B,25000.00,1,1,0,0,,,,,,,,,CNY", org.team_b),
            ",Total,195000.50,5,3,2,1,200000.00,0.85,,,,,,,CNY",
        ]
    );
    let accepted = director
        .send(
            director
                .request(Method::GET, "/reports/sales")
                .header("Accept", "text/csv"),
        )
        .await?;
    assert_eq!(accepted.body.as_str(), Some(text.as_str()));
    let json_anyway = director
        .send(
            director
                .request(Method::GET, "/reports/sales?format=json")
                .header("Accept", "text/csv"),
        )
        .await?;
    assert!(json_anyway.body.is_object(), "format wins over Accept");
    Ok(())
}

#[tokio::test]
async fn a_reps_report_holds_only_his_accounts_and_a_managers_only_her_teams() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = sales_org(&app).await?;
    let west = app.seed_west().await?;

    let rep: SalesReport = app
        .login_as(&org.rep_a1)
        .await?
        .read("/reports/sales")
        .await?;
    assert_eq!(rep.rows.len(), 1);
    assert_eq!(rep.rows[0].group.id, Some(org.team_a));
    assert_eq!(rep.rows[0].revenue, money(150_000.5));
    assert_eq!(rep.rows[0].contracts_signed, 3);
    assert_eq!(rep.rows[0].new_key_accounts, 1);

    let manager = app.login_as(&org.manager).await?;
    let mine: SalesReport = manager.read("/reports/sales?group_by=rep").await?;
    let reps: Vec<Option<Uuid>> = mine.rows.iter().map(|r| r.group.id).collect();
    assert_eq!(reps, [Some(org.rep_a1.id), Some(org.rep_a2.id)]);
    assert_eq!(mine.total.revenue, money(170_000.5));
    let narrowed: SalesReport = manager
        .read(&format!("/reports/sales?owner_id={}", org.rep_a2.id))
        .await?;
    assert_eq!(narrowed.total.revenue, money(20_000.0));

    let director: SalesReport = app
        .login_as(&org.director)
        .await?
        .read(&format!("/reports/sales?team_id={}", org.team_b))
        .await?;
    assert_eq!(director.total.revenue, money(25_000.0));
    let other_branch: SalesReport = app
        .login_as(&west.director)
        .await?
        .read("/reports/sales")
        .await?;
    assert!(other_branch.rows.is_empty());
    assert_eq!(other_branch.total.revenue, Total::ZERO);

    let service = app.login_as(&org.service).await?;
    service
        .get("/reports/sales")
        .await?
        .assert_problem(403, "role_forbidden");
    for path in [
        "/reports/funnel",
        "/reports/accounts",
        "/reports/pipeline/by-group",
    ] {
        service
            .get(path)
            .await?
            .assert_problem(403, "role_forbidden");
    }
    service.get("/reports/service").await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn the_pipeline_by_group_sums_open_deals_by_stage_and_expected_close_month()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_b1 = app.login_as(&org.rep_b1).await?;
    let mine = rep_a1
        .create_account(new_account("Hefei Glass"))
        .await?
        .id
        .0;
    let theirs = rep_b1
        .create_account(new_account("Wuhu Cement"))
        .await?
        .id
        .0;
    let next_month = this_month() + Months::new(1);
    let after = this_month() + Months::new(3);
    for (session, account, name, stage, amount, closes) in [
        (
            &rep_a1,
            mine,
            "Boilers",
            "research",
            100_000.0,
            this_month(),
        ),
        (&rep_a1, mine, "Pumps", "planning", 50_000.0, next_month),
        (&rep_a1, mine, "Valves", "planning", 10_000.0, after),
        (
            &rep_b1,
            theirs,
            "Kilns",
            "negotiation",
            40_000.0,
            next_month,
        ),
    ] {
        let body = json!({
            "account_id": account, "name": name, "stage": stage,
            "amount": amount, "expected_close_on": closes,
        });
        create(session, "/opportunities", body).await?;
    }
    let closed = json!({ "account_id": mine, "name": "Lost one", "amount": 5.0 });
    let lost = create(&rep_a1, "/opportunities", closed).await?;
    rep_a1
        .patch(
            &format!("/opportunities/{lost}"),
            &json!({ "stage": "lost", "lost_reason": "Price" }),
        )
        .await?
        .assert_status(200);

    let to = next_month + Months::new(1) - chrono::Days::new(1);
    let admin = app.login_as(&org.admin).await?;
    let report: PipelineReport = admin
        .read(&format!(
            "/reports/pipeline/by-group?from={}&to={to}",
            this_month()
        ))
        .await?;
    let names: Vec<&str> = report.rows.iter().map(|r| r.group.name.as_str()).collect();
    assert_eq!(names, ["Team A", "Team B"]);
    let a = &report.rows[0];
    assert_eq!(a.open.count, 3, "the lost deal is not open");
    assert_eq!(a.open.amount, money(160_000.0));
    // research 10%, planning 25%.
    assert_eq!(a.open.weighted_amount, money(10_000.0 + 12_500.0 + 2_500.0));
    let stages: Vec<(String, i64)> = a
        .by_stage
        .iter()
        .map(|s| (s.stage.as_str().to_owned(), s.figures.count))
        .collect();
    assert_eq!(
        stages,
        [
            ("research".to_owned(), 1),
            ("planning".to_owned(), 2),
            ("negotiation".to_owned(), 0),
            ("contract".to_owned(), 0),
        ]
    );
    let months: Vec<(String, i64, Total)> = a
        .closing
        .iter()
        .map(|m| (m.month.clone(), m.figures.count, m.figures.amount))
        .collect();
    assert_eq!(
        months,
        [
            (
                this_month().format("%Y-%m").to_string(),
                1,
                money(100_000.0)
            ),
            (next_month.format("%Y-%m").to_string(), 1, money(50_000.0)),
        ],
        "the deal closing after the range is in the pipeline, not in a month"
    );
    assert_eq!(report.total.open.count, 4);
    assert_eq!(report.total.closing[1].figures.count, 2);
    assert_eq!(
        report.total.closing[1].figures.weighted_amount,
        money(12_500.0 + 20_000.0)
    );

    let rep: PipelineReport = rep_b1
        .read("/reports/pipeline/by-group?group_by=rep")
        .await?;
    assert_eq!(rep.rows.len(), 1);
    assert_eq!(rep.rows[0].group.id, Some(org.rep_b1.id));
    assert_eq!(rep.total.open.amount, money(40_000.0));

    let csv = admin
        .get("/reports/pipeline/by-group?format=csv&group_by=branch")
        .await?;
    let text = csv.body.as_str().unwrap_or_default();
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with(
            "group_id,group_name,open_count,open_amount,open_weighted,research_count,"
        ),
        "{header}"
    );
    assert_eq!(
        text.lines()
            .nth(1)
            .map(|l| l.split(',').take(4).collect::<Vec<_>>()),
        Some(vec![
            org.branch_id.to_string().as_str(),
            "East",
            "4",
            "200000.00"
        ])
    );
    Ok(())
}

#[tokio::test]
async fn the_funnel_counts_stage_entries_conversion_win_rate_and_loss_reasons() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hefei Glass")).await?.id.0;
    let deal =
        |name: &str, amount: f64| json!({ "account_id": account, "name": name, "amount": amount });
    let won = create(&rep, "/opportunities", deal("Boilers", 80_000.0)).await?;
    for stage in ["planning", "negotiation", "contract", "won"] {
        rep.patch(&format!("/opportunities/{won}"), &json!({ "stage": stage }))
            .await?
            .assert_status(200);
    }
    for (name, reason, via_planning) in [
        ("Pumps", "Price", false),
        ("Valves", "Price", false),
        ("Kilns", "Timing", true),
    ] {
        let id = create(&rep, "/opportunities", deal(name, 1_000.0)).await?;
        let path = format!("/opportunities/{id}");
        if via_planning {
            rep.patch(&path, &json!({ "stage": "planning" }))
                .await?
                .assert_status(200);
        }
        rep.patch(&path, &json!({ "stage": "lost", "lost_reason": reason }))
            .await?
            .assert_status(200);
    }
    create(&rep, "/opportunities", deal("Still open", 1.0)).await?;

    let report: FunnelReport = app
        .login_as(&org.manager)
        .await?
        .read("/reports/funnel?period=month")
        .await?;
    assert_eq!(report.rows.len(), 1);
    let row = &report.rows[0];
    assert_eq!(row.group.id, Some(org.team_a));
    let flow: Vec<(String, i64, Option<f64>)> = row
        .stages
        .iter()
        .map(|s| (s.stage.as_str().to_owned(), s.entered, s.conversion))
        .collect();
    assert_eq!(
        flow,
        [
            ("research".to_owned(), 5, Some(0.4)),
            ("planning".to_owned(), 2, Some(0.5)),
            ("negotiation".to_owned(), 1, Some(1.0)),
            ("contract".to_owned(), 1, Some(1.0)),
        ]
    );
    assert_eq!(
        row.stages[0].average_days,
        Some(0.0),
        "left the same day it was entered"
    );
    assert_eq!((row.won, row.lost, row.win_rate), (1, 3, Some(0.25)));
    assert_eq!(row.won_amount, money(80_000.0));
    assert_eq!(row.average_cycle_days, Some(0.0));
    let reasons: Vec<(&str, i64)> = report
        .loss_reasons
        .iter()
        .map(|r| (r.reason.as_str(), r.count))
        .collect();
    assert_eq!(reasons, [("Price", 2), ("Timing", 1)]);
    assert_eq!(row.loss_reasons, report.loss_reasons);

    let other: FunnelReport = app
        .login_as(&org.rep_b1)
        .await?
        .read("/reports/funnel")
        .await?;
    assert!(other.rows.is_empty(), "rep_b1 sees none of rep_a1's deals");
    let csv = app
        .login_as(&org.admin)
        .await?
        .get("/reports/funnel?format=csv")
        .await?;
    let text = csv.body.as_str().unwrap_or_default();
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|line| line.contains(",1,3,0.25,80000.00,0,Price (2); Timing (1),CNY")),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn the_service_report_counts_tickets_sla_compliance_and_satisfaction_by_month()
-> anyhow::Result<()> {
    // Critical tickets are due the moment they open, so they breach at once.
    let app = TestApp::spawn_with(|settings| settings.service.sla_hours.critical = 0).await;
    let org = app.seed_org().await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let rep_b1 = app.login_as(&org.rep_b1).await?;
    let service = app.login_as(&org.service).await?;
    let a = rep_a1
        .create_account(new_account("Hefei Glass"))
        .await?
        .id
        .0;
    let b = rep_b1
        .create_account(new_account("Wuhu Cement"))
        .await?
        .id
        .0;
    let ticket = |account: Uuid, kind: &str, severity: &str| {
        json!({
            "account_id": account, "type": kind, "severity": severity,
            "title": "Readings doubled", "description": "Since March",
        })
    };
    let resolve = |id: Uuid| {
        let service = &service;
        let assignee = org.service.id;
        async move {
            let path = format!("/tickets/{id}");
            for step in [
                json!({ "status": "assigned", "assignee_id": assignee }),
                json!({ "status": "in_progress" }),
                json!({ "status": "resolved", "resolution": "Fixed" }),
            ] {
                service.patch(&path, &step).await?.ensure_status(200)?;
            }
            anyhow::Ok(())
        }
    };
    let in_time = create(&service, "/tickets", ticket(a, "complaint", "high")).await?;
    resolve(in_time).await?;
    let late = create(
        &service,
        "/tickets",
        ticket(a, "service_request", "critical"),
    )
    .await?;
    resolve(late).await?;
    create(&service, "/tickets", ticket(a, "question", "critical")).await?;
    create(&service, "/tickets", ticket(b, "question", "low")).await?;
    for (session, account, satisfaction) in [(&rep_a1, a, 5), (&rep_a1, a, 2), (&rep_b1, b, 4)] {
        let id = create(
            session,
            "/callbacks",
            json!({
                "account_id": account, "kind": "routine",
                "scheduled_on": Utc::now().date_naive(),
            }),
        )
        .await?;
        session
            .patch(
                &format!("/callbacks/{id}"),
                &json!({ "status": "done", "satisfaction": satisfaction }),
            )
            .await?
            .assert_status(200);
    }

    let report: ServiceReport = service.read("/reports/service").await?;
    let names: Vec<&str> = report.rows.iter().map(|r| r.group.name.as_str()).collect();
    assert_eq!(names, ["Team A", "Team B"]);
    let row = &report.rows[0];
    assert_eq!(row.tickets_opened, 3);
    let severities: Vec<(String, i64)> = row
        .by_severity
        .iter()
        .map(|s| (s.severity.as_str().to_owned(), s.count))
        .collect();
    assert_eq!(
        severities,
        [
            ("critical".to_owned(), 2),
            ("high".to_owned(), 1),
            ("medium".to_owned(), 0),
            ("low".to_owned(), 0),
        ]
    );
    let types: Vec<i64> = row.by_type.iter().map(|t| t.count).collect();
    assert_eq!(types, [1, 1, 1], "complaint, service request, question");
    assert_eq!((row.tickets_resolved, row.resolved_within_sla), (2, 1));
    assert_eq!(row.sla_compliance, Some(0.5));
    assert_eq!(row.open_past_sla, 1);
    assert_eq!(row.callbacks_done, 2);
    assert_eq!(row.satisfaction_average, Some(3.5));
    assert_eq!(row.satisfaction_trend.len(), 1);
    assert_eq!(row.satisfaction_trend[0].satisfaction_average, Some(3.5));
    assert_eq!(report.total.tickets_opened, 4);
    assert_eq!(report.total.callbacks_done, 3);
    assert_eq!(report.total.satisfaction_average, Some(3.67));

    let manager: ServiceReport = app
        .login_as(&org.manager)
        .await?
        .read("/reports/service")
        .await?;
    let teams: Vec<Option<Uuid>> = manager.rows.iter().map(|r| r.group.id).collect();
    assert_eq!(teams, [Some(org.team_a)], "only the team she leads");
    let rep: ServiceReport = rep_b1.read("/reports/service?group_by=rep").await?;
    assert_eq!(rep.total.tickets_opened, 1);
    assert_eq!(rep.total.satisfaction_average, Some(4.0));
    Ok(())
}

#[tokio::test]
async fn the_accounts_report_counts_tiers_stages_and_the_moves_of_the_period() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let saved = account_of(&manager, "Saved", "key", org.rep_a1.id).await?;
    let gone = account_of(&manager, "Gone", "standard", org.rep_a1.id).await?;
    account_of(&manager, "New", "strategic", org.rep_a2.id).await?;
    app.login_as(&org.rep_b1)
        .await?
        .create_account(new_account("Elsewhere"))
        .await?;
    for (id, stages) in [
        (
            saved,
            &["engaging", "deepening", "at_risk", "maintaining"][..],
        ),
        (gone, &["engaging", "at_risk", "lost"][..]),
    ] {
        for stage in stages {
            let mut change = json!({ "stage": stage });
            if *stage == "at_risk" {
                change["risk_reasons"] = json!(["No visit in 60 days"]);
            }
            if *stage == "lost" {
                change["lost_reason"] = json!("Went to a competitor");
            }
            manager
                .patch(&format!("/accounts/{id}"), &change)
                .await?
                .assert_status(200);
        }
    }

    let report: AccountsReport = manager.read("/reports/accounts?group_by=rep").await?;
    let reps: Vec<Option<Uuid>> = report.rows.iter().map(|r| r.group.id).collect();
    assert_eq!(reps, [Some(org.rep_a1.id), Some(org.rep_a2.id)]);
    let a1 = &report.rows[0];
    assert_eq!((a1.accounts, a1.created), (2, 2));
    let tiers: Vec<i64> = a1.by_tier.iter().map(|t| t.count).collect();
    assert_eq!(tiers, [0, 1, 1, 0], "strategic, key, standard, none");
    let stages: Vec<(String, i64)> = a1
        .by_stage
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| (s.stage.as_str().to_owned(), s.count))
        .collect();
    assert_eq!(
        stages,
        [("maintaining".to_owned(), 1), ("lost".to_owned(), 1)]
    );
    assert_eq!(
        (a1.won_back, a1.lost, a1.moved_to_at_risk),
        (1, 1, 2),
        "Saved went to at risk and came back, Gone went to at risk and was lost"
    );
    assert_eq!(report.total.accounts, 3, "the team's, not rep_b1's");

    let director: AccountsReport = app
        .login_as(&org.director)
        .await?
        .read("/reports/accounts")
        .await?;
    assert_eq!(director.total.accounts, 4);
    let tier_none = director.total.by_tier.last().map(|t| (t.tier, t.count));
    assert_eq!(tier_none, Some((None, 1)));
    let last_year = this_month().with_month(1).unwrap_or(this_month()) - Months::new(12);
    let earlier: AccountsReport = manager
        .read(&format!(
            "/reports/accounts?period=year&period_start={last_year}"
        ))
        .await?;
    assert_eq!(earlier.total.accounts, 3, "the accounts as they stand now");
    assert_eq!(
        (
            earlier.total.created,
            earlier.total.won_back,
            earlier.total.lost
        ),
        (0, 0, 0),
        "nothing moved last year"
    );
    Ok(())
}

#[tokio::test]
async fn report_parameters_out_of_shape_are_refused_with_their_codes() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    for (query, field, code) in [
        (
            "period=quarter&period_start=2026-02-01",
            "period_start",
            "not_a_period_start",
        ),
        ("period_start=2026-01-01", "period", "required"),
        (
            "period=month&from=2026-01-01&to=2026-01-31",
            "period",
            "period_and_range",
        ),
        ("from=2026-03-01&to=2026-02-01", "to", "before_from"),
        ("from=2020-01-01&to=2025-12-31", "to", "range_too_long"),
        ("from=2026-01-01", "to", "required"),
        ("currency=usd", "currency", "invalid_currency"),
    ] {
        for report in [
            "sales",
            "funnel",
            "service",
            "accounts",
            "pipeline/by-group",
        ] {
            admin
                .get(&format!("/reports/{report}?{query}"))
                .await?
                .assert_violation(field, code);
        }
    }
    for query in [
        "group_by=galaxy",
        "period=week",
        "from=yesterday&to=today",
        "colour=red",
    ] {
        admin
            .get(&format!("/reports/sales?{query}"))
            .await?
            .assert_problem(400, "invalid_query");
    }
    let range: SalesReport = admin
        .read("/reports/sales?from=2021-01-01&to=2025-12-31")
        .await?;
    assert_eq!(range.period.period, None);
    assert_eq!(
        (range.period.from.to_string(), range.period.to.to_string()),
        ("2021-01-01".to_owned(), "2025-12-31".to_owned()),
        "five years are allowed"
    );
    app.api()
        .get("/reports/sales")
        .await?
        .assert_problem(401, "missing_token");
    Ok(())
}

#[tokio::test]
async fn coverage_sets_each_tiers_share_of_visit_time_beside_its_share_of_accounts()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep_a1 = app.login_as(&org.rep_a1).await?;
    let key = account_of(&manager, "Key One", "key", org.rep_a1.id).await?;
    let plain = account_of(&manager, "Plain", "standard", org.rep_a1.id).await?;
    account_of(&manager, "Strat", "strategic", org.rep_a2.id).await?;
    let admin = app.login_as(&org.admin).await?;
    account_of(&admin, "Key B", "key", org.rep_b1.id).await?;
    let now = Utc::now();
    let done = json!({ "done": true });
    let steps = json!({
        "identify": done, "probe": done, "recommend": done, "close": done, "follow_up": done,
    });
    for (account, minutes) in [(key, 70), (plain, 30)] {
        let body = json!({
            "account_id": account, "planned_at": now, "type": "onsite", "steps": steps,
        });
        let visit = create(&rep_a1, "/visits", body).await?;
        let check = |at: chrono::DateTime<Utc>| json!({ "location": { "lat": 30.27, "lon": 120.15 }, "at": at });
        rep_a1
            .post(
                &format!("/visits/{visit}/check-in"),
                &check(now - chrono::Duration::minutes(minutes)),
            )
            .await?
            .assert_status(200);
        rep_a1
            .post(&format!("/visits/{visit}/check-out"), &check(now))
            .await?
            .assert_status(200);
    }

    let report: CoverageReport = manager.read("/reports/coverage").await?;
    let teams: Vec<Option<Uuid>> = report.rows.iter().map(|r| r.group.id).collect();
    assert_eq!(teams, [Some(org.team_a)], "only the team she leads");
    let row = &report.rows[0];
    assert_eq!((row.accounts, row.visit_minutes), (3, 100));
    assert_eq!(
        (row.within_cadence, row.overdue),
        (0, 0),
        "identified accounts are screened, not followed: no visit is due"
    );
    assert_eq!(row.within_cadence_share, Some(0.0));
    let tiers: Vec<_> = row
        .tiers
        .iter()
        .map(|t| {
            (
                t.tier.map(|t| t.as_str()),
                t.accounts,
                t.account_share,
                t.visit_minutes,
                t.time_share,
            )
        })
        .collect();
    assert_eq!(
        tiers,
        [
            (Some("strategic"), 1, Some(0.3333), 0, Some(0.0)),
            (Some("key"), 1, Some(0.3333), 70, Some(0.7)),
            (Some("standard"), 1, Some(0.3333), 30, Some(0.3)),
            (None, 0, Some(0.0), 0, Some(0.0)),
        ]
    );
    assert!(report.overdue.is_empty());

    let by_rep: CoverageReport = rep_a1.read("/reports/coverage?group_by=rep").await?;
    assert_eq!(by_rep.rows.len(), 1);
    assert_eq!(by_rep.rows[0].group.id, Some(org.rep_a1.id));
    assert_eq!(by_rep.total.accounts, 2);
    let director: CoverageReport = app
        .login_as(&org.director)
        .await?
        .read("/reports/coverage")
        .await?;
    assert_eq!(director.total.accounts, 4);

    let csv = manager.get("/reports/coverage?format=csv").await?;
    let text = csv.body.as_str().unwrap_or_default();
    assert!(
        text.starts_with(
            "group_id,group_name,accounts,within_cadence,within_cadence_share,overdue,visit_minutes,\
             strategic_accounts,strategic_account_share,"
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .nth(1)
            .is_some_and(|line| line.starts_with(&format!(
                "{},Team A,3,0,0,0,100,1,0.3333,0,0,0,0,1,0.3333,0,0,70,0.7,1,0.3333,0,0,30,0.3,",
                org.team_a
            ))),
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn coverage_counts_the_followed_accounts_visited_within_cadence_and_lists_the_overdue()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let followed = |name: &str| json!({ "name": name, "segment": "enterprise", "tier": "key", "stage": "maintaining", "owner_id": org.rep_a1.id });
    let late = manager.create_account(followed("Late")).await?.id.0;
    let kept = manager.create_account(followed("Kept")).await?.id.0;
    let done = json!({ "done": true });
    let steps = json!({ "identify": done, "probe": done, "recommend": done, "close": done, "follow_up": done });
    // An effective visit forty days ago (the key cadence is 30) and one today.
    for (account, days_ago) in [(late, 40), (kept, 0)] {
        let at = Utc::now() - chrono::Duration::days(days_ago);
        let body =
            json!({ "account_id": account, "planned_at": at, "type": "onsite", "steps": steps });
        let visit = create(&rep, "/visits", body).await?;
        for (step, when) in [
            ("check-in", at),
            ("check-out", at + chrono::Duration::hours(1)),
        ] {
            rep.post(
                &format!("/visits/{visit}/{step}"),
                &json!({ "location": { "lat": 30.27, "lon": 120.15 }, "at": when }),
            )
            .await?
            .assert_status(200);
        }
    }
    let report: CoverageReport = manager.read("/reports/coverage").await?;
    let row = &report.rows[0];
    assert_eq!((row.accounts, row.within_cadence, row.overdue), (2, 1, 1));
    assert_eq!(row.within_cadence_share, Some(0.5));
    let overdue: Vec<Uuid> = report.overdue.iter().map(|a| a.id).collect();
    assert_eq!(overdue, [late]);
    assert!(report.overdue[0].last_visit_at.is_some());
    Ok(())
}
