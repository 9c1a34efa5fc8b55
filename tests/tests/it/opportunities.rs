//! Opportunities (`/opportunities`) and the pipeline report: REST and sync,
//! stage moves allowed and refused, the fields the server keeps (stage
//! history, won and lost days), money, and who may see and change which
//! opportunity.

use chrono::{Duration, Utc};
use kam_server::records::opportunities::{OpportunityView, Pipeline};
use kam_server::records::page::Page;
use kam_sync_core::opportunity::OpportunityStage;
use kam_sync_core::{Account, Contact, Opportunity, parse_record};
use kam_tests::{Device, Session, TestApp, new_account};
use serde_json::{Value, json};
use uuid::Uuid;

fn new_deal(account: impl std::fmt::Display, name: &str) -> Value {
    json!({ "account_id": account.to_string(), "name": name })
}

async fn open(session: &Session, body: Value) -> anyhow::Result<OpportunityView> {
    session.created("/opportunities", &body).await
}

async fn change(
    session: &Session,
    id: impl std::fmt::Display,
    patch: Value,
) -> anyhow::Result<OpportunityView> {
    session
        .patched(&format!("/opportunities/{id}"), &patch)
        .await
}

async fn list(session: &Session, query: &str) -> anyhow::Result<Vec<OpportunityView>> {
    let page: Page<OpportunityView> = session
        .get(&format!("/opportunities{query}"))
        .await?
        .ensure_status(200)?
        .json()?;
    Ok(page.items)
}

async fn pipeline(session: &Session, query: &str) -> anyhow::Result<Pipeline> {
    session.read(&format!("/reports/pipeline{query}")).await
}

fn stages(view: &OpportunityView) -> Vec<OpportunityStage> {
    view.opportunity
        .stage_history
        .iter()
        .map(|change| change.stage)
        .collect()
}

#[tokio::test]
async fn a_rep_opens_an_opportunity_and_reads_it_back_with_its_weighted_amount()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let key_person: Value = rep
        .post(
            "/contacts",
            &json!({"account_id": account.id, "name": "Wang (CIO)"}),
        )
        .await?
        .ensure_status(201)?
        .json()?;
    let last_week = (Utc::now() - Duration::days(7)).date_naive();
    let mut body = new_deal(account.id, "Smart meters, phase 2");
    body["stage"] = json!("planning");
    body["amount"] = json!(1_200_000.5);
    body["expected_close_on"] = json!(last_week);
    body["competitors"] =
        json!([{"name": "Acme", "strengths": "Local team", "price_position": "low"}]);
    body["key_person_ids"] = json!([key_person["id"]]);
    body["next_step"] = json!("Send the revised quote");
    body["notes"] = json!("The CFO wants a longer payment period.");
    let created = rep.post("/opportunities", &body).await?;
    created.assert_status(201);
    let view: OpportunityView = created.json()?;
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/opportunities/{}", view.id).as_str())
    );
    assert_eq!(created.body["amount"], json!(1_200_000.5));
    assert_eq!(created.body["currency"], json!("CNY"));
    assert_eq!(view.opportunity.owner_id.0, org.rep_a1.id);
    assert_eq!(view.effective_probability, 25, "planning's default");
    assert_eq!(created.body["weighted_amount"], json!(300_000.13));
    assert_eq!(view.days_to_close, Some(-7));
    assert!(view.overdue);
    assert_eq!(stages(&view), [OpportunityStage::Planning]);
    assert_eq!(view.opportunity.stage_history[0].by.0, org.rep_a1.id);

    let read = change(&rep, view.id, json!({"probability": 40})).await?;
    assert_eq!(read.effective_probability, 40);
    assert_eq!(read.weighted_amount.map(|m| m.minor()), Some(48_000_020));
    assert_eq!(
        stages(&read),
        [OpportunityStage::Planning],
        "no stage change, no entry"
    );

    let other = open(&rep, new_deal(account.id, "Maintenance contract")).await?;
    assert_eq!(other.opportunity.stage, OpportunityStage::Research);
    assert_eq!(other.days_to_close, None);
    let ids = |views: Vec<OpportunityView>| views.into_iter().map(|v| v.id).collect::<Vec<_>>();
    assert_eq!(ids(list(&rep, "?stage=planning").await?), [view.id]);
    assert_eq!(
        ids(list(&rep, &format!("?owner_id={}", org.rep_a1.id)).await?),
        [other.id, view.id]
    );
    let from = last_week - Duration::days(1);
    assert_eq!(
        ids(list(
            &rep,
            &format!("?expected_close_from={from}&expected_close_to={last_week}")
        )
        .await?),
        [view.id]
    );
    change(
        &rep,
        other.id,
        json!({"stage": "lost", "lost_reason": "No budget"}),
    )
    .await?;
    assert_eq!(ids(list(&rep, "?open_only=true").await?), [view.id]);
    Ok(())
}

#[tokio::test]
async fn bad_opportunities_are_refused_with_their_fields_named() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let elsewhere = rep.create_account(new_account("Ningbo Port")).await?;
    let stranger: Value = rep
        .post(
            "/contacts",
            &json!({"account_id": elsewhere.id, "name": "Qian"}),
        )
        .await?
        .ensure_status(201)?
        .json()?;
    for (field, value, code) in [
        ("amount", json!(12.345), "invalid_value"),
        ("amount", json!(-5), "out_of_range"),
        ("probability", json!(101), "out_of_range"),
        ("currency", json!("usd"), "invalid_value"),
        ("name", json!(" "), "required"),
    ] {
        let mut body = new_deal(account.id, "Meters");
        body[field] = value;
        rep.post("/opportunities", &body)
            .await?
            .assert_violation(field, code);
    }
    let mut lost = new_deal(account.id, "Meters");
    lost["stage"] = json!("lost");
    rep.post("/opportunities", &lost)
        .await?
        .assert_violation("lost_reason", "required");
    let mut won = new_deal(account.id, "Meters");
    won["stage"] = json!("won");
    rep.post("/opportunities", &won)
        .await?
        .assert_problem(422, "invalid_stage_move");
    let mut forged = new_deal(account.id, "Meters");
    forged["won_on"] = json!("2026-01-01");
    rep.post("/opportunities", &forged)
        .await?
        .assert_violation("won_on", "read_only_field");
    let mut foreign = new_deal(account.id, "Meters");
    foreign["key_person_ids"] = json!([stranger["id"]]);
    rep.post("/opportunities", &foreign)
        .await?
        .assert_violation("key_person_ids", "other_account");
    rep.post("/opportunities", &new_deal(Uuid::now_v7(), "Nobody's"))
        .await?
        .assert_violation("account_id", "unknown_account");
    rep.get("/reports/pipeline?currency=yuan")
        .await?
        .assert_problem(400, "invalid_query");
    assert!(list(&rep, "").await?.is_empty(), "nothing was stored");

    let deal = open(&rep, new_deal(account.id, "Meters")).await?;
    let path = format!("/opportunities/{}", deal.id);
    rep.patch(&path, &json!({"account_id": elsewhere.id}))
        .await?
        .assert_violation("account_id", "immutable_field");
    rep.patch(&path, &json!({"stage_history": []}))
        .await?
        .assert_violation("stage_history", "read_only_field");
    Ok(())
}

#[tokio::test]
async fn opportunities_are_seen_by_whoever_sees_their_account_and_changed_by_writers()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let deal = open(&rep, new_deal(account.id, "Cranes")).await?;
    let path = format!("/opportunities/{}", deal.id);

    let other_rep = app.login_as(&org.rep_b1).await?;
    other_rep.get(&path).await?.assert_problem(404, "not_found");
    other_rep
        .patch(&path, &json!({"probability": 90}))
        .await?
        .assert_problem(404, "not_found");
    assert!(list(&other_rep, "").await?.is_empty());
    other_rep
        .post("/opportunities", &new_deal(account.id, "Sneaky"))
        .await?
        .assert_violation("account_id", "unknown_account");
    assert_eq!(pipeline(&other_rep, "").await?.stages[0].count, 0);

    for user in [&org.manager, &org.director, &org.admin, &org.service] {
        let session = app.login_as(user).await?;
        session.get(&path).await?.assert_status(200);
        assert_eq!(pipeline(&session, "").await?.stages[0].count, 1);
    }
    let service = app.login_as(&org.service).await?;
    service
        .patch(&path, &json!({"probability": 90}))
        .await?
        .assert_problem(403, "read_only_role");
    rep.patch(&path, &json!({"owner_id": org.rep_a2.id}))
        .await?
        .assert_problem(403, "owner_change_forbidden");
    let manager = app.login_as(&org.manager).await?;
    manager
        .patch(&path, &json!({"owner_id": org.rep_a2.id}))
        .await?
        .assert_violation("owner_id", "owner_cannot_see_account");
    let mut assigned = new_deal(account.id, "Spare parts");
    assigned["owner_id"] = json!(org.rep_a1.id);
    let made = open(&manager, assigned).await?;
    assert_eq!(made.opportunity.owner_id.0, org.rep_a1.id);
    assert_eq!(made.stamp.created_by.map(|u| u.0), Some(org.manager.id));

    rep.delete(&path).await?.assert_status(204);
    let deleted: OpportunityView = rep.get(&path).await?.ensure_status(200)?.json()?;
    assert!(deleted.opportunity.deleted);
    assert_eq!(list(&rep, "").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn stages_advance_one_step_at_a_time_and_only_a_manager_moves_a_deal_back()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let manager = app.login_as(&org.manager).await?;
    let account = rep.create_account(new_account("Suzhou Metro")).await?;
    let deal = open(&rep, new_deal(account.id, "Ticket gates")).await?;
    let path = format!("/opportunities/{}", deal.id);
    let refused = rep.patch(&path, &json!({"stage": "negotiation"})).await?;
    refused.assert_problem(422, "invalid_stage_move");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("research → negotiation")),
        "{}",
        refused.body
    );
    for stage in ["planning", "negotiation", "contract"] {
        change(&rep, deal.id, json!({"stage": stage})).await?;
    }
    let won = change(&rep, deal.id, json!({"stage": "won"})).await?;
    let today = Utc::now().date_naive();
    assert_eq!(won.opportunity.won_on, Some(today));
    assert_eq!(won.effective_probability, 100);
    use OpportunityStage::{Contract, Negotiation, Planning, Research, Won};
    assert_eq!(
        stages(&won),
        [Research, Planning, Negotiation, Contract, Won]
    );
    rep.patch(&path, &json!({"stage": "lost", "lost_reason": "x"}))
        .await?
        .assert_problem(422, "invalid_stage_move");
    rep.patch(&path, &json!({"stage": "contract"}))
        .await?
        .assert_problem(403, "stage_reopen_forbidden");
    let reopened = change(&manager, deal.id, json!({"stage": "contract"})).await?;
    assert_eq!(reopened.opportunity.won_on, None);
    assert_eq!(reopened.opportunity.stage_history[5].by.0, org.manager.id);

    rep.patch(&path, &json!({"stage": "lost"}))
        .await?
        .assert_violation("lost_reason", "required");
    let lost = change(
        &rep,
        deal.id,
        json!({"stage": "lost", "lost_reason": "Price"}),
    )
    .await?;
    assert_eq!(lost.opportunity.lost_on, Some(today));
    assert_eq!(lost.weighted_amount, None);
    rep.patch(&path, &json!({"stage": "planning"}))
        .await?
        .assert_problem(403, "stage_reopen_forbidden");
    rep.patch(&path, &json!({"stage": "contract"}))
        .await?
        .assert_problem(422, "invalid_stage_move");
    let back = change(&manager, deal.id, json!({"stage": "planning"})).await?;
    assert_eq!(back.opportunity.lost_on, None);
    assert_eq!(stages(&back).len(), 8);
    Ok(())
}

#[tokio::test]
async fn sync_undoes_a_refused_stage_move_with_a_notice_and_keeps_an_allowed_one()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Wuxi Power")).await?;
    let deal = open(&rest, new_deal(account.id, "Substation")).await?;
    let id = deal.id.0;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;

    phone.edit::<Opportunity>(id, json!({"stage": "won", "next_step": "Celebrate"}))?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    assert_eq!(codes, [("invalid_stage_move", Some("stage"))]);
    assert_eq!(phone.json(id)["stage"], json!("research"));
    assert_eq!(phone.json(id)["next_step"], json!("Celebrate"));

    // Lost, with its reason, in one offline edit: the rule between the two
    // fields holds on the merged record.
    phone.edit::<Opportunity>(id, json!({"stage": "lost", "lost_reason": "Budget cut"}))?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    let today = Utc::now().date_naive();
    assert_eq!(phone.json(id)["lost_on"], json!(today));
    let server: OpportunityView = rest
        .get(&format!("/opportunities/{id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        stages(&server),
        [OpportunityStage::Research, OpportunityStage::Lost]
    );
    assert_eq!(serde_json::to_value(&server.opportunity)?, phone.json(id));

    phone.edit::<Opportunity>(id, json!({"stage": "research", "lost_on": null}))?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["stage_reopen_forbidden", "read_only_field"]);
    assert_eq!(phone.json(id)["stage"], json!("lost"));
    assert_eq!(phone.json(id)["lost_on"], json!(today));
    Ok(())
}

#[tokio::test]
async fn an_opportunity_made_offline_under_an_account_made_offline_syncs_in_one_push()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut tablet = Device::new(&app, &org.rep_a1, "tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;
    let account: Account = parse_record(
        json!({"name": "Suzhou Park", "segment": "government", "owner_id": org.rep_a1.id}),
    )?;
    let account_id = phone.create(&account)?;
    let person: Contact = parse_record(json!({"account_id": account_id, "name": "Gu (director)"}))?;
    let person_id = phone.create(&person)?;
    let deal: Opportunity = parse_record(json!({
        "account_id": account_id, "name": "Park lighting", "owner_id": org.rep_a1.id,
        "stage": "planning", "amount": 80_000, "key_person_ids": [person_id],
        "notes": "Tender in spring.",
    }))?;
    let deal_id = phone.create(&deal)?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    let history = &phone.json(deal_id)["stage_history"];
    assert_eq!(history[0]["stage"], json!("planning"), "{history}");
    assert_eq!(history[0]["by"], json!(org.rep_a1.id));

    tablet.sync().await?;
    tablet.edit::<Opportunity>(deal_id, json!({"stage": "negotiation"}))?;
    phone.edit::<Opportunity>(
        deal_id,
        json!({"notes": "Tender in spring. Budget approved."}),
    )?;
    tablet.sync().await?;
    phone.sync().await?;
    tablet.sync().await?;
    assert_eq!(phone.json(deal_id), tablet.json(deal_id));
    assert_eq!(
        phone.json(deal_id)["stage_history"][1]["stage"],
        json!("negotiation")
    );

    let rest = app.login_as(&org.rep_a1).await?;
    let server: OpportunityView = rest
        .get(&format!("/opportunities/{deal_id}"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        serde_json::to_value(&server.opportunity)?,
        phone.json(deal_id)
    );
    assert_eq!(server.effective_probability, 50);

    let mut outsider = Device::new(&app, &org.rep_b1, "phone").await?;
    outsider.sync().await?;
    assert_eq!(outsider.json(deal_id), Value::Null);
    Ok(())
}

#[tokio::test]
async fn the_pipeline_adds_up_real_opportunities_in_the_callers_scope() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let rep_b = app.login_as(&org.rep_b1).await?;
    let manager = app.login_as(&org.manager).await?;
    let director = app.login_as(&org.director).await?;
    let account = rep.create_account(new_account("Hangzhou Water")).await?;
    let account_b = rep_b.create_account(new_account("Ningbo Port")).await?;
    let deal = |stage: &str, amount: f64, probability: Option<i64>| {
        let mut body = new_deal(account.id, "Meters");
        body["stage"] = json!(stage);
        body["amount"] = json!(amount);
        body["expected_close_on"] = json!("2026-12-15");
        if let Some(p) = probability {
            body["probability"] = json!(p);
        }
        body
    };
    open(&rep, deal("research", 1_000.1, None)).await?;
    open(&rep, deal("research", 2_000.0, Some(30))).await?;
    let winning = open(&rep, deal("contract", 10_000.0, None)).await?;
    change(&rep, winning.id, json!({"stage": "won"})).await?;
    let losing = open(&rep, deal("negotiation", 5_000.0, None)).await?;
    change(
        &rep,
        losing.id,
        json!({"stage": "lost", "lost_reason": "Price"}),
    )
    .await?;
    let gone = open(&rep, deal("planning", 7_000.0, None)).await?;
    rep.delete(&format!("/opportunities/{}", gone.id))
        .await?
        .assert_status(204);
    let mut dollars = deal("planning", 3_000.0, None);
    dollars["currency"] = json!("USD");
    open(&rep, dollars).await?;
    open(&rep_b, {
        let mut body = new_deal(account_b.id, "Cranes");
        body["amount"] = json!(50_000);
        body
    })
    .await?;

    let mine = pipeline(&rep, "").await?;
    assert_eq!(mine.currency.as_str(), "CNY");
    let research = &mine.stages[0];
    assert_eq!(
        (research.stage, research.count),
        (OpportunityStage::Research, 2)
    );
    // 1,000.10 + 2,000.00; weighted 10% of the first (100.01) + 30% of the second (600).
    assert_eq!(research.total_amount.minor(), 300_010);
    assert_eq!(research.weighted_amount.minor(), 70_001);
    assert_eq!(mine.stages[1].count, 0, "the deleted deal is left out");
    assert_eq!((mine.won_count, mine.lost_count), (1, 1));
    assert_eq!(mine.stages[4].weighted_amount.minor(), 1_000_000);
    assert_eq!(mine.stages[5].weighted_amount.minor(), 0);
    assert_eq!(mine.open_amount.minor(), 300_010);
    assert_eq!(mine.conversion_rate, Some(0.5));
    let dollars = pipeline(&rep, "?currency=USD").await?;
    assert_eq!(dollars.stages[1].total_amount.minor(), 300_000);

    let team_a = pipeline(&director, &format!("?team_id={}", org.team_a)).await?;
    assert_eq!(team_a.stages[0].count, 2);
    let everyone = pipeline(&director, "").await?;
    assert_eq!(
        everyone.stages[0].count, 3,
        "rep_b1's deal is in the branch"
    );
    let led = pipeline(&manager, "").await?;
    assert_eq!(led.stages[0].count, 2, "team B is not the manager's");
    let by_owner = pipeline(&director, &format!("?owner_id={}", org.rep_b1.id)).await?;
    assert_eq!(by_owner.stages[0].total_amount.minor(), 5_000_000);
    let today = Utc::now().date_naive();
    let closed_today = pipeline(
        &rep,
        &format!("?expected_close_from={today}&expected_close_to={today}"),
    )
    .await?;
    assert_eq!(
        (
            closed_today.stages[0].count,
            closed_today.won_count,
            closed_today.lost_count
        ),
        (0, 1, 1),
        "closed deals count on the day they closed"
    );
    Ok(())
}

#[tokio::test]
async fn a_won_opportunity_makes_its_contract_once() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Ningbo Port")).await?;
    let mut body = new_deal(account.id, "Cranes, phase 1");
    body["stage"] = json!("contract");
    body["amount"] = json!(880_000.5);
    let deal = open(&rep, body).await?;
    let path = format!("/opportunities/{}/contract", deal.id);
    let terms = json!({"number": "NB-2026-001", "signed_on": "2026-11-20", "status": "active"});
    rep.post(&path, &terms)
        .await?
        .assert_problem(409, "opportunity_not_won");

    change(&rep, deal.id, json!({"stage": "won"})).await?;
    let made = rep.post(&path, &terms).await?;
    made.assert_status(201);
    assert_eq!(made.body["opportunity_id"], json!(deal.id));
    assert_eq!(made.body["account_id"], json!(account.id));
    assert_eq!(made.body["amount"], json!(880_000.5));
    assert_eq!(made.body["status"], json!("active"));
    let listed = rep
        .get(&format!("/contracts?opportunity_id={}", deal.id))
        .await?
        .ensure_status(200)?;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1));
    rep.post(&path, &json!({"number": "NB-2026-002"}))
        .await?
        .assert_problem(409, "contract_exists");

    let outsider = app.login_as(&org.rep_b1).await?;
    outsider
        .post(&path, &json!({"number": "X-1"}))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn a_deal_made_offline_for_someone_else_is_corrected_to_its_maker_not_refused_whole()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rest = app.login_as(&org.rep_a1).await?;
    let account = rest.create_account(new_account("Jiaxing Chem")).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    phone.sync().await?;
    let deal: Opportunity = parse_record(json!({
        "account_id": account.id, "name": "Solvents", "owner_id": org.rep_b1.id,
    }))?;
    let id = phone.create(&deal)?;
    let outcome = phone.sync().await?;
    let fields: Vec<_> = outcome
        .notices
        .iter()
        .map(|n| (n.code.as_str(), n.field.as_deref()))
        .collect();
    assert_eq!(fields.len(), 1, "{:?}", outcome.notices);
    assert_eq!(fields[0].1, Some("owner_id"));
    assert_eq!(phone.json(id)["owner_id"], json!(org.rep_a1.id));
    let server: OpportunityView = rest.read(&format!("/opportunities/{id}")).await?;
    assert_eq!(stages(&server), [OpportunityStage::Research]);
    Ok(())
}
