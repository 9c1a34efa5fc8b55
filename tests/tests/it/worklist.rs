//! The worklist (`/worklist`): every kind of item made through the API,
//! the order (overdue first, the latest first, then by due time), the
//! reasons, whose items each role sees (a rep his, a manager her teams'
//! grouped by rep, another team's manager none, the service desk its
//! queue), items leaving once their record changes, warnings new until
//! the caller has looked (`/worklist/seen`), and bad parameters.

use chrono::{Duration, NaiveDate, Utc};
use kam_server::worklist::{ItemKind, Look, RecordType, WorkItem, Worklist};
use kam_tests::{Method, Org, Session, TestApp, new_account};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A server whose critical tickets are past their SLA at once and whose
/// high ones are near it (2 hours, inside the 8-hour window).
async fn spawn() -> TestApp {
    TestApp::spawn_with(|settings| {
        settings.service.sla_hours.critical = 0;
        settings.service.sla_hours.high = 2;
    })
    .await
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn day(offset: i64) -> String {
    (today() + Duration::days(offset)).to_string()
}

async fn worklist(session: &Session, query: &str) -> anyhow::Result<Worklist> {
    session.read(&format!("/worklist{query}")).await
}

/// What `rep` made at one account of his: one item of each kind he
/// works, and records the worklist must leave out.
struct Made {
    account: Uuid,
    overdue_visit: Uuid,
    due_visit: Uuid,
    plan: Uuid,
    overdue_action: Uuid,
    request: Uuid,
    callback: Uuid,
    past_sla: Uuid,
    near_sla: Uuid,
    ending: Uuid,
    ended: Uuid,
}

async fn make(session: &Session, owner: Uuid, name: &str) -> anyhow::Result<Made> {
    let account = session.create_account(new_account(name)).await?.id.0;
    let visit = |offset: Duration| {
        json!({
            "account_id": account,
            "planned_at": Utc::now() + offset,
            "type": "onsite",
            "purpose": "Present the renewal proposal",
        })
    };
    let id = |value: Value| -> anyhow::Result<Uuid> {
        serde_json::from_value(value["id"].clone()).map_err(Into::into)
    };
    let overdue_visit = id(session
        .created::<Value>("/visits", &visit(Duration::days(-2)))
        .await?)?;
    let due_visit = id(session
        .created::<Value>("/visits", &visit(Duration::hours(20)))
        .await?)?;
    session
        .created::<Value>("/visits", &visit(Duration::days(10)))
        .await?;
    let (overdue_action, request) = (Uuid::now_v7(), Uuid::now_v7());
    let quarter_start = {
        use chrono::Datelike;
        let t = today();
        NaiveDate::from_ymd_opt(t.year(), (t.month() - 1) / 3 * 3 + 1, 1)
            .ok_or_else(|| anyhow::anyhow!("no quarter start"))?
    };
    let plan = id(session
        .created::<Value>(
            "/account-plans",
            &json!({
                "account_id": account,
                "period_kind": "quarter",
                "period_start": quarter_start,
                "title": "Win the metro tender",
                "actions": [
                    {"id": overdue_action, "text": "Map the tender committee", "due_on": day(-1)},
                    {"id": Uuid::now_v7(), "text": "Done already", "due_on": day(-3), "status": "done"},
                    {"id": Uuid::now_v7(), "text": "Later", "due_on": day(20)},
                ],
                "resources": [
                    {"id": request, "kind": "budget", "description": "Dinner with the CIO", "amount": 5000.5},
                ],
            }),
        )
        .await?)?;
    let callback = id(session
        .created::<Value>(
            "/callbacks",
            &json!({"account_id": account, "kind": "routine", "scheduled_on": day(0)}),
        )
        .await?)?;
    session
        .created::<Value>(
            "/callbacks",
            &json!({"account_id": account, "kind": "routine", "scheduled_on": day(10)}),
        )
        .await?;
    let ticket = |severity: &str| {
        json!({
            "account_id": account,
            "type": "complaint",
            "title": "Meter readings doubled",
            "severity": severity,
        })
    };
    let past_sla = id(session
        .created::<Value>("/tickets", &ticket("critical"))
        .await?)?;
    let near_sla = id(session
        .created::<Value>("/tickets", &ticket("high"))
        .await?)?;
    session
        .created::<Value>("/tickets", &ticket("medium"))
        .await?;
    let contract = |number: String, end_on: String| {
        json!({
            "account_id": account,
            "number": number,
            "amount": 1000,
            "status": "active",
            "signed_on": day(-400),
            "start_on": day(-380),
            "end_on": end_on,
            "owner_id": owner,
        })
    };
    let ending = id(session
        .created::<Value>("/contracts", &contract(format!("{name}-1"), day(30)))
        .await?)?;
    let ended = id(session
        .created::<Value>("/contracts", &contract(format!("{name}-2"), day(-5)))
        .await?)?;
    session
        .created::<Value>("/contracts", &contract(format!("{name}-3"), day(200)))
        .await?;
    Ok(Made {
        account,
        overdue_visit,
        due_visit,
        plan,
        overdue_action,
        request,
        callback,
        past_sla,
        near_sla,
        ending,
        ended,
    })
}

fn item(list: &Worklist, kind: ItemKind, id: Uuid) -> anyhow::Result<&WorkItem> {
    list.items
        .iter()
        .find(|i| i.kind == kind && (i.record.id == id || i.record.item_id == Some(id)))
        .ok_or_else(|| anyhow::anyhow!("no {kind:?} item for {id} in {:#?}", list.items))
}

fn kinds_of(list: &Worklist, account: Uuid) -> BTreeMap<ItemKind, usize> {
    let mut kinds = BTreeMap::new();
    for item in list.items.iter().filter(|i| i.account_id == account) {
        *kinds.entry(item.kind).or_default() += 1;
    }
    kinds
}

fn assert_most_urgent_first(list: &Worklist) {
    for pair in list.items.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            (a.overdue && !b.overdue) || (a.overdue == b.overdue && a.due_at <= b.due_at),
            "{a:#?} is listed before {b:#?}"
        );
    }
}

/// Rep a1's items at his account, and one of rep a2's at hers.
async fn team_a(app: &TestApp, org: &Org) -> anyhow::Result<(Session, Made, Session, Made)> {
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let mine = make(&a1, org.rep_a1.id, "Hangzhou Water").await?;
    let hers = make(&a2, org.rep_a2.id, "Ningbo Port").await?;
    Ok((a1, mine, a2, hers))
}

#[tokio::test]
async fn a_rep_sees_his_own_items_most_urgent_first_with_their_reasons() -> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let (rep, mine, _, hers) = team_a(&app, &org).await?;

    let list = worklist(&rep, "").await?;
    assert_most_urgent_first(&list);
    assert!(list.items.iter().all(|i| i.account_id == mine.account));
    assert_eq!(kinds_of(&list, hers.account), BTreeMap::new());
    assert_eq!(
        kinds_of(&list, mine.account),
        BTreeMap::from([
            (ItemKind::VisitDue, 1),
            (ItemKind::VisitOverdue, 1),
            (ItemKind::PlanActionDue, 1),
            (ItemKind::CallbackDue, 1),
            (ItemKind::TicketNearSla, 1),
            (ItemKind::TicketPastSla, 1),
            (ItemKind::ContractEnding, 2),
        ]),
        "a rep decides no proposals or requests; done, later and far items stay out"
    );
    assert_eq!(list.total, 8);

    let overdue_visit = item(&list, ItemKind::VisitOverdue, mine.overdue_visit)?;
    assert!(overdue_visit.overdue);
    assert_eq!(overdue_visit.record.kind, RecordType::Visit);
    assert_eq!(overdue_visit.account_name, "Hangzhou Water");
    assert_eq!(overdue_visit.assignee_id, Some(org.rep_a1.id));
    assert!(overdue_visit.assignee_name.is_some());
    assert!(
        overdue_visit
            .reason
            .starts_with("onsite visit planned for ")
            && overdue_visit
                .reason
                .ends_with(", 2 days ago, still not done"),
        "{}",
        overdue_visit.reason
    );
    let due_visit = item(&list, ItemKind::VisitDue, mine.due_visit)?;
    assert!(!due_visit.overdue);
    assert!(due_visit.reason.contains("in 19 hours") || due_visit.reason.contains("in 20 hours"));
    let action = item(&list, ItemKind::PlanActionDue, mine.overdue_action)?;
    assert_eq!(action.record.kind, RecordType::AccountPlan);
    assert_eq!(action.record.id, mine.plan);
    assert!(action.overdue);
    assert_eq!(
        action.reason,
        format!(
            "plan action \"Map the tender committee\" (todo) due {}, yesterday",
            day(-1)
        )
    );
    let callback = item(&list, ItemKind::CallbackDue, mine.callback)?;
    assert!(!callback.overdue);
    assert_eq!(
        callback.reason,
        format!("routine callback scheduled for {}, today", day(0))
    );
    let past = item(&list, ItemKind::TicketPastSla, mine.past_sla)?;
    assert!(past.overdue);
    assert_eq!(
        past.assignee_id, None,
        "nobody is assigned: the account owner chases it"
    );
    assert!(
        past.reason
            .starts_with("critical complaint past its SLA of ")
            && past.reason.ends_with(", unassigned"),
        "{}",
        past.reason
    );
    let near = item(&list, ItemKind::TicketNearSla, mine.near_sla)?;
    assert!(!near.overdue);
    assert!(near.reason.contains("SLA ends"), "{}", near.reason);
    let ended = item(&list, ItemKind::ContractEnding, mine.ended)?;
    assert!(ended.overdue);
    assert!(
        ended.reason.starts_with(&format!(
            "contract Hangzhou Water-2 ended {}, 5 days ago",
            day(-5)
        )),
        "{}",
        ended.reason
    );
    let ending = item(&list, ItemKind::ContractEnding, mine.ending)?;
    assert_eq!(
        ending.reason,
        format!("contract Hangzhou Water-1 ends {}, in 30 days", day(30))
    );
    assert!(!ending.overdue);

    assert_eq!(
        list.by_assignee.len(),
        2,
        "his items and the unassigned tickets"
    );
    let his = list
        .by_assignee
        .iter()
        .find(|s| s.assignee_id == Some(org.rep_a1.id))
        .ok_or_else(|| anyhow::anyhow!("no summary for the rep"))?;
    assert_eq!(his.total, 6);
    assert_eq!(his.by_kind.get(&ItemKind::ContractEnding), Some(&2));
    Ok(())
}

#[tokio::test]
async fn a_manager_sees_her_teams_items_grouped_by_rep_with_the_decisions_waiting()
-> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let (rep, mine, _, hers) = team_a(&app, &org).await?;
    rep.patch(
        &format!("/accounts/{}", mine.account),
        &json!({ "proposed_tier": "key" }),
    )
    .await?
    .ensure_status(200)?;
    let other_team = app.login_as(&org.rep_b1).await?;
    let theirs = make(&other_team, org.rep_b1.id, "Wenzhou Gas").await?;
    let manager = app.login_as(&org.manager).await?;

    let list = worklist(&manager, "").await?;
    assert_most_urgent_first(&list);
    assert_eq!(
        kinds_of(&list, theirs.account),
        BTreeMap::new(),
        "team B is not hers"
    );
    let proposal = item(&list, ItemKind::TierProposal, mine.account)?;
    assert_eq!(proposal.record.kind, RecordType::Account);
    assert_eq!(proposal.assignee_id, Some(org.rep_a1.id));
    assert!(!proposal.overdue);
    assert!(
        proposal.reason.starts_with("tier key proposed (now "),
        "{}",
        proposal.reason
    );
    let request = item(&list, ItemKind::ResourceRequest, mine.request)?;
    assert_eq!(request.record.id, mine.plan);
    assert_eq!(
        request.reason,
        format!(
            "budget request \"Dinner with the CIO\" for 5000.50 CNY waiting for a decision since {} or before",
            today()
        )
    );
    item(&list, ItemKind::ResourceRequest, hers.request)?;

    let per_rep: BTreeMap<Option<Uuid>, u64> = list
        .by_assignee
        .iter()
        .map(|s| (s.assignee_id, s.total))
        .collect();
    assert_eq!(
        per_rep,
        BTreeMap::from([
            (Some(org.rep_a1.id), 8),
            (Some(org.rep_a2.id), 7),
            (None, 4),
        ]),
        "each rep: 6 of his own, a resource request (and a1 his proposal); the unassigned tickets"
    );
    assert_eq!(list.total, 19);
    let a1 = list
        .by_assignee
        .iter()
        .find(|s| s.assignee_id == Some(org.rep_a1.id))
        .ok_or_else(|| anyhow::anyhow!("no summary for rep a1"))?;
    assert_eq!(a1.by_kind.get(&ItemKind::TierProposal), Some(&1));
    assert_eq!(a1.assignee_name.as_deref(), Some("Test rep_a1"));

    let only_a2 = worklist(&manager, &format!("?user_id={}", org.rep_a2.id)).await?;
    assert!(
        only_a2.items.iter().all(|i| i.account_id == hers.account
            && (i.assignee_id == Some(org.rep_a2.id) || i.assignee_id.is_none())),
        "her items, and the unassigned tickets at her account, as she sees them"
    );
    assert_eq!(only_a2.total, 9);
    manager
        .get(&format!("/worklist?user_id={}", org.rep_b1.id))
        .await?
        .assert_problem(403, "role_forbidden");

    let decisions = worklist(&manager, "?kinds=tier_proposal,resource_request&limit=2").await?;
    assert_eq!(decisions.items.len(), 2);
    assert_eq!(
        decisions.total, 3,
        "the counts cover what the limit leaves out"
    );
    assert!(
        decisions
            .items
            .iter()
            .all(|i| matches!(i.kind, ItemKind::TierProposal | ItemKind::ResourceRequest))
    );

    let director = app.login_as(&org.director).await?;
    let all = worklist(&director, "?limit=500").await?;
    assert_eq!(
        kinds_of(&all, theirs.account).get(&ItemKind::ResourceRequest),
        Some(&1)
    );
    assert_eq!(
        all.total,
        list.total + 9,
        "team B's 8 items and its resource request"
    );
    Ok(())
}

#[tokio::test]
async fn another_teams_or_branchs_managers_see_none_of_them() -> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let west = app.seed_west().await?;
    team_a(&app, &org).await?;
    for user in [
        &west.manager,
        &west.director,
        &west.service,
        &west.rep,
        &org.rep_b1,
    ] {
        let session = app.login_as(user).await?;
        let list = worklist(&session, "").await?;
        assert_eq!((list.total, list.items.len()), (0, 0), "{}", user.username);
        assert!(list.by_assignee.is_empty());
    }
    Ok(())
}

#[tokio::test]
async fn the_service_desk_sees_the_ticket_and_callback_queue() -> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let (_, mine, _, hers) = team_a(&app, &org).await?;
    let service = app.login_as(&org.service).await?;
    service
        .patch(
            &format!("/tickets/{}", hers.past_sla),
            &json!({"status": "assigned", "assignee_id": org.service.id}),
        )
        .await?
        .ensure_status(200)?;

    let queue = worklist(&service, "").await?;
    assert_most_urgent_first(&queue);
    for made in [&mine, &hers] {
        assert_eq!(
            kinds_of(&queue, made.account),
            BTreeMap::from([
                (ItemKind::CallbackDue, 1),
                (ItemKind::TicketNearSla, 1),
                (ItemKind::TicketPastSla, 1),
            ])
        );
    }
    let taken = item(&queue, ItemKind::TicketPastSla, hers.past_sla)?;
    assert_eq!(taken.assignee_id, Some(org.service.id));
    assert!(!taken.reason.ends_with("unassigned"));
    let own = worklist(&service, &format!("?user_id={}", org.service.id)).await?;
    assert_eq!(own.items.len(), 1);
    assert_eq!(own.items[0].record.id, hers.past_sla);

    let rep = app.login_as(&org.rep_a2).await?;
    let hers_now = worklist(&rep, "?kinds=ticket_past_sla").await?;
    assert!(
        hers_now.items.is_empty(),
        "assigned to the service desk: no longer hers to chase"
    );
    Ok(())
}

#[tokio::test]
async fn items_leave_the_worklist_once_their_records_are_dealt_with() -> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let (rep, mine, _, _) = team_a(&app, &org).await?;
    rep.patch(
        &format!("/visits/{}", mine.overdue_visit),
        &json!({ "status": "cancelled" }),
    )
    .await?
    .ensure_status(200)?;
    let plan: Value = rep.read(&format!("/account-plans/{}", mine.plan)).await?;
    let mut actions = plan["actions"].clone();
    if let Some(actions) = actions.as_array_mut() {
        for action in actions {
            action["status"] = json!("done");
        }
    }
    rep.patch(
        &format!("/account-plans/{}", mine.plan),
        &json!({ "actions": actions }),
    )
    .await?
    .ensure_status(200)?;
    let manager = app.login_as(&org.manager).await?;
    let mut resources = plan["resources"].clone();
    resources[0]["status"] = json!("approved");
    manager
        .patch(
            &format!("/account-plans/{}", mine.plan),
            &json!({ "resources": resources }),
        )
        .await?
        .ensure_status(200)?;
    rep.patch(
        &format!("/contracts/{}", mine.ended),
        &json!({ "status": "completed" }),
    )
    .await?
    .ensure_status(200)?;

    let list = worklist(&rep, "").await?;
    assert_eq!(
        kinds_of(&list, mine.account),
        BTreeMap::from([
            (ItemKind::VisitDue, 1),
            (ItemKind::CallbackDue, 1),
            (ItemKind::TicketNearSla, 1),
            (ItemKind::TicketPastSla, 1),
            (ItemKind::ContractEnding, 1),
        ])
    );
    let decisions = worklist(&manager, "?kinds=resource_request").await?;
    assert!(
        decisions
            .items
            .iter()
            .all(|i| i.record.item_id != Some(mine.request))
    );

    rep.delete(&format!("/account-plans/{}", mine.plan))
        .await?
        .ensure_status(204)?;
    let after = worklist(
        &manager,
        &format!(
            "?kinds=plan_action_due,resource_request&user_id={}",
            org.rep_a1.id
        ),
    )
    .await?;
    assert_eq!(after.total, 0, "a deleted plan keeps no items");
    Ok(())
}

#[tokio::test]
async fn bad_parameters_are_refused() -> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    for query in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "kinds=visit_due,lunch",
        "user_id=nobody",
        "colour=red",
    ] {
        rep.get(&format!("/worklist?{query}"))
            .await?
            .assert_problem(400, "invalid_query");
    }
    rep.get(&format!("/worklist?user_id={}", org.rep_a2.id))
        .await?
        .assert_problem(403, "role_forbidden");
    worklist(&rep, &format!("?user_id={}", org.rep_a1.id)).await?;
    // An empty `kinds` is every kind, as the OpenAPI document allows it.
    assert_eq!(
        worklist(&rep, "?kinds=").await?.total,
        worklist(&rep, "").await?.total
    );
    app.api()
        .get("/worklist")
        .await?
        .assert_problem(401, "missing_token");
    Ok(())
}

#[tokio::test]
async fn a_slipping_account_waits_in_its_managers_worklist_until_she_decides() -> anyhow::Result<()>
{
    let app = spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let mut body = new_account("Wenzhou Gas");
    body["stage"] = json!("maintaining");
    body["owner_id"] = json!(org.rep_a1.id);
    let account = manager.create_account(body).await?.id.0;
    // A decision maker against us and a deal lost: health 40, at risk.
    rep.post(
        "/contacts",
        &json!({ "account_id": account, "name": "Director Wang", "buying_role": "decision_maker", "attitude": "opponent" }),
    )
    .await?
    .ensure_status(201)?;
    let deal: Value = rep
        .post(
            "/opportunities",
            &json!({ "account_id": account, "name": "Meter renewal" }),
        )
        .await?
        .ensure_status(201)?
        .json()?;
    rep.patch(
        &format!("/opportunities/{}", deal["id"].as_str().unwrap_or_default()),
        &json!({ "stage": "lost", "lost_reason": "Price" }),
    )
    .await?
    .ensure_status(200)?;

    let list = worklist(&manager, "").await?;
    let waiting = item(&list, ItemKind::AtRiskProposal, account)?;
    assert_eq!(waiting.record.kind, RecordType::Account);
    assert_eq!(waiting.assignee_id, Some(org.rep_a1.id));
    assert!(waiting.reason.contains("health 40"), "{}", waiting.reason);
    assert!(!waiting.overdue);
    let reps = worklist(&rep, "").await?;
    assert_eq!(
        kinds_of(&reps, account).get(&ItemKind::AtRiskProposal),
        None
    );

    manager
        .post(&format!("/accounts/{account}/at-risk/dismiss"), &json!({}))
        .await?
        .ensure_status(200)?;
    let list = worklist(&manager, "").await?;
    assert_eq!(
        kinds_of(&list, account).get(&ItemKind::AtRiskProposal),
        None
    );
    Ok(())
}

/// An account of `session`'s user that insight follows (`engaging`) and
/// whose map has nobody on it yet: warnings `no_decision_maker` and
/// `no_champion` from its creation.
async fn warned_account(session: &Session, name: &str) -> anyhow::Result<Uuid> {
    let mut body = new_account(name);
    body["stage"] = json!("engaging");
    Ok(session.create_account(body).await?.id.0)
}

fn new_warnings(list: &Worklist, account: Uuid) -> Vec<&WorkItem> {
    list.items
        .iter()
        .filter(|i| i.kind == ItemKind::NewWarning && i.account_id == account)
        .collect()
}

/// The warning codes of the `new_warning` items at `account`, as named in
/// their reasons (`<code> (<severity>) at <account>: ...`).
fn warning_codes(list: &Worklist, account: Uuid) -> Vec<String> {
    let mut codes: Vec<String> = new_warnings(list, account)
        .iter()
        .filter_map(|i| i.reason.split(' ').next().map(str::to_owned))
        .collect();
    codes.sort();
    codes
}

async fn seen(session: &Session, body: Option<Value>) -> anyhow::Result<Look> {
    let request = session.request(Method::POST, "/worklist/seen");
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    session.send(request).await?.ensure_status(200)?.json()
}

#[tokio::test]
async fn a_warning_is_new_until_the_rep_has_seen_it_and_a_later_one_is_new_again()
-> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = warned_account(&rep, "Hangzhou Water").await?;

    let list = worklist(&rep, "?kinds=new_warning").await?;
    assert_eq!(
        warning_codes(&list, account),
        ["no_champion", "no_decision_maker"],
        "never looked: every warning is new"
    );
    let first = new_warnings(&list, account)
        .into_iter()
        .find(|i| i.reason.contains("no_decision_maker"))
        .ok_or_else(|| anyhow::anyhow!("no no_decision_maker item in {:#?}", list.items))?;
    assert_eq!(first.record.kind, RecordType::Account);
    assert_eq!(first.record.id, account);
    assert_eq!(first.assignee_id, Some(org.rep_a1.id));
    assert!(!first.overdue, "a warning, not critical");
    assert!(
        first
            .reason
            .starts_with("no_decision_maker (warning) at Hangzhou Water: no key person"),
        "{}",
        first.reason
    );
    assert_eq!(list.total, 2);

    let before = Utc::now();
    let look = seen(&rep, None).await?;
    assert!(look.looked_at >= before - Duration::seconds(1) && look.looked_at <= Utc::now());
    let list = worklist(&rep, "?kinds=new_warning").await?;
    assert_eq!(list.total, 0, "seen: {:#?}", list.items);

    // A decision maker against us: `decision_maker_opposed`, critical, is
    // raised after the look (and `no_decision_maker` stops holding).
    rep.post(
        "/contacts",
        &json!({ "account_id": account, "name": "Director Wang", "buying_role": "decision_maker", "attitude": "opponent" }),
    )
    .await?
    .ensure_status(201)?;
    let list = worklist(&rep, "?kinds=new_warning").await?;
    assert_eq!(warning_codes(&list, account), ["decision_maker_opposed"]);
    let opposed = &list.items[0];
    assert!(opposed.overdue, "a critical warning needs action now");
    assert!(opposed.due_at > look.looked_at);

    // A look never moves back, and one in the future is now.
    let back = seen(
        &rep,
        Some(json!({ "through": look.looked_at - Duration::days(1) })),
    )
    .await?;
    assert_eq!(back.looked_at, look.looked_at);
    assert_eq!(worklist(&rep, "?kinds=new_warning").await?.total, 1);
    let future = seen(
        &rep,
        Some(json!({ "through": Utc::now() + Duration::days(30) })),
    )
    .await?;
    assert!(future.looked_at <= Utc::now() && future.looked_at > look.looked_at);
    assert_eq!(worklist(&rep, "?kinds=new_warning").await?.total, 0);

    for body in [
        json!({ "through": "yesterday" }),
        json!({ "colour": "red" }),
    ] {
        rep.post("/worklist/seen", &body)
            .await?
            .assert_problem(422, "invalid_body");
    }
    rep.send(
        rep.request(Method::POST, "/worklist/seen")
            .header("Content-Type", "text/plain")
            .body("now"),
    )
    .await?
    .assert_problem(415, "unsupported_media_type");
    app.api()
        .post("/worklist/seen", &json!({}))
        .await?
        .assert_problem(401, "missing_token");
    Ok(())
}

#[tokio::test]
async fn new_warnings_are_the_account_owners_and_follow_the_kinds_filter() -> anyhow::Result<()> {
    let app = spawn().await;
    let org = app.seed_org().await?;
    let a1 = app.login_as(&org.rep_a1).await?;
    let a2 = app.login_as(&org.rep_a2).await?;
    let b1 = app.login_as(&org.rep_b1).await?;
    let his = warned_account(&a1, "Hangzhou Water").await?;
    let hers = warned_account(&a2, "Ningbo Port").await?;
    let theirs = warned_account(&b1, "Wenzhou Gas").await?;

    let list = worklist(&a1, "").await?;
    assert_eq!(warning_codes(&list, his).len(), 2);
    assert!(
        list.items.iter().all(|i| i.account_id == his),
        "another rep's account's warnings are not his: {:#?}",
        list.items
    );

    let manager = app.login_as(&org.manager).await?;
    let list = worklist(&manager, "?kinds=new_warning").await?;
    assert!(list.items.iter().all(|i| i.kind == ItemKind::NewWarning));
    assert_eq!(warning_codes(&list, hers).len(), 2);
    assert!(new_warnings(&list, theirs).is_empty(), "team B is not hers");
    let per_rep: BTreeMap<Option<Uuid>, Option<u64>> = list
        .by_assignee
        .iter()
        .map(|s| (s.assignee_id, s.by_kind.get(&ItemKind::NewWarning).copied()))
        .collect();
    assert_eq!(
        per_rep,
        BTreeMap::from([
            (Some(org.rep_a1.id), Some(2)),
            (Some(org.rep_a2.id), Some(2))
        ])
    );
    let only_a2 = worklist(
        &manager,
        &format!("?kinds=new_warning&user_id={}", org.rep_a2.id),
    )
    .await?;
    assert_eq!(only_a2.total, 2);
    assert!(only_a2.items.iter().all(|i| i.account_id == hers));

    // Each caller's look is their own.
    seen(&manager, None).await?;
    assert_eq!(worklist(&manager, "?kinds=new_warning").await?.total, 0);
    assert_eq!(worklist(&a1, "?kinds=new_warning").await?.total, 2);

    let others = worklist(&a1, "?kinds=visit_due,contract_ending").await?;
    assert_eq!(others.total, 0, "{:#?}", others.items);
    let service = app.login_as(&org.service).await?;
    assert_eq!(
        worklist(&service, "?kinds=new_warning").await?.total,
        0,
        "the service desk works tickets and callbacks"
    );
    Ok(())
}
