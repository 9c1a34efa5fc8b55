//! `/visits`: planning, reading, listing with filters and cursors,
//! merge-patching, soft deletion, check-in and check-out with GPS, the
//! rules on owners and accounts, and who may see and change which visit.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use kam_server::records::accounts::AccountView;
use kam_server::records::page::Page;
use kam_server::records::visits::VisitView;
use kam_tests::{Method, Reply, Session, TestApp, new_account, sorted};
use serde_json::{Value, json};
use std::collections::HashSet;
use uuid::Uuid;

/// Hangzhou Water Group's head office.
const SITE: (f64, f64) = (30.2741, 120.1551);

/// A point `degrees` of latitude north of [`SITE`] (0.001° is about 111 m).
fn north_of_site(degrees: f64) -> Value {
    json!({ "lat": SITE.0 + degrees, "lon": SITE.1 })
}

/// Now, to the second: stored times compare exactly on every database.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A new visit's body: the three required fields and a purpose.
fn new_visit(account: impl std::fmt::Display) -> Value {
    json!({
        "account_id": account.to_string(),
        "planned_at": now() + Duration::days(1),
        "type": "onsite",
        "purpose": "Present the renewal proposal",
    })
}

/// A check-in or check-out body.
fn check(location: Value, at: DateTime<Utc>) -> Value {
    json!({ "location": location, "at": at })
}

/// An account with a location, owned by `session`'s user.
async fn account_with_site(session: &Session, name: &str) -> anyhow::Result<AccountView> {
    let mut body = new_account(name);
    body["location"] = json!({ "lat": SITE.0, "lon": SITE.1 });
    session.create_account(body).await
}

/// Plans a visit; any answer but 201 is an error carrying the reply.
async fn plan(session: &Session, body: Value) -> anyhow::Result<VisitView> {
    session.created("/visits", &body).await
}

/// Reads a visit; any answer but 200 is an error carrying the reply.
async fn visit(session: &Session, id: impl std::fmt::Display) -> anyhow::Result<VisitView> {
    session.read(&format!("/visits/{id}")).await
}

async fn check_in(
    session: &Session,
    id: impl std::fmt::Display,
    body: &Value,
) -> anyhow::Result<Reply> {
    session.post(&format!("/visits/{id}/check-in"), body).await
}

async fn check_out(
    session: &Session,
    id: impl std::fmt::Display,
    body: &Value,
) -> anyhow::Result<Reply> {
    session.post(&format!("/visits/{id}/check-out"), body).await
}

/// Every visit `session` lists with `query`, following the cursor to the end.
async fn list_visits(session: &Session, query: &str) -> anyhow::Result<Vec<VisitView>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/visits?{query}");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page: Page<VisitView> = session.get(&path).await?.ensure_status(200)?.json()?;
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(items),
        }
    }
    anyhow::bail!("the list of visits did not end after 100 pages")
}

/// The ids `session` lists with `query`, sorted.
async fn listed(session: &Session, query: &str) -> anyhow::Result<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = list_visits(session, query)
        .await?
        .iter()
        .map(|v| v.id.0)
        .collect();
    ids.sort();
    Ok(ids)
}

/// What an empty list of visits is compared with.
const NO_VISITS: [Uuid; 0] = [];

/// Asserts that the visit reads exactly as `before` to `reader`.
async fn assert_unchanged(reader: &Session, before: &VisitView) -> anyhow::Result<()> {
    let read = visit(reader, before.id).await?;
    assert_eq!(read.visit, before.visit);
    assert_eq!(read.version, before.version);
    Ok(())
}

#[tokio::test]
async fn planning_a_visit_honours_the_client_chosen_id_and_the_caller_owns_it() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Shanghai Metro")).await?;
    let id = Uuid::now_v7();
    let planned_at = now() + Duration::days(2);

    let reply = rep
        .post(
            "/visits",
            &json!({
                "id": id,
                "account_id": account.id,
                "planned_at": planned_at,
                "type": "onsite",
                "purpose": "Quarterly review",
            }),
        )
        .await?;
    reply.assert_status(201);
    let created: VisitView = reply.json()?;
    assert_eq!(created.id.0, id);
    assert_eq!(
        reply.header("location"),
        Some(format!("/api/v1/visits/{id}").as_str())
    );
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", created.version).as_str())
    );
    assert_eq!(created.visit.account_id, account.id);
    assert_eq!(created.visit.owner_id.0, org.rep_a1.id);
    assert_eq!(created.visit.planned_at, planned_at);
    assert_eq!(created.visit.visit_type.as_str(), "onsite");
    assert_eq!(created.visit.purpose, "Quarterly review");
    assert_eq!(created.visit.status.as_str(), "planned");
    assert_eq!(created.visit.check_in, None);
    assert_eq!(created.visit.check_out, None);
    assert!(!created.visit.deleted);
    assert_eq!(created.created_by.map(|u| u.0), Some(org.rep_a1.id));
    assert_eq!(created.check_in_distance_m, None);
    assert!(!created.check_in_too_far);

    let reply = rep.get(&format!("/visits/{id}")).await?;
    reply.assert_status(200);
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", created.version).as_str())
    );
    let read: VisitView = reply.json()?;
    assert_eq!(read.visit, created.visit);
    assert_eq!(read.version, created.version);

    let unnamed = plan(&rep, new_visit(account.id)).await?;
    assert_eq!(unnamed.id.0.get_version_num(), 7);
    Ok(())
}

#[tokio::test]
async fn planning_an_existing_visit_id_again_is_409_and_keeps_the_first() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let id = Uuid::now_v7();
    let mut body = new_visit(account.id);
    body["id"] = json!(id);
    let first = plan(&rep, body.clone()).await?;

    body["purpose"] = json!("Something else");
    rep.post("/visits", &body)
        .await?
        .assert_problem(409, "already_exists");
    assert_unchanged(&rep, &first).await
}

#[tokio::test]
async fn a_visit_that_does_not_exist_is_404_on_every_route() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let id = Uuid::now_v7();
    let path = format!("/visits/{id}");
    let here = check(north_of_site(0.0), now());
    admin.get(&path).await?.assert_problem(404, "not_found");
    admin
        .patch(&path, &json!({ "summary": "ghost" }))
        .await?
        .assert_problem(404, "not_found");
    admin.delete(&path).await?.assert_problem(404, "not_found");
    check_in(&admin, id, &here)
        .await?
        .assert_problem(404, "not_found");
    check_out(&admin, id, &here)
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn listing_filters_by_account_owner_status_type_and_planned_time() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let manager = app.login_as(&org.manager).await?;
    let x = a1.create_account(new_account("X")).await?;
    let y = a1.create_account(new_account("Y")).await?;
    let z = a2.create_account(new_account("Z")).await?;
    let t0 = now();
    let at = |days: i64| t0 + Duration::days(days);

    let visit_for = |account: &AccountView, days: i64, kind: &str| json!({ "account_id": account.id, "planned_at": at(days), "type": kind });
    let past = plan(&a1, visit_for(&x, -2, "onsite")).await?;
    let started = plan(&a1, visit_for(&x, 1, "phone")).await?;
    let mut called_off = visit_for(&y, 3, "online");
    called_off["status"] = json!("cancelled");
    let called_off = plan(&a1, called_off).await?;
    let other_rep = plan(&a2, visit_for(&z, 5, "onsite")).await?;
    check_in(&a1, started.id, &check(north_of_site(0.0), t0))
        .await?
        .assert_status(200);

    let all = sorted(vec![
        past.id.0,
        started.id.0,
        called_off.id.0,
        other_rep.id.0,
    ]);
    assert_eq!(listed(&manager, "").await?, all);
    assert_eq!(
        listed(&manager, &format!("account_id={}", x.id)).await?,
        sorted(vec![past.id.0, started.id.0])
    );
    assert_eq!(
        listed(&manager, &format!("owner_id={}", org.rep_a2.id)).await?,
        [other_rep.id.0]
    );
    assert_eq!(
        listed(&manager, "status=in_progress").await?,
        [started.id.0]
    );
    assert_eq!(
        listed(&manager, "status=cancelled").await?,
        [called_off.id.0]
    );
    assert_eq!(
        listed(&manager, "status=planned").await?,
        sorted(vec![past.id.0, other_rep.id.0])
    );
    assert_eq!(
        listed(&manager, "type=onsite").await?,
        sorted(vec![past.id.0, other_rep.id.0])
    );
    assert_eq!(listed(&manager, "type=event").await?, NO_VISITS);
    assert_eq!(
        listed(&manager, &format!("planned_from={}", rfc3339(t0))).await?,
        sorted(vec![started.id.0, called_off.id.0, other_rep.id.0])
    );
    assert_eq!(
        listed(&manager, &format!("planned_to={}", rfc3339(t0))).await?,
        [past.id.0]
    );
    // From is inclusive, to is exclusive.
    assert_eq!(
        listed(
            &manager,
            &format!(
                "planned_from={}&planned_to={}",
                rfc3339(at(1)),
                rfc3339(at(5))
            )
        )
        .await?,
        sorted(vec![started.id.0, called_off.id.0])
    );
    assert_eq!(
        listed(
            &manager,
            &format!("account_id={}&type=phone&status=in_progress", x.id)
        )
        .await?,
        [started.id.0]
    );
    assert_eq!(
        listed(&manager, &format!("account_id={}&type=onsite", y.id)).await?,
        NO_VISITS
    );
    Ok(())
}

#[tokio::test]
async fn listing_pages_through_every_visit_without_duplicates_or_gaps() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Busy")).await?;
    let mut created = HashSet::new();
    for _ in 0..11 {
        created.insert(plan(&rep, new_visit(account.id)).await?.id);
    }

    let mut seen = Vec::new();
    let mut pages = 0;
    let mut path = "/visits?limit=4".to_owned();
    loop {
        let page: Page<VisitView> = rep.get(&path).await?.ensure_status(200)?.json()?;
        pages += 1;
        assert!(page.items.len() <= 4);
        seen.extend(page.items.iter().map(|v| v.id));
        match page.next_cursor {
            Some(cursor) => path = format!("/visits?limit=4&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "the pages do not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 11, "no visit is listed twice");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), created);
    let newest_first: Vec<_> = seen.iter().map(|id| id.0).collect();
    let mut expected = newest_first.clone();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(newest_first, expected, "newest first");
    Ok(())
}

#[tokio::test]
async fn patch_merges_steps_summary_outcome_and_next_steps() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let mut body = new_visit(account.id);
    body["steps"] = json!({ "identify": { "done": true, "notes": "Met the deputy director" } });
    let created = plan(&rep, body).await?;
    let path = format!("/visits/{}", created.id);

    let reply = rep
        .patch(
            &path,
            &json!({
                "steps": { "probe": { "done": true, "notes": "Budget confirmed" } },
                "summary": "Good meeting; a tender is coming.",
                "outcome": "positive",
                "next_steps": [
                    { "text": "Send the proposal", "owner_id": org.rep_a1.id, "due_on": "2030-01-15" },
                ],
                "next_visit_on": "2030-02-01",
            }),
        )
        .await?;
    reply.assert_status(200);
    let patched: VisitView = reply.json()?;
    assert!(patched.version > created.version);
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", patched.version).as_str())
    );

    let read = visit(&rep, created.id).await?;
    assert_eq!(read.visit, patched.visit);
    let steps = &read.visit.steps;
    assert!(steps.identify.done, "a patch of one step keeps the others");
    assert_eq!(steps.identify.notes, "Met the deputy director");
    assert!(steps.probe.done);
    assert_eq!(steps.probe.notes, "Budget confirmed");
    assert!(!steps.close.done);
    assert_eq!(read.visit.summary, "Good meeting; a tender is coming.");
    assert_eq!(read.visit.outcome.map(|o| o.as_str()), Some("positive"));
    assert_eq!(read.visit.next_steps.len(), 1);
    assert_eq!(read.visit.next_steps[0].text, "Send the proposal");
    assert_eq!(
        read.visit.next_steps[0].owner_id.map(|u| u.0),
        Some(org.rep_a1.id)
    );
    assert_eq!(
        read.visit.next_steps[0].due_on.map(|d| d.to_string()),
        Some("2030-01-15".to_owned())
    );
    assert_eq!(
        read.visit.next_visit_on.map(|d| d.to_string()),
        Some("2030-02-01".to_owned())
    );
    assert_eq!(read.visit.purpose, "Present the renewal proposal");
    assert_eq!(read.visit.owner_id.0, org.rep_a1.id);

    // Arrays are replaced whole; null clears a field.
    rep.patch(
        &path,
        &json!({
            "next_steps": [
                { "text": "Send the proposal", "done": true },
                { "text": "Book the site tour" },
            ],
            "outcome": null,
            "steps": { "close": { "done": true } },
        }),
    )
    .await?
    .assert_status(200);
    let read = visit(&rep, created.id).await?;
    let texts: Vec<_> = read
        .visit
        .next_steps
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    assert_eq!(texts, ["Send the proposal", "Book the site tour"]);
    assert!(read.visit.next_steps[0].done);
    assert_eq!(read.visit.outcome, None);
    assert!(read.visit.steps.close.done);
    assert!(read.visit.steps.probe.done);
    assert_eq!(read.visit.summary, "Good meeting; a tender is coming.");
    Ok(())
}

#[tokio::test]
async fn a_stale_if_match_on_a_visit_is_412_and_changes_nothing() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Wuhan Steel")).await?;
    let created = plan(&rep, new_visit(account.id)).await?;
    let path = format!("/visits/{}", created.id);
    let stale = format!("\"{}\"", created.version);
    rep.patch(&path, &json!({ "summary": "first" }))
        .await?
        .assert_status(200);
    let current = visit(&rep, created.id).await?;

    rep.send(
        rep.request(Method::PATCH, &path)
            .header("if-match", &stale)
            .json(&json!({ "summary": "second" })),
    )
    .await?
    .assert_problem(412, "precondition_failed");
    rep.send(
        rep.request(Method::DELETE, &path)
            .header("if-match", &stale),
    )
    .await?
    .assert_problem(412, "precondition_failed");
    assert_unchanged(&rep, &current).await
}

#[tokio::test]
async fn delete_is_soft_and_hides_the_visit_from_lists_by_default() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Park")).await?;
    let kept = plan(&rep, new_visit(account.id)).await?;
    let gone = plan(&rep, new_visit(account.id)).await?;
    let path = format!("/visits/{}", gone.id);

    let reply = rep.delete(&path).await?;
    reply.assert_status(204);
    assert!(reply.body.is_null());

    assert_eq!(listed(&rep, "").await?, [kept.id.0]);
    assert_eq!(
        listed(&rep, "include_deleted=true").await?,
        sorted(vec![kept.id.0, gone.id.0])
    );
    assert_eq!(
        listed(
            &rep,
            &format!("include_deleted=true&account_id={}", account.id)
        )
        .await?,
        sorted(vec![kept.id.0, gone.id.0])
    );
    let read = visit(&rep, gone.id).await?;
    assert!(read.visit.deleted);
    assert_eq!(read.visit.purpose, gone.visit.purpose);
    assert!(!visit(&rep, kept.id).await?.visit.deleted);

    // Deletion merges like any edit: it can be undone.
    rep.patch(&path, &json!({ "deleted": false }))
        .await?
        .assert_status(200);
    assert_eq!(listed(&rep, "").await?, sorted(vec![kept.id.0, gone.id.0]));
    Ok(())
}

#[tokio::test]
async fn checking_in_records_gps_and_time_and_puts_the_visit_under_way() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let arrived = now() - Duration::minutes(5);

    let reply = check_in(
        &rep,
        planned.id,
        &json!({ "location": north_of_site(0.0004), "at": arrived, "accuracy_m": 12.5 }),
    )
    .await?;
    reply.assert_status(200);
    let checked_in: VisitView = reply.json()?;
    assert!(checked_in.version > planned.version);
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", checked_in.version).as_str())
    );
    assert_eq!(checked_in.visit.status.as_str(), "in_progress");
    let point = checked_in
        .visit
        .check_in
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no check-in recorded"))?;
    assert_eq!(point.at, arrived);
    assert_eq!(point.location.lat, SITE.0 + 0.0004);
    assert_eq!(point.location.lon, SITE.1);
    assert_eq!(point.accuracy_m, Some(12.5));
    assert_eq!(checked_in.visit.check_out, None);
    // 0.0004° of latitude is about 44 m.
    let distance = checked_in.check_in_distance_m.unwrap_or(f64::MAX);
    assert!((40.0..50.0).contains(&distance), "distance {distance}");
    assert!(!checked_in.check_in_too_far);

    let read = visit(&rep, planned.id).await?;
    assert_eq!(read.visit, checked_in.visit);
    assert_eq!(read.check_in_distance_m, checked_in.check_in_distance_m);
    assert!(!read.check_in_too_far);
    Ok(())
}

#[tokio::test]
async fn a_check_in_without_a_time_is_stamped_with_the_servers_clock() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let before = Utc::now() - Duration::seconds(1);
    let checked_in: VisitView =
        check_in(&rep, planned.id, &json!({ "location": north_of_site(0.0) }))
            .await?
            .ensure_status(200)?
            .json()?;
    let after = Utc::now() + Duration::seconds(1);
    let at = checked_in
        .visit
        .check_in
        .map(|c| c.at)
        .ok_or_else(|| anyhow::anyhow!("no check-in recorded"))?;
    assert!(before <= at && at <= after, "{before} <= {at} <= {after}");
    assert!(checked_in.check_in_distance_m.unwrap_or(f64::MAX) < 1.0);
    Ok(())
}

#[tokio::test]
async fn a_check_in_over_500_m_from_the_account_is_flagged_too_far() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    // 0.0044° of latitude is about 489 m, 0.0046° about 511 m, 0.01° about 1.1 km.
    for (degrees, too_far, range) in [
        (0.0044, false, 480.0..500.0),
        (0.0046, true, 500.0..520.0),
        (0.01, true, 1100.0..1125.0),
    ] {
        let planned = plan(&rep, new_visit(account.id)).await?;
        let checked_in: VisitView =
            check_in(&rep, planned.id, &check(north_of_site(degrees), now()))
                .await?
                .ensure_status(200)?
                .json()?;
        let distance = checked_in.check_in_distance_m.unwrap_or(f64::MAX);
        assert!(range.contains(&distance), "{degrees}°: distance {distance}");
        assert_eq!(
            checked_in.check_in_too_far, too_far,
            "{degrees}°: {distance} m"
        );
        let read = visit(&rep, planned.id).await?;
        assert_eq!(read.check_in_too_far, too_far);
        assert_eq!(read.check_in_distance_m, checked_in.check_in_distance_m);
    }
    Ok(())
}

#[tokio::test]
async fn a_check_in_at_an_account_without_a_location_shows_no_distance() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Nowhere Ltd")).await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let checked_in: VisitView = check_in(&rep, planned.id, &check(north_of_site(0.5), now()))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(checked_in.visit.status.as_str(), "in_progress");
    assert_eq!(checked_in.check_in_distance_m, None);
    assert!(!checked_in.check_in_too_far);
    Ok(())
}

#[tokio::test]
async fn a_check_in_off_the_globe_or_with_unknown_fields_is_refused() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    for (body, field) in [
        (
            json!({ "location": { "lat": 91.0, "lon": 120.0 } }),
            "check_in.location.lat",
        ),
        (
            json!({ "location": { "lat": 30.0, "lon": -181.0 } }),
            "check_in.location.lon",
        ),
        (
            json!({ "location": { "lat": 30.0, "lon": 120.0 }, "accuracy_m": -1.0 }),
            "check_in.accuracy_m",
        ),
    ] {
        let reply = check_in(&rep, planned.id, &body).await?;
        reply.assert_violation(field, "out_of_range");
    }
    for body in [
        json!({ "location": { "lat": 30.0, "lon": 120.0 }, "altitude": 12 }),
        json!({ "at": now() }),
        json!({ "location": "here" }),
    ] {
        let reply = check_in(&rep, planned.id, &body).await?;
        reply.assert_problem(422, "invalid_body");
    }
    assert_unchanged(&rep, &planned).await
}

#[tokio::test]
async fn checking_out_completes_the_visit() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let arrived = now() - Duration::minutes(50);
    let left = now();
    check_in(&rep, planned.id, &check(north_of_site(0.0004), arrived))
        .await?
        .assert_status(200);

    let reply = check_out(
        &rep,
        planned.id,
        &json!({ "location": north_of_site(0.0005), "at": left, "accuracy_m": 8.0 }),
    )
    .await?;
    reply.assert_status(200);
    let done: VisitView = reply.json()?;
    assert_eq!(
        reply.header("etag"),
        Some(format!("\"{}\"", done.version).as_str())
    );
    assert_eq!(done.visit.status.as_str(), "completed");
    let out = done
        .visit
        .check_out
        .clone()
        .ok_or_else(|| anyhow::anyhow!("no check-out recorded"))?;
    assert_eq!(out.at, left);
    assert_eq!(out.location.lat, SITE.0 + 0.0005);
    assert_eq!(out.accuracy_m, Some(8.0));
    assert_eq!(done.visit.check_in.map(|c| c.at), Some(arrived));
    let distance = done.check_in_distance_m.unwrap_or(f64::MAX);
    assert!(
        (40.0..50.0).contains(&distance),
        "the distance is the check-in's: {distance}"
    );
    assert_eq!(listed(&rep, "status=completed").await?, [planned.id.0]);
    Ok(())
}

#[tokio::test]
async fn checking_in_twice_is_409_already_checked_in() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    check_in(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_status(200);
    let checked_in = visit(&rep, planned.id).await?;

    check_in(&rep, planned.id, &check(north_of_site(0.01), now()))
        .await?
        .assert_problem(409, "already_checked_in");
    assert_unchanged(&rep, &checked_in).await?;

    check_out(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_status(200);
    check_in(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_problem(409, "already_checked_in");
    Ok(())
}

#[tokio::test]
async fn checking_in_to_a_cancelled_or_completed_visit_is_409_visit_closed() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let mut body = new_visit(account.id);
    body["status"] = json!("cancelled");
    let cancelled = plan(&rep, body).await?;
    let mut phone = new_visit(account.id);
    phone["type"] = json!("phone");
    let closed_by_hand = plan(&rep, phone).await?;
    rep.patch(
        &format!("/visits/{}", closed_by_hand.id),
        &json!({ "status": "completed" }),
    )
    .await?
    .assert_status(200);
    let closed_by_hand = visit(&rep, closed_by_hand.id).await?;

    for closed in [&cancelled, &closed_by_hand] {
        check_in(&rep, closed.id, &check(north_of_site(0.0), now()))
            .await?
            .assert_problem(409, "visit_closed");
        assert_unchanged(&rep, closed).await?;
    }
    Ok(())
}

#[tokio::test]
async fn checking_out_before_checking_in_is_409_not_checked_in() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    check_out(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_problem(409, "not_checked_in");
    assert_unchanged(&rep, &planned).await
}

#[tokio::test]
async fn checking_out_twice_is_409_already_checked_out() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let arrived = now() - Duration::hours(1);
    check_in(&rep, planned.id, &check(north_of_site(0.0), arrived))
        .await?
        .assert_status(200);
    check_out(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_status(200);
    let done = visit(&rep, planned.id).await?;

    check_out(&rep, planned.id, &check(north_of_site(0.01), now()))
        .await?
        .assert_problem(409, "already_checked_out");
    assert_unchanged(&rep, &done).await
}

#[tokio::test]
async fn a_check_out_timed_before_the_check_in_is_422() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let arrived = now() - Duration::minutes(10);
    check_in(&rep, planned.id, &check(north_of_site(0.0), arrived))
        .await?
        .assert_status(200);
    let checked_in = visit(&rep, planned.id).await?;

    let reply = check_out(
        &rep,
        planned.id,
        &check(north_of_site(0.0), arrived - Duration::minutes(1)),
    )
    .await?;
    reply.assert_violation("check_out.at", "before_check_in");
    assert_unchanged(&rep, &checked_in).await?;
    assert_eq!(checked_in.visit.status.as_str(), "in_progress");

    // Leaving at the very moment of arrival is allowed.
    check_out(&rep, planned.id, &check(north_of_site(0.0), arrived))
        .await?
        .assert_status(200);
    Ok(())
}

#[tokio::test]
async fn a_visits_account_cannot_be_changed() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let first = rep.create_account(new_account("First")).await?;
    let second = rep.create_account(new_account("Second")).await?;
    let planned = plan(&rep, new_visit(first.id)).await?;

    let reply = rep
        .patch(
            &format!("/visits/{}", planned.id),
            &json!({ "account_id": second.id, "summary": "moved" }),
        )
        .await?;
    reply.assert_violation("account_id", "immutable_field");
    assert_unchanged(&rep, &planned).await?;
    assert_eq!(
        listed(&rep, &format!("account_id={}", first.id)).await?,
        [planned.id.0]
    );
    assert_eq!(
        listed(&rep, &format!("account_id={}", second.id)).await?,
        NO_VISITS
    );
    Ok(())
}

#[tokio::test]
async fn a_rep_cannot_make_someone_else_a_visits_owner() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep
        .create_account(
            json!({ "name": "Shared", "segment": "enterprise", "shared_with": [org.rep_a2.id] }),
        )
        .await?;
    let mut body = new_visit(account.id);
    body["owner_id"] = json!(org.rep_a2.id);
    rep.post("/visits", &body)
        .await?
        .assert_problem(403, "owner_change_forbidden");
    assert_eq!(listed(&rep, "include_deleted=true").await?, NO_VISITS);

    let planned = plan(&rep, new_visit(account.id)).await?;
    rep.patch(
        &format!("/visits/{}", planned.id),
        &json!({ "owner_id": org.rep_a2.id }),
    )
    .await?
    .assert_problem(403, "owner_change_forbidden");
    assert_unchanged(&rep, &planned).await?;

    // Naming oneself is no change of owner.
    let mut body = new_visit(account.id);
    body["owner_id"] = json!(org.rep_a1.id);
    plan(&rep, body).await?;
    Ok(())
}

#[tokio::test]
async fn a_manager_plans_a_visit_for_a_rep_of_their_team_who_sees_the_account() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep.create_account(new_account("Rep's account")).await?;
    let mut body = new_visit(account.id);
    body["owner_id"] = json!(org.rep_a1.id);

    let planned = plan(&manager, body).await?;
    assert_eq!(planned.visit.owner_id.0, org.rep_a1.id);
    assert_eq!(planned.created_by.map(|u| u.0), Some(org.manager.id));
    assert_eq!(visit(&rep, planned.id).await?.visit, planned.visit);
    assert_eq!(
        listed(&rep, &format!("owner_id={}", org.rep_a1.id)).await?,
        [planned.id.0]
    );

    // And hands an existing visit over the same way.
    let own = plan(&manager, new_visit(account.id)).await?;
    assert_eq!(own.visit.owner_id.0, org.manager.id);
    let handed: VisitView = manager
        .patch(
            &format!("/visits/{}", own.id),
            &json!({ "owner_id": org.rep_a1.id }),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(handed.visit.owner_id.0, org.rep_a1.id);
    Ok(())
}

#[tokio::test]
async fn a_manager_cannot_plan_a_visit_for_a_rep_who_cannot_see_the_account() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep.create_account(new_account("Not shared")).await?;
    let mut body = new_visit(account.id);
    body["owner_id"] = json!(org.rep_a2.id);

    let reply = manager.post("/visits", &body).await?;
    reply.assert_violation("owner_id", "owner_cannot_see_account");
    assert_eq!(listed(&manager, "include_deleted=true").await?, NO_VISITS);

    let planned = plan(&manager, new_visit(account.id)).await?;
    let reply = manager
        .patch(
            &format!("/visits/{}", planned.id),
            &json!({ "owner_id": org.rep_a2.id }),
        )
        .await?;
    reply.assert_violation("owner_id", "owner_cannot_see_account");
    assert_unchanged(&manager, &planned).await?;
    let teammate = app.login_as(&org.rep_a2).await?;
    assert_eq!(listed(&teammate, "include_deleted=true").await?, NO_VISITS);
    Ok(())
}

#[tokio::test]
async fn a_visit_cannot_be_planned_for_an_unknown_or_deactivated_user() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let admin = app.login_as(&org.admin).await?;
    let account = rep
        .create_account(
            json!({ "name": "Shared", "segment": "enterprise", "shared_with": [org.rep_a2.id] }),
        )
        .await?;
    admin
        .patch(
            &format!("/users/{}", org.rep_a2.id),
            &json!({ "active": false }),
        )
        .await?
        .assert_status(200);
    for owner in [Uuid::now_v7(), org.rep_a2.id] {
        let mut body = new_visit(account.id);
        body["owner_id"] = json!(owner);
        let reply = manager.post("/visits", &body).await?;
        // The same answer as for a user who cannot see the account: it
        // does not tell which users exist.
        reply.assert_violation("owner_id", "owner_cannot_see_account");
    }
    assert_eq!(listed(&manager, "include_deleted=true").await?, NO_VISITS);
    Ok(())
}

#[tokio::test]
async fn planning_a_visit_under_an_account_out_of_sight_is_422_unknown_account()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let owner = app.login_as(&org.rep_a1).await?;
    let other = app.login_as(&org.rep_b1).await?;
    let account = owner.create_account(new_account("Private")).await?;

    for account_id in [account.id.0, Uuid::now_v7()] {
        let reply = other.post("/visits", &new_visit(account_id)).await?;
        reply.assert_violation("account_id", "unknown_account");
    }
    assert_eq!(listed(&other, "include_deleted=true").await?, NO_VISITS);
    assert_eq!(listed(&owner, "include_deleted=true").await?, NO_VISITS);
    Ok(())
}

#[tokio::test]
async fn a_rep_cannot_reach_another_reps_visit_on_any_route() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let owner = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&owner, "Private").await?;
    let planned = plan(&owner, new_visit(account.id)).await?;
    let started = plan(&owner, new_visit(account.id)).await?;
    check_in(
        &owner,
        started.id,
        &check(north_of_site(0.0), now() - Duration::hours(1)),
    )
    .await?
    .assert_status(200);
    let planned = visit(&owner, planned.id).await?;
    let started = visit(&owner, started.id).await?;
    let here = check(north_of_site(0.0), now());

    for other in [&org.rep_a2, &org.rep_b1] {
        let other = app.login_as(other).await?;
        for id in [planned.id, started.id] {
            let path = format!("/visits/{id}");
            other.get(&path).await?.assert_problem(404, "not_found");
            other
                .patch(&path, &json!({ "summary": "snooping" }))
                .await?
                .assert_problem(404, "not_found");
            other.delete(&path).await?.assert_problem(404, "not_found");
            check_in(&other, id, &here)
                .await?
                .assert_problem(404, "not_found");
            check_out(&other, id, &here)
                .await?
                .assert_problem(404, "not_found");
        }
        assert_eq!(listed(&other, "include_deleted=true").await?, NO_VISITS);
        assert_eq!(
            listed(
                &other,
                &format!("account_id={}&include_deleted=true", account.id)
            )
            .await?,
            NO_VISITS
        );
    }
    assert_unchanged(&owner, &planned).await?;
    assert_unchanged(&owner, &started).await
}

#[tokio::test]
async fn a_rep_lists_only_visits_under_accounts_in_their_scope() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let own = a1.create_account(new_account("Own")).await?;
    let shared = a2
        .create_account(
            json!({ "name": "Shared", "segment": "enterprise", "shared_with": [org.rep_a1.id] }),
        )
        .await?;
    let not_shared = a2.create_account(new_account("Not shared")).await?;
    let other_team = b1.create_account(new_account("Other team")).await?;

    let on_own = plan(&a1, new_visit(own.id)).await?;
    let mine_on_shared = plan(&a1, new_visit(shared.id)).await?;
    let theirs_on_shared = plan(&a2, new_visit(shared.id)).await?;
    let on_not_shared = plan(&a2, new_visit(not_shared.id)).await?;
    let on_other_team = plan(&b1, new_visit(other_team.id)).await?;

    assert_eq!(
        listed(&a1, "").await?,
        sorted(vec![
            on_own.id.0,
            mine_on_shared.id.0,
            theirs_on_shared.id.0
        ])
    );
    assert_eq!(
        visit(&a1, theirs_on_shared.id).await?.visit.owner_id.0,
        org.rep_a2.id
    );
    assert_eq!(
        listed(&a1, &format!("owner_id={}", org.rep_a2.id)).await?,
        [theirs_on_shared.id.0]
    );
    assert_eq!(
        listed(&a1, &format!("account_id={}", not_shared.id)).await?,
        NO_VISITS
    );
    assert_eq!(
        listed(&a2, "").await?,
        sorted(vec![
            mine_on_shared.id.0,
            theirs_on_shared.id.0,
            on_not_shared.id.0
        ])
    );
    assert_eq!(listed(&b1, "").await?, [on_other_team.id.0]);
    Ok(())
}

#[tokio::test]
async fn the_manager_sees_their_teams_visits_and_not_the_other_teams() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let manager = app.login_as(&org.manager).await?;
    let director = app.login_as(&org.director).await?;
    let x = a1.create_account(new_account("A1's")).await?;
    let y = a2.create_account(new_account("A2's")).await?;
    let z = b1.create_account(new_account("B1's")).await?;
    let on_x = plan(&a1, new_visit(x.id)).await?;
    let on_y = plan(&a2, new_visit(y.id)).await?;
    let on_z = plan(&b1, new_visit(z.id)).await?;

    assert_eq!(
        listed(&manager, "").await?,
        sorted(vec![on_x.id.0, on_y.id.0])
    );
    visit(&manager, on_x.id).await?;
    manager
        .patch(
            &format!("/visits/{}", on_y.id),
            &json!({ "summary": "Reviewed by the manager" }),
        )
        .await?
        .assert_status(200);
    assert_eq!(
        visit(&a2, on_y.id).await?.visit.summary,
        "Reviewed by the manager"
    );
    manager
        .get(&format!("/visits/{}", on_z.id))
        .await?
        .assert_problem(404, "not_found");
    manager
        .patch(&format!("/visits/{}", on_z.id), &json!({ "summary": "x" }))
        .await?
        .assert_problem(404, "not_found");
    assert_unchanged(&b1, &on_z).await?;

    assert_eq!(
        listed(&director, "").await?,
        sorted(vec![on_x.id.0, on_y.id.0, on_z.id.0])
    );
    Ok(())
}

#[tokio::test]
async fn service_reads_visits_but_gets_403_read_only_role_on_writes() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let service = app.login_as(&org.service).await?;
    let account = account_with_site(&rep, "Served").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    let started = plan(&rep, new_visit(account.id)).await?;
    check_in(
        &rep,
        started.id,
        &check(north_of_site(0.0), now() - Duration::hours(1)),
    )
    .await?
    .assert_status(200);
    let started = visit(&rep, started.id).await?;

    assert_eq!(visit(&service, planned.id).await?.visit, planned.visit);
    assert_eq!(
        listed(&service, "").await?,
        sorted(vec![planned.id.0, started.id.0])
    );

    service
        .post("/visits", &new_visit(account.id))
        .await?
        .assert_problem(403, "read_only_role");
    let path = format!("/visits/{}", planned.id);
    service
        .patch(&path, &json!({ "summary": "complaint logged" }))
        .await?
        .assert_problem(403, "read_only_role");
    service
        .delete(&path)
        .await?
        .assert_problem(403, "read_only_role");
    check_in(&service, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_problem(403, "read_only_role");
    check_out(&service, started.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_problem(403, "read_only_role");

    assert_unchanged(&rep, &planned).await?;
    assert_unchanged(&rep, &started).await?;
    assert_eq!(
        listed(&rep, "include_deleted=true").await?,
        sorted(vec![planned.id.0, started.id.0])
    );
    Ok(())
}

#[tokio::test]
async fn visits_leave_the_old_owners_sight_when_their_account_is_reassigned() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = a1.create_account(new_account("Handed over")).await?;
    let kept = a1.create_account(new_account("Kept")).await?;
    let moving = plan(&a1, new_visit(account.id)).await?;
    let staying = plan(&a1, new_visit(kept.id)).await?;

    manager
        .patch(
            &format!("/accounts/{}", account.id),
            &json!({ "owner_id": org.rep_a2.id }),
        )
        .await?
        .assert_status(200);

    let path = format!("/visits/{}", moving.id);
    a1.get(&path).await?.assert_problem(404, "not_found");
    a1.patch(&path, &json!({ "summary": "still mine?" }))
        .await?
        .assert_problem(404, "not_found");
    check_in(&a1, moving.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_problem(404, "not_found");
    assert_eq!(listed(&a1, "include_deleted=true").await?, [staying.id.0]);
    assert_eq!(
        listed(&a1, &format!("owner_id={}", org.rep_a1.id)).await?,
        [staying.id.0]
    );

    let seen = visit(&a2, moving.id).await?;
    assert_eq!(seen.visit, moving.visit);
    assert_eq!(listed(&a2, "").await?, [moving.id.0]);
    assert_eq!(
        listed(&manager, "").await?,
        sorted(vec![moving.id.0, staying.id.0])
    );
    Ok(())
}

#[tokio::test]
async fn checking_out_of_a_visit_cancelled_after_its_check_in_is_409_visit_closed()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = account_with_site(&rep, "Hangzhou Water").await?;
    let planned = plan(&rep, new_visit(account.id)).await?;
    check_in(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_status(200);
    rep.patch(
        &format!("/visits/{}", planned.id),
        &json!({ "status": "cancelled" }),
    )
    .await?
    .assert_status(200);
    let cancelled = visit(&rep, planned.id).await?;
    check_out(&rep, planned.id, &check(north_of_site(0.0), now()))
        .await?
        .assert_problem(409, "visit_closed");
    assert_unchanged(&rep, &cancelled).await
}
