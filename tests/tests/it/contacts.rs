//! Key persons (`/contacts`) and the org chart: REST and sync, the rules on
//! accounts and reporting lines, the decision-map gaps, and who may see and
//! change which key person.

use kam_server::csv_io::{self, ImportReport};
use kam_server::records::contacts::{
    ContactView, MAX_CHART_DEPTH, MAX_KEY_PERSONS, OrgChart, OrgNode,
};
use kam_server::records::page::Page;
use kam_sync_core::Contact;
use kam_sync_core::limits::{MAX_DEPTH, TOO_DEEP};
use kam_sync_core::protocol::{Bytes, PushDoc, PushStatus, SyncRequest, SyncResponse};
use kam_tests::{Device, Method, Session, TestApp, new_account};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

fn new_contact(account: impl std::fmt::Display, name: &str) -> Value {
    json!({
        "account_id": account.to_string(),
        "name": name,
        "title": "Deputy director",
        "phone": "+86 571 8888 0000",
        "wechat": "wang_jg",
    })
}

async fn add(session: &Session, body: Value) -> anyhow::Result<ContactView> {
    session.created("/contacts", &body).await
}

async fn chart(session: &Session, account: impl std::fmt::Display) -> anyhow::Result<OrgChart> {
    session
        .read(&format!("/accounts/{account}/org-chart"))
        .await
}

fn gap_codes(chart: &OrgChart) -> Vec<&str> {
    chart.gaps.iter().map(|g| g.code.as_str()).collect()
}

#[tokio::test]
async fn a_rep_records_a_key_person_with_the_full_profile_and_reads_it_back() -> anyhow::Result<()>
{
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let mut body = new_contact(account.id, "王建国");
    body["buying_role"] = json!("decision_maker");
    body["attitude"] = json!("supporter");
    body["influence"] = json!(5);
    body["relationship_strength"] = json!(3);
    body["personality"] = json!("owl");
    body["org_needs"] = json!(["quality", "terms"]);
    body["personal_needs"] = json!(["esteem"]);
    body["birthday"] = json!("1971-03-08");
    let created = rep.post("/contacts", &body).await?;
    created.assert_status(201);
    let view: ContactView = created.json()?;
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/contacts/{}", view.id).as_str())
    );
    assert_eq!(view.contact.name, "王建国");
    assert_eq!(view.stamp.created_by.map(|u| u.0), Some(org.rep_a1.id));

    let read: ContactView = rep
        .get(&format!("/contacts/{}", view.id))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(read.contact, view.contact);
    let listed: Page<ContactView> = rep
        .get(&format!(
            "/contacts?account_id={}&buying_role=decision_maker",
            account.id
        ))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(listed.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn bad_contacts_are_refused_with_their_fields_named() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let mut body = new_contact(account.id, " ");
    body["influence"] = json!(9);
    body["attitude"] = json!("hostile");
    let reply = rep.post("/contacts", &body).await?;
    assert!(reply.status.is_client_error(), "{reply:?}");
    let mut body = new_contact(account.id, "Li");
    body["influence"] = json!(9);
    let reply = rep.post("/contacts", &body).await?;
    reply.assert_status(422);
    assert_eq!(reply.violated_fields(), ["influence"]);
    let reply = rep
        .post("/contacts", &new_contact(Uuid::now_v7(), "Nobody's"))
        .await?;
    reply.assert_violation("account_id", "unknown_account");
    let listed: Page<ContactView> = rep.get("/contacts").await?.ensure_status(200)?.json()?;
    assert!(listed.items.is_empty(), "nothing was stored");
    Ok(())
}

#[tokio::test]
async fn contacts_are_seen_by_whoever_sees_their_account_and_changed_by_writers()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let person = add(&rep, new_contact(account.id, "Zhao")).await?;
    let path = format!("/contacts/{}", person.id);

    let other_rep = app.login_as(&org.rep_b1).await?;
    other_rep.get(&path).await?.assert_problem(404, "not_found");
    other_rep
        .patch(&path, &json!({"attitude": "opponent"}))
        .await?
        .assert_problem(404, "not_found");
    let listed: Page<ContactView> = other_rep
        .get("/contacts")
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(listed.items.is_empty());
    other_rep
        .post("/contacts", &new_contact(account.id, "Sneaky"))
        .await?
        .assert_violation("account_id", "unknown_account");

    for user in [&org.manager, &org.director, &org.admin, &org.service] {
        let session = app.login_as(user).await?;
        session.get(&path).await?.assert_status(200);
    }
    let service = app.login_as(&org.service).await?;
    service
        .patch(&path, &json!({"attitude": "opponent"}))
        .await?
        .assert_problem(403, "read_only_role");
    let manager = app.login_as(&org.manager).await?;
    let changed: ContactView = manager
        .patch(&path, &json!({"attitude": "champion"}))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        changed.contact.attitude,
        Some(kam_sync_core::contact::Attitude::Champion)
    );
    rep.delete(&path).await?.assert_status(204);
    let deleted: ContactView = rep.get(&path).await?.ensure_status(200)?.json()?;
    assert!(deleted.contact.deleted);
    Ok(())
}

#[tokio::test]
async fn a_key_person_stays_with_their_account_and_reports_within_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let first = rep.create_account(new_account("Ningbo Port")).await?;
    let second = rep.create_account(new_account("Zhoushan Port")).await?;
    let person = add(&rep, new_contact(first.id, "Zhao")).await?;
    let elsewhere = add(&rep, new_contact(second.id, "Qian")).await?;
    let path = format!("/contacts/{}", person.id);
    rep.patch(&path, &json!({"account_id": second.id}))
        .await?
        .assert_violation("account_id", "immutable_field");
    rep.patch(&path, &json!({"reports_to": elsewhere.id}))
        .await?
        .assert_violation("reports_to", "other_account");
    let stale = rep
        .request(kam_tests::Method::PATCH, &path)
        .header("If-Match", "\"1\"")
        .json(&json!({"title": "CEO"}));
    rep.send(stale)
        .await?
        .assert_problem(412, "precondition_failed");
    Ok(())
}

#[tokio::test]
async fn the_org_chart_draws_the_reporting_tree_and_flags_the_gaps() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    let empty = chart(&rep, account.id).await?;
    assert_eq!(gap_codes(&empty), ["no_key_persons"]);

    let mut body = new_contact(account.id, "Chen (GM)");
    body["buying_role"] = json!("decision_maker");
    body["attitude"] = json!("neutral");
    body["influence"] = json!(5);
    let boss = add(&rep, body).await?;
    let mut body = new_contact(account.id, "Lin (procurement)");
    body["buying_role"] = json!("influencer");
    body["attitude"] = json!("opponent");
    body["influence"] = json!(4);
    body["reports_to"] = json!(boss.id);
    let opponent = add(&rep, body).await?;
    let mut body = new_contact(account.id, "Xu (IT)");
    body["buying_role"] = json!("user");
    body["reports_to"] = json!(opponent.id);
    add(&rep, body).await?;

    let drawn = chart(&rep, account.id).await?;
    assert_eq!(drawn.roots.len(), 1);
    let root: &OrgNode = &drawn.roots[0];
    assert_eq!(root.id, boss.id);
    assert_eq!(root.reports[0].id, opponent.id);
    assert_eq!(root.reports[0].reports[0].name, "Xu (IT)");
    assert_eq!(
        gap_codes(&drawn),
        [
            "no_champion",
            "decision_maker_not_supportive",
            "opponent_with_high_influence"
        ]
    );

    let mut body = new_contact(account.id, "Zhou (coach)");
    body["buying_role"] = json!("coach");
    body["attitude"] = json!("champion");
    add(&rep, body).await?;
    rep.patch(
        &format!("/contacts/{}", boss.id),
        &json!({"attitude": "supporter"}),
    )
    .await?
    .assert_status(200);
    let better = chart(&rep, account.id).await?;
    assert_eq!(gap_codes(&better), ["opponent_with_high_influence"]);

    let outsider = app.login_as(&org.rep_b1).await?;
    outsider
        .get(&format!("/accounts/{}/org-chart", account.id))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn contacts_made_offline_sync_in_one_request_and_reach_other_devices() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Wuxi Power")).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut tablet = Device::new(&app, &org.rep_a1, "tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;

    // A person and the manager they report to, both made offline; the
    // report is pushed before its manager in the same request.
    let boss: Contact = serde_json::from_value(json!({
        "account_id": account.id, "name": "Sun (CEO)", "buying_role": "decision_maker",
    }))?;
    let boss_id = phone.create(&boss)?;
    let report: Contact = serde_json::from_value(json!({
        "account_id": account.id, "name": "Wu (CFO)", "reports_to": boss_id,
        "notes": "Cares about the payment period.",
    }))?;
    let report_id = phone.create(&report)?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);

    tablet.sync().await?;
    assert_eq!(tablet.json(report_id)["reports_to"], json!(boss_id));
    tablet.edit::<Contact>(report_id, json!({"attitude": "supporter"}))?;
    phone.edit::<Contact>(
        report_id,
        json!({"notes": "Cares about the payment period. Golf on Fridays."}),
    )?;
    tablet.sync().await?;
    phone.sync().await?;
    tablet.sync().await?;
    assert_eq!(phone.json(report_id), tablet.json(report_id));

    let server: ContactView = rest
        .get(&format!("/contacts/{report_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        serde_json::to_value(&server.contact)?,
        phone.json(report_id)
    );
    let drawn = chart(&rest, account.id).await?;
    assert_eq!(drawn.roots.len(), 1);
    assert_eq!(drawn.roots[0].reports[0].id.0, report_id);
    Ok(())
}

#[tokio::test]
async fn sync_undoes_a_key_person_moved_to_another_account_and_keeps_others_out()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let first = rest.create_account(new_account("Wuxi Power")).await?;
    let second = rest.create_account(new_account("Changzhou Power")).await?;
    let person = add(&rest, new_contact(first.id, "Zheng")).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    phone.edit::<Contact>(
        person.id.0,
        json!({"account_id": second.id, "title": "CTO"}),
    )?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["immutable_field"]);
    assert_eq!(phone.json(person.id.0)["account_id"], json!(first.id));
    assert_eq!(phone.json(person.id.0)["title"], json!("CTO"));

    let mut outsider = Device::new(&app, &org.rep_b1, "phone").await?;
    outsider.sync().await?;
    assert_eq!(outsider.json(person.id.0), Value::Null);
    Ok(())
}

/// Every person the chart draws, with the level they are drawn at (a root
/// is at level 1); walked with a stack, whatever the chart's depth.
fn drawn(chart: &OrgChart) -> Vec<(Uuid, usize)> {
    let mut out = Vec::new();
    let mut stack: Vec<(&OrgNode, usize)> = chart.roots.iter().map(|n| (n, 1)).collect();
    while let Some((node, level)) = stack.pop() {
        out.push((node.id.0, level));
        stack.extend(node.reports.iter().map(|r| (r, level + 1)));
    }
    out
}

#[tokio::test]
async fn a_reporting_chain_as_long_as_the_cap_allows_is_charted_once_per_person_within_the_depth_bound()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Shanghai Metro")).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    // Each key person reports to the one made before, as a hostile device
    // would push them.
    let mut chain = Vec::with_capacity(MAX_KEY_PERSONS);
    for index in 0..MAX_KEY_PERSONS {
        let person: Contact = serde_json::from_value(json!({
            "account_id": account.id,
            "name": format!("Level {index:04}"),
            "reports_to": chain.last(),
        }))?;
        chain.push(phone.create(&person)?);
    }
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);

    // The director opens the chart: it answers, and answers again.
    let director = app.login_as(&org.director).await?;
    for _ in 0..2 {
        let drawn_chart = chart(&director, account.id).await?;
        let people = drawn(&drawn_chart);
        let mut times: HashMap<Uuid, usize> = HashMap::new();
        for (id, _) in &people {
            *times.entry(*id).or_default() += 1;
        }
        assert_eq!(people.len(), MAX_KEY_PERSONS, "every person is drawn");
        assert!(
            chain.iter().all(|id| times.get(id) == Some(&1)),
            "every person is drawn exactly once"
        );
        let deepest = people.iter().map(|(_, level)| *level).max();
        assert_eq!(deepest, Some(MAX_CHART_DEPTH));
        // The chain goes on below the bound as a tree of its own, from the
        // person the bound cut, and the gap says so.
        let cut: Vec<Uuid> = drawn_chart
            .gaps
            .iter()
            .filter(|g| g.code == "too_deep")
            .filter_map(|g| g.contact_id.map(|c| c.0))
            .collect();
        let expected: Vec<Uuid> = chain
            .iter()
            .copied()
            .step_by(MAX_CHART_DEPTH)
            .skip(1)
            .collect();
        assert_eq!(cut, expected);
        let roots: Vec<Uuid> = drawn_chart.roots.iter().map(|r| r.id.0).collect();
        assert_eq!(roots[0], chain[0]);
        assert_eq!(roots[1..], expected[..]);
    }
    Ok(())
}

/// A key person's sync push, made on a device of its own.
fn push_of_new(user: &kam_tests::OrgUser, person: &Contact) -> anyhow::Result<(Uuid, PushDoc)> {
    let id = Uuid::now_v7();
    let meta = kam_sync_core::ChangeMeta {
        user: Some(user.id.into()),
        device: "phone".into(),
        time: chrono::Utc::now(),
    };
    let mut doc = kam_sync_core::RecordDoc::create(person, automerge::ActorId::random(), &meta)?;
    Ok((
        id,
        PushDoc {
            id,
            kind: kam_sync_core::RecordKind::Contact,
            changes: Bytes(doc.automerge_mut().save()),
        },
    ))
}

/// Sends `push` in one sync request from a device of `user` that has never
/// synced.
async fn push_as(
    app: &TestApp,
    user: &kam_tests::OrgUser,
    push: Vec<PushDoc>,
) -> anyhow::Result<SyncResponse> {
    let device = app.login(&user.username, &user.password, "phone").await?;
    let request = SyncRequest {
        push,
        ..SyncRequest::default()
    };
    device
        .post("/sync", &serde_json::to_value(&request)?)
        .await?
        .ensure_status(200)?
        .json()
}

async fn import_contacts(session: &Session, csv: String) -> anyhow::Result<ImportReport> {
    let request = session
        .request(Method::POST, "/import/contacts")
        .header("content-type", "text/csv")
        .body(csv);
    session.send(request).await?.ensure_status(200)?.json()
}

#[tokio::test]
async fn an_account_holds_at_most_the_cap_of_live_key_persons_over_rest_sync_and_csv()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Guangzhou Metro")).await?;
    let other = rep.create_account(new_account("Shenzhen Metro")).await?;
    let rows = |names: std::ops::Range<usize>| {
        let mut csv = String::from("account_id,name\n");
        for index in names {
            csv.push_str(&format!("{},Person {index}\n", account.id));
        }
        csv
    };
    let report = import_contacts(&rep, rows(0..600)).await?;
    assert_eq!(report.imported, 600);
    // One batch fills the account: its own earlier rows count.
    let rest = MAX_KEY_PERSONS - 600;
    assert!(rest < csv_io::BATCH_ROWS);
    let report = import_contacts(&rep, rows(600..MAX_KEY_PERSONS + 1)).await?;
    assert_eq!(report.imported, u64::try_from(rest)?);
    let rejected: Vec<_> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.column.as_deref(), r.code.as_str()))
        .collect();
    let last_line = u64::try_from(rest)? + 2;
    assert_eq!(
        rejected,
        [(last_line, Some("account_id"), "too_many_key_persons")]
    );
    let listed: Page<ContactView> = rep
        .get(&format!("/contacts?account_id={}&limit=1", account.id))
        .await?
        .ensure_status(200)?
        .json()?;
    let first = format!("/contacts/{}", listed.items[0].id);
    rep.delete(&first).await?.assert_status(204);

    // One place is left: of two pushed in one request, the first takes it.
    let person = |name: &str| -> anyhow::Result<Contact> {
        Ok(serde_json::from_value(
            json!({"account_id": account.id, "name": name}),
        )?)
    };
    let (last, last_push) = push_of_new(&org.rep_a1, &person("The last one")?)?;
    let (extra, extra_push) = push_of_new(&org.rep_a1, &person("One too many")?)?;
    let response = push_as(&app, &org.rep_a1, vec![last_push, extra_push]).await?;
    let statuses: Vec<_> = response.pushed.iter().map(|p| (p.id, p.status)).collect();
    assert_eq!(
        statuses,
        [(last, PushStatus::Applied), (extra, PushStatus::Refused)]
    );
    let notices: Vec<_> = response
        .notices
        .iter()
        .map(|n| (n.id, n.code.as_str()))
        .collect();
    assert_eq!(notices, [(extra, "too_many_key_persons")]);
    rep.get(&format!("/contacts/{extra}"))
        .await?
        .assert_problem(404, "not_found");

    rep.post("/contacts", &new_contact(account.id, "By REST"))
        .await?
        .assert_problem(422, "too_many_key_persons");
    let report = import_contacts(&rep, format!("account_id,name\n{},By CSV\n", account.id)).await?;
    assert_eq!(report.imported, 0);
    let rejected: Vec<_> = report
        .rejected
        .iter()
        .map(|r| (r.line, r.column.as_deref(), r.code.as_str()))
        .collect();
    assert_eq!(rejected, [(2, Some("account_id"), "too_many_key_persons")]);
    // The cap is per account.
    add(&rep, new_contact(other.id, "Elsewhere")).await?;

    // The place a deleted key person left is taken: restoring them does not fit.
    rep.patch(&first, &json!({"deleted": false}))
        .await?
        .assert_problem(422, "too_many_key_persons");
    let listed = drawn(&chart(&rep, account.id).await?);
    assert_eq!(listed.len(), MAX_KEY_PERSONS);
    Ok(())
}

#[tokio::test]
async fn a_key_person_pushed_with_a_field_nested_twenty_thousand_deep_is_refused_and_the_server_lives()
-> anyhow::Result<()> {
    use automerge::transaction::Transactable;
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Deep Water")).await?;
    let person: Contact =
        serde_json::from_value(json!({"account_id": account.id, "name": "Deep"}))?;
    let (id, mut push) = push_of_new(&org.rep_a1, &person)?;
    let mut doc = automerge::AutoCommit::load(&push.changes.0)?;
    let mut at = doc.put_object(automerge::ROOT, "x", automerge::ObjType::Map)?;
    for _ in 0..20_000 {
        at = doc.put_object(&at, "x", automerge::ObjType::Map)?;
    }
    push.changes = Bytes(doc.save());
    let response = push_as(&app, &org.rep_a1, vec![push]).await?;
    assert_eq!(response.pushed[0].status, PushStatus::Refused);
    let notices: Vec<_> = response
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    // The path names the first level past the bound.
    let too_deep_at = vec!["x"; MAX_DEPTH].join(".");
    assert_eq!(notices, [(TOO_DEEP, Some(too_deep_at.as_str()))]);
    rep.get(&format!("/contacts/{id}"))
        .await?
        .assert_problem(404, "not_found");
    rep.get("/contacts").await?.assert_status(200);
    Ok(())
}
