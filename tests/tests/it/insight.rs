//! Insight (issue 14): effective visits and the onsite rule, the visit
//! cadence per tier, the warnings and health of accounts, the at-risk
//! proposal a manager decides, the list filters on them, the admin's
//! insight settings, and the sweep that two nodes run once per interval.

use anyhow::Context;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use kam_server::insight::refresh::Warning;
use kam_server::insight::settings::InsightSettings;
use kam_server::insight::signals::{HealthBand, WarningCode, WarningSeverity};
use kam_server::insight::sweep::SweepRun;
use kam_server::records::accounts::AccountView;
use kam_server::records::page::Page;
use kam_server::records::visits::VisitView;
use kam_tests::{Session, TestApp, new_account, sorted};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Hangzhou Water Group's head office.
const SITE: (f64, f64) = (30.2741, 120.1551);

fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn site() -> Value {
    json!({ "lat": SITE.0, "lon": SITE.1 })
}

/// A followed account (stage `maintaining`) at [`SITE`], of `tier`, made by
/// `session` (a manager may set the tier), with a decision maker who
/// champions us: no warning holds on it yet.
async fn followed_account(
    session: &Session,
    name: &str,
    tier: &str,
) -> anyhow::Result<AccountView> {
    let acct = followed_account_of(session, None, name, tier).await?;
    session
        .created::<Value>(
            "/contacts",
            &json!({ "account_id": acct.id.0, "name": "Director Liu", "buying_role": "decision_maker", "attitude": "champion" }),
        )
        .await?;
    account(session, acct.id.0).await
}

/// As [`followed_account`], owned by `owner` when given, with no key
/// persons mapped yet (so `no_decision_maker` and `no_champion` hold).
async fn followed_account_of(
    session: &Session,
    owner: Option<Uuid>,
    name: &str,
    tier: &str,
) -> anyhow::Result<AccountView> {
    let mut body = new_account(name);
    if let Some(owner) = owner {
        body["owner_id"] = json!(owner);
    }
    body["location"] = site();
    body["stage"] = json!("maintaining");
    body["tier"] = json!(tier);
    session.create_account(body).await
}

async fn account(session: &Session, id: impl std::fmt::Display) -> anyhow::Result<AccountView> {
    session.read(&format!("/accounts/{id}")).await
}

/// Every step of the 511 model recorded as done.
fn all_steps() -> Value {
    let done = json!({ "done": true, "notes": "" });
    json!({ "identify": done, "probe": done, "recommend": done, "close": done, "follow_up": done })
}

/// An onsite visit to `account` checked in at `at` on site and out an hour
/// later, with `steps`; returns the visit as it stands.
async fn visit_on_site(
    rep: &Session,
    account: Uuid,
    at: DateTime<Utc>,
    steps: Value,
) -> anyhow::Result<VisitView> {
    let visit: VisitView = rep
        .created(
            "/visits",
            &json!({ "account_id": account, "planned_at": at, "type": "onsite", "steps": steps }),
        )
        .await?;
    let path = format!("/visits/{}", visit.id.0);
    rep.post(
        &format!("{path}/check-in"),
        &json!({ "location": site(), "at": at }),
    )
    .await?
    .ensure_status(200)?;
    rep.post(
        &format!("{path}/check-out"),
        &json!({ "location": site(), "at": at + Duration::hours(1) }),
    )
    .await?
    .ensure_status(200)?;
    rep.read(&path).await
}

fn codes(view: &AccountView) -> Vec<WarningCode> {
    view.insight.warnings.iter().map(|w| w.code).collect()
}

fn warning(view: &AccountView, code: WarningCode) -> &Warning {
    view.insight
        .warnings
        .iter()
        .find(|w| w.code == code)
        .unwrap_or_else(|| panic!("no {code:?} warning on {:?}", codes(view)))
}

/// Replaces the insight settings as `admin`, changed by `change`.
async fn set_insight(
    admin: &Session,
    change: impl FnOnce(&mut InsightSettings),
) -> anyhow::Result<()> {
    let mut settings: InsightSettings = admin.read("/admin/settings/insight").await?;
    change(&mut settings);
    admin
        .put("/admin/settings/insight", &serde_json::to_value(settings)?)
        .await?
        .ensure_status(200)?;
    Ok(())
}

#[tokio::test]
async fn an_onsite_visit_is_completed_only_by_checking_in_and_out() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let admin = app.login_as(&org.admin).await?;
    let acct = rep.create_account(new_account("Hangzhou Water")).await?;
    let onsite: VisitView = rep
        .created(
            "/visits",
            &json!({ "account_id": acct.id.0, "planned_at": now(), "type": "onsite" }),
        )
        .await?;
    let path = format!("/visits/{}", onsite.id.0);
    rep.patch(&path, &json!({ "status": "completed" }))
        .await?
        .assert_problem(422, "onsite_visit_not_checked");
    let unchanged: VisitView = rep.read(&path).await?;
    assert_eq!(unchanged.visit.status.as_str(), "planned");

    let phone: VisitView = rep
        .created(
            "/visits",
            &json!({ "account_id": acct.id.0, "planned_at": now(), "type": "phone" }),
        )
        .await?;
    let done: VisitView = rep
        .patched(
            &format!("/visits/{}", phone.id.0),
            &json!({ "status": "completed" }),
        )
        .await?;
    assert!(!done.effective, "a phone call is no effective visit");

    set_insight(&admin, |s| {
        s.visits.onsite_completion_requires_check = false
    })
    .await?;
    let done: VisitView = rep
        .patched(&path, &json!({ "status": "completed" }))
        .await?;
    assert_eq!(done.visit.status.as_str(), "completed");
    assert!(!done.effective, "never checked in");
    Ok(())
}

#[tokio::test]
async fn an_effective_visit_is_on_site_checked_out_with_its_five_steps() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Hangzhou Water");
    body["location"] = site();
    let acct = rep.create_account(body).await?;
    let at = now() - Duration::hours(3);
    let half = json!({ "identify": { "done": true }, "probe": { "done": false, "notes": "They budget in March" } });
    let missing_steps = visit_on_site(&rep, acct.id.0, at, half).await?;
    assert!(!missing_steps.effective, "three steps are not recorded");
    assert_eq!(missing_steps.visit_minutes, Some(60));
    let full = visit_on_site(&rep, acct.id.0, at, all_steps()).await?;
    assert!(full.effective);

    let far: VisitView = rep
        .created(
            "/visits",
            &json!({ "account_id": acct.id.0, "planned_at": at, "type": "onsite", "steps": all_steps() }),
        )
        .await?;
    let path = format!("/visits/{}", far.id.0);
    let away = json!({ "lat": SITE.0 + 0.05, "lon": SITE.1 });
    rep.post(
        &format!("{path}/check-in"),
        &json!({ "location": away, "at": at }),
    )
    .await?
    .ensure_status(200)?;
    let checked_out: VisitView = rep
        .post(&format!("{path}/check-out"), &json!({ "location": away }))
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(checked_out.check_in_too_far);
    assert!(!checked_out.effective, "checked in 5 km away");
    Ok(())
}

#[tokio::test]
async fn the_next_visit_falls_due_by_the_tier_cadence_after_the_last_effective_visit()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let admin = app.login_as(&org.admin).await?;
    let acct = followed_account(&manager, "Ningbo Port", "key").await?;
    let due = acct
        .insight
        .next_visit_due
        .context("a followed account is due a visit")?;
    // PostgreSQL keeps microseconds, the view nanoseconds.
    let expected = acct.created_at + Duration::days(30);
    assert!(
        (due - expected)
            .num_microseconds()
            .is_some_and(|us| us.abs() < 1_000),
        "{due} is not {expected}"
    );
    assert!(!acct.insight.visit_overdue);
    assert_eq!(acct.insight.last_visit_at, None);

    // A visit logged by a device that was offline forty days ago.
    let at = now() - Duration::days(40);
    visit_on_site(&manager, acct.id.0, at, all_steps()).await?;
    let late = account(&manager, acct.id.0).await?;
    assert_eq!(late.insight.last_visit_at, Some(at));
    assert_eq!(late.insight.next_visit_due, Some(at + Duration::days(30)));
    assert!(late.insight.visit_overdue);
    let no_visit = warning(&late, WarningCode::NoRecentVisit);
    assert_eq!(no_visit.severity, WarningSeverity::Warning);
    assert_eq!(no_visit.since, at + Duration::days(30));
    assert_eq!(late.insight.health, Some(85), "{:?}", late.insight.warnings);
    assert_eq!(late.insight.health_band, Some(HealthBand::Watch));

    set_insight(&admin, |s| s.cadence.key = 60).await?;
    let relaxed = account(&manager, acct.id.0).await?;
    assert_eq!(
        relaxed.insight.next_visit_due,
        Some(at + Duration::days(60))
    );
    assert!(!relaxed.insight.visit_overdue);
    assert!(codes(&relaxed).is_empty(), "{:?}", codes(&relaxed));

    set_insight(&admin, |s| s.cadence.key = 14).await?;
    let critical = account(&manager, acct.id.0).await?;
    assert_eq!(
        warning(&critical, WarningCode::NoRecentVisit).severity,
        WarningSeverity::Critical,
        "forty days is past twice fourteen"
    );

    let prospect = manager
        .create_account(new_account("Shaoxing Textiles"))
        .await?;
    assert_eq!(prospect.account.stage.as_str(), "identified");
    assert_eq!(
        prospect.insight.next_visit_due, None,
        "a prospect is screened, not followed"
    );
    assert_eq!(prospect.insight.health, None);
    Ok(())
}

/// An account with a critical decision map, an open complaint and a lost
/// deal: health 100 - 40 - 15 - 15 - 5 = 25, in the at-risk band.
async fn slipping_account(
    rep: (&Session, Uuid),
    manager: &Session,
    name: &str,
) -> anyhow::Result<AccountView> {
    let (rep, rep_id) = rep;
    let acct = followed_account_of(manager, Some(rep_id), name, "standard").await?;
    let id = acct.id.0;
    visit_on_site(rep, id, now() - Duration::days(1), all_steps()).await?;
    rep.created::<Value>(
        "/contacts",
        &json!({ "account_id": id, "name": "Director Wang", "buying_role": "decision_maker", "attitude": "opponent" }),
    )
    .await?;
    rep.created::<Value>(
        "/tickets",
        &json!({ "account_id": id, "type": "complaint", "title": "Doubled readings", "description": "Three sites", "severity": "low" }),
    )
    .await?;
    let deal: Value = rep
        .created(
            "/opportunities",
            &json!({ "account_id": id, "name": "Meter renewal" }),
        )
        .await?;
    rep.patched::<Value>(
        &format!("/opportunities/{}", deal["id"].as_str().unwrap_or_default()),
        &json!({ "stage": "lost", "lost_reason": "Price" }),
    )
    .await?;
    account(rep, id).await
}

#[tokio::test]
async fn warnings_name_their_records_and_health_falls_with_them() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let acct = slipping_account((&rep, org.rep_a1.id), &manager, "Wenzhou Gas").await?;
    assert_eq!(
        sorted(codes(&acct).iter().map(|c| c.as_str()).collect()),
        [
            "decision_maker_opposed",
            "no_champion",
            "open_complaint",
            "opportunity_lost"
        ]
    );
    let opposed = warning(&acct, WarningCode::DecisionMakerOpposed);
    assert_eq!(opposed.severity, WarningSeverity::Critical);
    assert_eq!(opposed.evidence.len(), 1);
    assert_eq!(opposed.evidence[0].kind, "contact");
    assert_eq!(
        warning(&acct, WarningCode::OpenComplaint).evidence[0].kind,
        "ticket"
    );
    assert_eq!(acct.insight.health, Some(25));
    assert_eq!(acct.insight.health_band, Some(HealthBand::AtRisk));
    assert!(acct.insight.at_risk_proposed_at.is_some());

    // Winning the champion over and resolving the complaint lift them.
    let contact_id = opposed.evidence[0].id;
    rep.patched::<Value>(
        &format!("/contacts/{contact_id}"),
        &json!({ "attitude": "champion" }),
    )
    .await?;
    let better = account(&rep, acct.id.0).await?;
    assert_eq!(
        sorted(codes(&better).iter().map(|c| c.as_str()).collect()),
        ["open_complaint", "opportunity_lost"]
    );
    assert_eq!(better.insight.health, Some(70));
    assert_eq!(
        better.insight.at_risk_proposed_at, None,
        "no longer at risk"
    );
    let raised = warning(&acct, WarningCode::OpenComplaint).raised_at;
    assert_eq!(
        warning(&better, WarningCode::OpenComplaint).raised_at,
        raised
    );
    Ok(())
}

#[tokio::test]
async fn a_manager_confirms_or_dismisses_the_at_risk_proposal() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let west = app.seed_west().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let other_manager = app.login_as(&west.manager).await?;
    let first = slipping_account((&rep, org.rep_a1.id), &manager, "Wenzhou Gas").await?;
    let second = slipping_account((&rep, org.rep_a1.id), &manager, "Jiaxing Power").await?;

    let waiting: Page<AccountView> = manager.read("/at-risk-proposals").await?;
    assert_eq!(
        sorted(waiting.items.iter().map(|a| a.id.0).collect()),
        sorted(vec![first.id.0, second.id.0])
    );
    rep.get("/at-risk-proposals")
        .await?
        .assert_problem(403, "at_risk_decision_forbidden");
    let none: Page<AccountView> = other_manager.read("/at-risk-proposals").await?;
    assert!(none.items.is_empty());
    rep.post(
        &format!("/accounts/{}/at-risk/confirm", first.id.0),
        &json!({}),
    )
    .await?
    .assert_problem(403, "at_risk_decision_forbidden");
    other_manager
        .post(
            &format!("/accounts/{}/at-risk/confirm", first.id.0),
            &json!({}),
        )
        .await?
        .assert_problem(404, "not_found");

    let confirmed: AccountView = manager
        .post(
            &format!("/accounts/{}/at-risk/confirm", first.id.0),
            &json!({}),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(confirmed.account.stage.as_str(), "at_risk");
    assert_eq!(
        sorted(confirmed.account.risk_reasons.clone()),
        [
            "decision_maker_opposed",
            "no_champion",
            "open_complaint",
            "opportunity_lost"
        ]
    );
    assert_eq!(confirmed.insight.at_risk_proposed_at, None);
    manager
        .post(
            &format!("/accounts/{}/at-risk/confirm", first.id.0),
            &json!({}),
        )
        .await?
        .assert_problem(409, "no_at_risk_proposal");

    let dismissed: AccountView = manager
        .post(
            &format!("/accounts/{}/at-risk/dismiss", second.id.0),
            &json!({}),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(dismissed.account.stage.as_str(), "maintaining");
    assert_eq!(dismissed.insight.at_risk_proposed_at, None);
    // A write that leaves the same warnings does not propose it again...
    rep.patched::<AccountView>(
        &format!("/accounts/{}", second.id.0),
        &json!({ "notes": "Called the CFO" }),
    )
    .await?;
    let quiet = account(&manager, second.id.0).await?;
    assert_eq!(quiet.insight.at_risk_proposed_at, None);
    // ...a new warning does.
    rep.created::<Value>(
        "/tickets",
        &json!({ "account_id": second.id.0, "type": "service_request", "title": "Meter swap", "description": "Site 3", "severity": "low" }),
    )
    .await?;
    let callback: Value = rep
        .created(
            "/callbacks",
            &json!({ "account_id": second.id.0, "kind": "routine", "scheduled_on": now().date_naive() }),
        )
        .await?;
    rep.patched::<Value>(
        &format!("/callbacks/{}", callback["id"].as_str().unwrap_or_default()),
        &json!({ "status": "done", "satisfaction": 2 }),
    )
    .await?;
    let again = account(&manager, second.id.0).await?;
    assert!(codes(&again).contains(&WarningCode::LowSatisfaction));
    assert!(again.insight.at_risk_proposed_at.is_some());
    Ok(())
}

async fn ids(session: &Session, query: &str) -> anyhow::Result<BTreeSet<Uuid>> {
    let page: Page<AccountView> = session.read(&format!("/accounts?{query}")).await?;
    Ok(page.items.iter().map(|a| a.id.0).collect())
}

#[tokio::test]
async fn lists_filter_on_health_warnings_and_visits_due_within_the_callers_scope()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let other_rep = app.login_as(&org.rep_a2).await?;
    let slipping = slipping_account((&rep, org.rep_a1.id), &manager, "Wenzhou Gas").await?;
    let overdue = followed_account(&manager, "Ningbo Port", "strategic").await?;
    visit_on_site(
        &manager,
        overdue.id.0,
        now() - Duration::days(20),
        all_steps(),
    )
    .await?;
    let fresh = followed_account(&manager, "Jinhua Rail", "standard").await?;

    assert_eq!(
        ids(&manager, "health_band=at_risk").await?,
        BTreeSet::from([slipping.id.0])
    );
    assert_eq!(
        ids(&manager, "max_health=90").await?,
        BTreeSet::from([slipping.id.0, overdue.id.0])
    );
    assert_eq!(
        ids(&manager, "warning=decision_maker_opposed").await?,
        BTreeSet::from([slipping.id.0])
    );
    assert_eq!(
        ids(&manager, "visit_overdue=true").await?,
        BTreeSet::from([overdue.id.0])
    );
    assert!(
        ids(&manager, "visit_overdue=false")
            .await?
            .contains(&fresh.id.0)
    );
    assert_eq!(
        ids(&manager, "at_risk_proposed=true").await?,
        BTreeSet::from([slipping.id.0])
    );
    assert_eq!(
        ids(&rep, "health_band=at_risk").await?,
        BTreeSet::from([slipping.id.0])
    );
    assert!(ids(&other_rep, "health_band=at_risk").await?.is_empty());
    // Sorted by health, page by page: the least healthy first, the
    // accounts insight does not follow last.
    let prospect = manager.create_account(new_account("Taizhou Pumps")).await?;
    let mut order = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/accounts?sort=health&limit=1&cursor={c}"),
            None => "/accounts?sort=health&limit=1".to_owned(),
        };
        let page: Page<AccountView> = manager.read(&path).await?;
        order.extend(page.items.iter().map(|a| (a.id.0, a.insight.health)));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let healths: Vec<Option<i64>> = order.iter().map(|(_, h)| *h).collect();
    assert_eq!(healths, [Some(25), Some(85), Some(100), None], "{order:?}");
    assert_eq!(order[0].0, slipping.id.0);
    assert_eq!(order[3].0, prospect.id.0);
    let due: Page<AccountView> = manager.read("/accounts?sort=next_visit_due").await?;
    assert_eq!(due.items[0].id.0, overdue.id.0, "the overdue visit first");
    manager
        .get("/accounts?sort=health&cursor=bm9wZQ")
        .await?
        .assert_problem(400, "invalid_cursor");
    manager
        .get("/accounts?max_health=101")
        .await?
        .assert_problem(400, "invalid_query");
    manager
        .get("/accounts?warning=no_such_signal")
        .await?
        .assert_problem(400, "invalid_query");
    Ok(())
}

#[tokio::test]
async fn insight_settings_are_read_by_admins_changed_with_if_match_and_checked()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let director = app.login_as(&org.director).await?;
    rep.get("/admin/settings/insight")
        .await?
        .assert_problem(403, "role_forbidden");
    let read = admin
        .get("/admin/settings/insight")
        .await?
        .ensure_status(200)?;
    assert_eq!(read.header("etag"), Some("\"0\""));
    let defaults: InsightSettings = read.json()?;
    assert_eq!(defaults, InsightSettings::default());
    assert_eq!(defaults.cadence.strategic, 14);
    let _: InsightSettings = director.read("/admin/settings/insight").await?;
    director
        .put("/admin/settings/insight", &serde_json::to_value(defaults)?)
        .await?
        .assert_problem(403, "role_forbidden");

    let mut bad = serde_json::to_value(defaults)?;
    bad["cadence"]["key"] = json!(0);
    bad["health"]["at_risk_below"] = json!(95);
    let refused = admin.put("/admin/settings/insight", &bad).await?;
    refused.assert_problem(422, "validation_failed");
    refused.assert_violation("cadence.key", "out_of_range");
    refused.assert_violation("health.at_risk_below", "above_watch");
    let mut unknown = serde_json::to_value(defaults)?;
    unknown["cadence"]["weekly"] = json!(7);
    admin
        .put("/admin/settings/insight", &unknown)
        .await?
        .assert_problem(422, "invalid_body");

    let mut changed = defaults;
    changed.cadence.standard = 120;
    let put = admin
        .request(kam_tests::Method::PUT, "/admin/settings/insight")
        .header("If-Match", "\"0\"")
        .json(&changed);
    let stored = admin.send(put).await?.ensure_status(200)?;
    assert_eq!(stored.header("etag"), Some("\"1\""));
    let stale = admin
        .request(kam_tests::Method::PUT, "/admin/settings/insight")
        .header("If-Match", "\"0\"")
        .json(&defaults);
    admin
        .send(stale)
        .await?
        .assert_problem(412, "precondition_failed");
    let now_in_force: InsightSettings = admin.read("/admin/settings/insight").await?;
    assert_eq!(now_in_force.cadence.standard, 120);
    Ok(())
}

#[tokio::test]
async fn one_node_of_two_runs_each_sweep_and_the_sweep_raises_what_time_brings()
-> anyhow::Result<()> {
    let every_second = |s: &mut kam_server::config::Settings| s.insight.sweep_interval_secs = 1;
    let app = TestApp::spawn_with(every_second).await;
    // Several server processes share a database on PostgreSQL only: SQLite
    // is the embedded engine of one process (docs/insight.md), where one
    // node sweeps.
    let second = if app.is_postgres() {
        Some(app.spawn_beside(every_second).await)
    } else {
        None
    };
    let other = second.as_ref().unwrap_or(&app);
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let manager = other.login_as(&org.manager).await?;
    set_insight(&admin, |s| s.visits.overdue_after_hours = 0).await?;
    let acct = followed_account(&manager, "Ningbo Port", "key").await?;
    visit_on_site(&manager, acct.id.0, now(), all_steps()).await?;
    let _: VisitView = manager
        .created(
            "/visits",
            &json!({ "account_id": acct.id.0, "planned_at": Utc::now() + Duration::seconds(2), "type": "onsite" }),
        )
        .await?;
    assert!(codes(&account(&manager, acct.id.0).await?).is_empty());

    // No write touches the account from here: only the sweep can see the
    // planned visit pass its time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let view = account(&manager, acct.id.0).await?;
        if codes(&view).contains(&WarningCode::VisitsOverdue) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sweep raised visits_overdue"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let runs: Vec<SweepRun> = admin.read("/admin/insight/sweeps?limit=500").await?;
    let slots: BTreeSet<DateTime<Utc>> = runs.iter().map(|r| r.due_at).collect();
    assert_eq!(slots.len(), runs.len(), "a slot ran twice: {runs:?}");
    assert!(runs.len() >= 2, "{runs:?}");
    assert!(
        runs.iter().all(|r| r.due_at.timestamp_subsec_nanos() == 0
            && r.started_at >= r.due_at
            && r.started_at < r.due_at + Duration::seconds(1)),
        "each run starts within its one-second slot: {runs:?}"
    );

    // Both nodes racing for one slot, four claims each at once: one runs it.
    let slot_time = Utc::now() + Duration::days(1);
    let minute = std::time::Duration::from_secs(60);
    let claims = (0..8).map(|i| {
        let db = if i % 2 == 0 { app.db() } else { other.db() };
        kam_server::insight::sweep::run_once(
            db,
            if i % 2 == 0 { "one" } else { "two" },
            minute,
            slot_time,
        )
    });
    let ran: Vec<SweepRun> = futures_util::future::try_join_all(claims)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(ran.len(), 1, "{ran:?}");
    drop(second);
    Ok(())
}

#[tokio::test]
async fn an_account_with_a_great_many_overdue_visits_leaves_every_other_its_warning()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let admin = app.login_as(&org.admin).await?;
    let crowded = followed_account(&manager, "Ningbo Port", "key").await?;
    let quiet = followed_account(&manager, "Jinhua Rail", "key").await?;
    // Two hundred visits two days late at one account (its and the other's
    // share of a refresh batch), imported in one request...
    let long_ago = now() - Duration::days(2);
    let mut csv = String::from("account_id,planned_at,type\n");
    for _ in 0..200 {
        csv.push_str(&format!(
            "{},{},onsite\n",
            crowded.id.0,
            long_ago.to_rfc3339()
        ));
    }
    let request = manager
        .request(kam_tests::Method::POST, "/import/visits")
        .header("content-type", "text/csv")
        .body(csv);
    manager.send(request).await?.ensure_status(200)?;
    // ...and one an hour late at the other.
    let _: VisitView = manager
        .created(
            "/visits",
            &json!({ "account_id": quiet.id.0, "planned_at": now() - Duration::hours(1), "type": "onsite" }),
        )
        .await?;
    // Refreshing every account at once puts both in one batch.
    set_insight(&admin, |s| s.visits.overdue_after_hours = 0).await?;
    let crowded = account(&manager, crowded.id.0).await?;
    let overdue = warning(&crowded, WarningCode::VisitsOverdue);
    assert_eq!(overdue.evidence.len(), 20, "at most 20 records named");
    let quiet = account(&manager, quiet.id.0).await?;
    let overdue = warning(&quiet, WarningCode::VisitsOverdue);
    assert_eq!(overdue.evidence.len(), 1);
    Ok(())
}
