//! A small, realistic demo org for a newcomer: a branch with two teams, a
//! director, a manager, three reps, a service user, a dozen key accounts
//! around the Yangtze delta, visits in every state, the key persons of
//! every account, a product catalogue, opportunities at every stage (with
//! the products they sell) and the contracts of the won ones, account plans, tickets and callbacks, and this year's revenue
//! targets decomposed to teams and reps; among them, an account showing
//! each warning insight raises.

use crate::auth::{AuthUser, Role};
use crate::entities::{branch, callback, ticket};
use crate::insight::refresh;
use crate::org::{self, NewUser};
use crate::records::account_plans::AccountPlans;
use crate::records::accounts::AccountView;
use crate::records::callbacks::Callbacks;
use crate::records::contacts::Contacts;
use crate::records::opportunities::{self, Opportunities};
use crate::records::products::{self, ProductView};
use crate::records::tickets::Tickets;
use crate::records::{accounts, child, contracts, targets, visits};
use crate::state::AppState;
use anyhow::Context;
use chrono::{Datelike, Duration, NaiveDate, Utc};
use kam_sync_core::account::Tier;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "kam-demo-2026";

const BRANCH: &str = "East China Branch (华东分公司)";

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

async fn user(
    state: &AppState,
    logins: &mut Vec<(String, String)>,
    username: &str,
    name: &str,
    role: Role,
    team: Option<Uuid>,
    branch: Option<Uuid>,
) -> anyhow::Result<AuthUser> {
    let model = org::create_user(
        &state.db,
        NewUser {
            username: username.into(),
            display_name: name.into(),
            password: DEMO_PASSWORD.into(),
            role,
            team_id: team,
            branch_id: branch,
        },
    )
    .await
    .map_err(|err| anyhow::anyhow!("demo user {username}: {err}"))?;
    let mut acting = AuthUser::without_session(state.db.conn(), &model)
        .await
        .map_err(|err| anyhow::anyhow!("demo user {username}: {err}"))?;
    acting.device_id = "demo-seed".into();
    logins.push((username.to_owned(), role.as_str().to_owned()));
    Ok(acting)
}

/// Seeds the demo org unless it is there already; returns the logins made.
pub async fn seed(state: &AppState) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let exists = branch::Entity::find()
        .filter(branch::Column::Name.eq(BRANCH))
        .count(state.db.conn())
        .await?;
    if exists > 0 {
        return Ok(None);
    }
    let fail = |what: &str| {
        let what = what.to_owned();
        move |err: crate::error::ApiError| anyhow::anyhow!("demo {what}: {err}")
    };
    let mut logins = Vec::new();
    let branch = org::create_branch(&state.db, BRANCH)
        .await
        .map_err(fail("branch"))?;
    let director = user(
        state,
        &mut logins,
        "liu.yang",
        "Liu Yang 刘洋",
        Role::Director,
        None,
        Some(branch.id),
    )
    .await?;
    let manager = user(
        state,
        &mut logins,
        "zhang.min",
        "Zhang Min 张敏",
        Role::Manager,
        None,
        Some(branch.id),
    )
    .await?;
    let enterprise = org::create_team(
        &state.db,
        "Key Accounts 1 (重点客户一组)",
        branch.id,
        &[manager.id.0],
    )
    .await
    .map_err(fail("team"))?;
    let government = org::create_team(
        &state.db,
        "Government Accounts (政府客户组)",
        branch.id,
        &[manager.id.0],
    )
    .await
    .map_err(fail("team"))?;
    let manager = AuthUser {
        led_teams: vec![enterprise.id.into(), government.id.into()],
        ..manager
    };
    let li = user(
        state,
        &mut logins,
        "li.wei",
        "Li Wei 李伟",
        Role::Rep,
        Some(enterprise.id),
        None,
    )
    .await?;
    let wang = user(
        state,
        &mut logins,
        "wang.fang",
        "Wang Fang 王芳",
        Role::Rep,
        Some(enterprise.id),
        None,
    )
    .await?;
    let chen = user(
        state,
        &mut logins,
        "chen.jie",
        "Chen Jie 陈杰",
        Role::Rep,
        Some(government.id),
        None,
    )
    .await?;
    let service = user(
        state,
        &mut logins,
        "zhao.lei",
        "Zhao Lei 赵磊",
        Role::Service,
        None,
        Some(branch.id),
    )
    .await?;

    let accounts_data = [
        (
            &li,
            "SAIC Motor (上汽集团)",
            "enterprise",
            Some("strategic"),
            "maintaining",
            31.2397,
            121.4998,
            "Shanghai",
            "automotive",
            90,
        ),
        (
            &li,
            "Ningbo Port Group (宁波港集团)",
            "enterprise",
            Some("key"),
            "deepening",
            29.8683,
            121.5440,
            "Ningbo",
            "logistics",
            75,
        ),
        (
            &li,
            "BOE Hefei (合肥京东方)",
            "enterprise",
            Some("key"),
            "engaging",
            31.8206,
            117.2272,
            "Hefei",
            "electronics",
            70,
        ),
        (
            &li,
            "Nanjing Iron & Steel (南京钢铁)",
            "enterprise",
            Some("standard"),
            "at_risk",
            32.0603,
            118.7969,
            "Nanjing",
            "steel",
            55,
        ),
        (
            &wang,
            "Bank of Jiangsu (江苏银行)",
            "financial",
            Some("key"),
            "maintaining",
            32.0415,
            118.7781,
            "Nanjing",
            "banking",
            80,
        ),
        (
            &wang,
            "CPIC (中国太保)",
            "financial",
            Some("strategic"),
            "deepening",
            31.2304,
            121.4737,
            "Shanghai",
            "insurance",
            85,
        ),
        (
            &wang,
            "Zhejiang University (浙江大学)",
            "education",
            Some("standard"),
            "identified",
            30.2638,
            120.1217,
            "Hangzhou",
            "higher education",
            50,
        ),
        (
            &wang,
            "Huashan Hospital (华山医院)",
            "healthcare",
            None,
            "engaging",
            31.2155,
            121.4406,
            "Shanghai",
            "hospital",
            60,
        ),
        (
            &chen,
            "Shanghai Metro Group (上海地铁集团)",
            "government",
            Some("strategic"),
            "maintaining",
            31.2286,
            121.4747,
            "Shanghai",
            "transport",
            95,
        ),
        (
            &chen,
            "Hangzhou Water Group (杭州水务集团)",
            "government",
            Some("key"),
            "deepening",
            30.2741,
            120.1551,
            "Hangzhou",
            "utilities",
            70,
        ),
        (
            &chen,
            "Suzhou Industrial Park Admin (苏州工业园区管委会)",
            "government",
            Some("key"),
            "engaging",
            31.3166,
            120.7190,
            "Suzhou",
            "public administration",
            65,
        ),
        (
            &chen,
            "Anhui Transport Department (安徽省交通厅)",
            "government",
            None,
            "lost",
            31.8612,
            117.2830,
            "Hefei",
            "transport",
            40,
        ),
    ];
    let mut created = Vec::new();
    for (owner, name, segment, tier, stage, lat, lon, city, industry, score) in accounts_data {
        let mut body = json!({
            "name": name,
            "segment": segment,
            "stage": stage,
            "owner_id": owner.id,
            "industry": industry,
            "address": {"city": city, "country": "China"},
            "location": {"lat": lat, "lon": lon},
            "scores": {"need": score, "purchasing_power": score, "loyalty": score - 10, "size": score, "strategic_value": score},
            "tags": [city.to_lowercase(), industry.to_owned()],
            "notes": format!("{name}: key contacts mapped in Q3. Next: executive sponsor meeting."),
        });
        // Churn stages carry their reasons, as a rep moving an account there must give.
        if stage == "at_risk" || stage == "lost" {
            body["risk_reasons"] = json!(["no_recent_visit", "ticket_past_sla"]);
        }
        if stage == "lost" {
            body["lost_reason"] = json!("Signed a three-year contract with a competitor");
        }
        if let Some(tier) = tier {
            body["tier"] = json!(tier);
        } else {
            body["proposed_tier"] = json!("key");
        }
        let view = accounts::create(state, &manager, object(body))
            .await
            .map_err(fail("account"))?;
        created.push((owner, view));
    }
    let now = Utc::now();
    for (i, (owner, account)) in created.iter().enumerate() {
        // The second account was last visited long ago (warning
        // `no_recent_visit`); the others within the last two weeks.
        let days = if i == 1 {
            -56
        } else {
            i64::try_from(i).unwrap_or(0)
        };
        let done = visits::create(
            state,
            owner,
            object(json!({
                "account_id": account.id,
                "planned_at": now - Duration::days(14 - days),
                "type": "onsite",
                "purpose": "Quarterly business review",
                "summary": "Reviewed service levels; customer asked for a renewal proposal.",
                "steps": {
                    "identify": {"done": true, "notes": "Met the purchasing director"},
                    "probe": {"done": true, "notes": "Budget confirmed for next year"},
                    "recommend": {"done": true, "notes": "Presented the upgrade package"},
                    "close": {"done": i % 2 == 0, "notes": if i % 2 == 0 { "" } else { "Decision after the board meets" }},
                    "follow_up": {"done": false, "notes": "Renewal proposal due next week"}
                },
                "outcome": if i % 3 == 0 { "positive" } else { "neutral" },
                "next_steps": [{"text": "Send renewal proposal", "owner_id": owner.id, "due_on": (now + Duration::days(7)).date_naive(), "done": false}],
                "next_visit_on": (now + Duration::days(30)).date_naive(),
            })),
        )
        .await
        .map_err(fail("visit"))?;
        let location = account
            .account
            .location
            .map(|l| json!({"lat": l.lat + 0.001, "lon": l.lon}))
            .unwrap_or(json!({"lat": 31.0, "lon": 121.0}));
        let arrived = now - Duration::days(14 - days);
        let check = |at| object(json!({"location": location, "at": at}));
        for (change, at) in [(true, arrived), (false, arrived + Duration::minutes(50))] {
            let request = serde_json::from_value(Value::Object(check(at)))?;
            let change = if change {
                visits::VisitChange::CheckIn(request)
            } else {
                visits::VisitChange::CheckOut(request)
            };
            visits::update(state, owner, done.id.0, change, None)
                .await
                .map_err(fail("check-in"))?;
        }
        visits::create(
            state,
            owner,
            object(json!({
                "account_id": account.id,
                // The third account's next visit is three days overdue.
                "planned_at": if i == 2 { now - Duration::days(3) } else { now + Duration::days(3 + days) },
                "type": if i % 4 == 0 { "phone" } else { "onsite" },
                "purpose": "Follow up on the renewal proposal",
            })),
        )
        .await
        .map_err(fail("visit"))?;
    }
    contacts(state, &created).await?;
    selling(state, &manager, &created).await?;
    after_sale(state, &service, &created).await?;
    targets(
        state,
        &director,
        &manager,
        branch.id,
        [enterprise.id, government.id],
        [&li, &wang, &chen],
    )
    .await?;
    Ok(Some(logins))
}

fn failed(what: &'static str) -> impl Fn(crate::error::ApiError) -> anyhow::Error {
    move |err| anyhow::anyhow!("demo {what}: {err}")
}

/// The products the demo's deals sell.
struct Catalogue {
    service: ProductView,
    gateway: ProductView,
    installation: ProductView,
}

/// The product catalogue: what the deals sell, and one product retired.
async fn catalogue(state: &AppState) -> anyhow::Result<Catalogue> {
    let mut made = Vec::new();
    for (code, name, unit, price, active) in [
        (
            "SVC-KAM",
            "Annual key-account service (年度大客户服务)",
            "set",
            50_000,
            true,
        ),
        (
            "GW-200",
            "Smart meter gateway (智能网关) GW-200",
            "unit",
            12_000,
            true,
        ),
        (
            "INS-DAY",
            "On-site installation (现场安装)",
            "day",
            10_000,
            true,
        ),
        (
            "GW-100",
            "Smart meter gateway GW-100 (retired)",
            "unit",
            9_000,
            false,
        ),
    ] {
        let new = serde_json::from_value(json!({
            "code": code, "name": name, "unit": unit, "list_price": price, "active": active,
        }))?;
        made.push(products::add(state, new).await.map_err(failed("product"))?);
    }
    let mut made = made.into_iter();
    let mut next = || made.next().context("the catalogue has its products");
    Ok(Catalogue {
        service: next()?,
        gateway: next()?,
        installation: next()?,
    })
}

/// An opportunity per account at every stage of the funnel, each with the
/// products it sells, the contracts of the won ones, and a plan for this
/// quarter at each strategic or key account.
async fn selling(
    state: &AppState,
    manager: &AuthUser,
    accounts: &[(&AuthUser, AccountView)],
) -> anyhow::Result<()> {
    let catalogue = catalogue(state).await?;
    const STAGES: [&str; 6] = [
        "research",
        "planning",
        "negotiation",
        "contract",
        "won",
        "lost",
    ];
    let today = Utc::now().date_naive();
    let quarter_start =
        NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1).unwrap_or(today);
    for (i, (owner, account)) in accounts.iter().enumerate() {
        let stage = STAGES[i % STAGES.len()];
        let opening = if matches!(stage, "won" | "lost") {
            "contract"
        } else {
            stage
        };
        let amount = 200_000 + 150_000 * i64::try_from(i).unwrap_or(0);
        // What the deal sells, adding up to its amount: the service
        // contract alone, or gateways and their installation.
        let units = i64::try_from(i).unwrap_or(0);
        let line = |product: &ProductView, quantity: i64, price: i64| json!({"id": Uuid::now_v7(), "product_id": product.id, "quantity": quantity, "unit_price": price});
        let line_items = if i % 2 == 0 {
            json!([line(&catalogue.service, 4 + 3 * units, 50_000)])
        } else {
            json!([
                line(&catalogue.gateway, 10 + 10 * units, 12_000),
                line(&catalogue.installation, 8 + 3 * units, 10_000),
            ])
        };
        let deal = child::create::<Opportunities>(
            state,
            owner,
            object(json!({
                "account_id": account.id,
                "name": format!("{} — annual service contract", account.account.name),
                "stage": opening,
                "amount": amount,
                "line_items": line_items,
                "expected_close_on": today + Duration::days(30 + 10 * i64::try_from(i).unwrap_or(0)),
                "competitors": [{"name": "Huawei Cloud", "price_position": "low"}],
                "next_step": "Send the revised quote",
                "notes": "Budget approved by the CFO; procurement wants a longer payment period.",
            })),
        )
        .await
        .map_err(failed("opportunity"))?;
        match stage {
            "won" => {
                child::update::<Opportunities>(
                    state,
                    owner,
                    deal.id.0,
                    object(json!({"stage": "won"})),
                    None,
                )
                .await
                .map_err(failed("won opportunity"))?;
                // One contract runs out in 45 days with no renewal open
                // (warning `contract_ending`).
                let term_days = if i == 4 { 45 } else { 364 };
                let terms = serde_json::from_value(json!({
                    "number": format!("HD-{}-{:03}", today.year(), i + 1),
                    "signed_on": today - Duration::days(3),
                    "start_on": today,
                    "end_on": today + Duration::days(term_days),
                    "payment_terms": "30% on signing, 70% on acceptance; 60-day payment period",
                    "status": "active",
                }))?;
                opportunities::contract_from(state, owner, deal.id.0, terms)
                    .await
                    .map_err(failed("contract"))?;
                if i == 10 {
                    // Last year it signed three times as much (warning `revenue_falling`).
                    let last_year = serde_json::from_value(json!({
                        "number": format!("HD-{}-{:03}", today.year() - 1, i + 1),
                        "account_id": account.id,
                        "amount": amount * 3,
                        "signed_on": today - Duration::days(400),
                        "start_on": today - Duration::days(400),
                        "end_on": today - Duration::days(36),
                        "status": "active",
                    }))?;
                    contracts::create_one(state, owner, last_year)
                        .await
                        .map_err(failed("last year's contract"))?;
                }
            }
            "lost" => {
                child::update::<Opportunities>(
                    state,
                    owner,
                    deal.id.0,
                    object(
                        json!({"stage": "lost", "lost_reason": "A competitor offered 15% lower"}),
                    ),
                    None,
                )
                .await
                .map_err(failed("lost opportunity"))?;
            }
            _ => {}
        }
        if matches!(account.account.tier, Some(Tier::Strategic | Tier::Key)) {
            child::create::<AccountPlans>(
                state,
                manager,
                object(json!({
                    "account_id": account.id,
                    "period_kind": "quarter",
                    "period_start": quarter_start,
                    "title": "Deepen the relationship and renew",
                    "owner_id": owner.id,
                    "status": "active",
                    "goals": [{"text": "Renew the service contract", "achieved": false}],
                    "strategies": "Win the CIO with a pilot; bring our VP to meet the GM.",
                    "actions": [
                        {"text": "Run the pilot at one site", "owner_id": owner.id, "due_on": today + Duration::days(20), "status": "in_progress"},
                        {"text": "Executive dinner", "owner_id": manager.id, "due_on": today - Duration::days(2), "status": "todo"},
                    ],
                    "resources": [{"kind": "budget", "description": "Pilot hardware", "amount": 50_000, "status": "requested"}],
                })),
            )
            .await
            .map_err(failed("account plan"))?;
        }
    }
    Ok(())
}

/// Tickets in every state, worked by the service desk, with their callbacks.
async fn after_sale(
    state: &AppState,
    service: &AuthUser,
    accounts: &[(&AuthUser, AccountView)],
) -> anyhow::Result<()> {
    let today = Utc::now().date_naive();
    for (i, (owner, account)) in accounts.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        // The third account's complaint is still open (warning `open_complaint`).
        let kind = if i == 2 { 0 } else { i % 3 };
        let (ticket_type, severity, title) = match kind {
            0 => ("complaint", "high", "Invoices arrive late every month"),
            1 => (
                "service_request",
                "medium",
                "Add two sites to the maintenance plan",
            ),
            _ => ("question", "low", "How is the new SLA measured?"),
        };
        let ticket = child::create::<Tickets>(
            state,
            service,
            object(json!({
                "account_id": account.id,
                "type": ticket_type,
                "title": title,
                "severity": severity,
                "description": "Reported by phone to the service desk.",
            })),
        )
        .await
        .map_err(failed("ticket"))?;
        if i % 4 == 0 {
            for step in [
                json!({"status": "assigned", "assignee_id": service.id}),
                json!({"status": "in_progress"}),
                json!({"status": "resolved", "resolution": "Billing run moved to the 25th."}),
            ] {
                child::update::<Tickets>(state, service, ticket.id.0, object(step), None)
                    .await
                    .map_err(failed("ticket move"))?;
            }
            child::create::<Callbacks>(
                state,
                service,
                object(json!({
                    "account_id": account.id,
                    "kind": "after_ticket",
                    "ticket_id": ticket.id,
                    "owner_id": service.id,
                    "scheduled_on": today,
                    "status": "done",
                    // One customer was not happy with the fix (warning `low_satisfaction`).
                    "satisfaction": if i == 8 { 2 } else { 4 },
                    "comments": "Happy with the fix; asked for a monthly statement.",
                })),
            )
            .await
            .map_err(failed("callback"))?;
            child::update::<Tickets>(
                state,
                service,
                ticket.id.0,
                object(json!({"status": "closed"})),
                None,
            )
            .await
            .map_err(failed("ticket close"))?;
        }
        child::create::<Callbacks>(
            state,
            owner,
            object(json!({
                "account_id": account.id,
                "kind": "routine",
                "scheduled_on": today + Duration::days(7),
            })),
        )
        .await
        .map_err(failed("callback"))?;
    }
    if let Some((_, account)) = accounts.get(9) {
        // An outage reported six hours ago is still open past its SLA
        // (warning `ticket_past_sla`).
        let outage = child::create::<Tickets>(
            state,
            service,
            object(json!({
                "account_id": account.id,
                "type": "service_request",
                "title": "Remote meter readings stopped at two pumping stations",
                "severity": "critical",
                "description": "Reported by the duty engineer; no readings since 02:00.",
            })),
        )
        .await
        .map_err(failed("ticket"))?;
        backdate(
            state,
            account.id.0,
            Dated::Ticket(outage.id.0),
            Duration::hours(6),
        )
        .await?;
    }
    if let Some((owner, account)) = accounts.get(4) {
        // Last quarter's callback was rated 5, this quarter's 4 (warning
        // `satisfaction_falling`).
        let earlier = child::create::<Callbacks>(
            state,
            owner,
            object(json!({
                "account_id": account.id,
                "kind": "routine",
                "scheduled_on": today - Duration::days(120),
                "status": "done",
                "satisfaction": 5,
                "comments": "Very happy with the new account team.",
            })),
        )
        .await
        .map_err(failed("callback"))?;
        backdate(
            state,
            account.id.0,
            Dated::Callback(earlier.id.0),
            Duration::days(120),
        )
        .await?;
    }
    Ok(())
}

/// A record whose server times [`backdate`] moves.
enum Dated {
    /// When it opened, and so its SLA's end.
    Ticket(Uuid),
    /// When it was done.
    Callback(Uuid),
}

/// Moves a record's server times back by `ago`, then refreshes its
/// account's insight (as a write outside the unit of work does). The server
/// stamps when a ticket opens and a callback is done with its own clock, so
/// the demo's history is written now and dated then; later writes keep
/// these times, as they carry a row's times forward.
async fn backdate(
    state: &AppState,
    account: Uuid,
    record: Dated,
    ago: Duration,
) -> anyhow::Result<()> {
    let txn = state.db.begin_write().await?;
    match record {
        Dated::Ticket(id) => {
            let row = ticket::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo ticket {id} is not stored"))?;
            let (created_at, sla_due_at) = (row.created_at - ago, row.sla_due_at - ago);
            let mut row = row.into_active_model();
            row.created_at = Set(created_at);
            row.sla_due_at = Set(sla_due_at);
            row.update(&txn).await?;
        }
        Dated::Callback(id) => {
            let row = callback::Entity::find_by_id(id)
                .one(&txn)
                .await?
                .ok_or_else(|| anyhow::anyhow!("demo callback {id} is not stored"))?;
            let done_at = row.done_at.map(|at| at - ago);
            let mut row = row.into_active_model();
            row.done_at = Set(done_at);
            row.update(&txn).await?;
        }
    }
    refresh::after_write(&txn, account)
        .await
        .map_err(failed("insight refresh"))?;
    txn.commit().await?;
    Ok(())
}

/// This year's revenue target for the org's branch, decomposed to its teams
/// and reps, with room left to allocate.
async fn targets(
    state: &AppState,
    director: &AuthUser,
    manager: &AuthUser,
    branch: Uuid,
    teams: [Uuid; 2],
    reps: [&AuthUser; 3],
) -> anyhow::Result<()> {
    let year = NaiveDate::from_ymd_opt(Utc::now().year(), 1, 1).unwrap_or_default();
    let target = |level: &str, subject: Uuid, value: i64| {
        serde_json::from_value::<targets::NewTarget>(json!({
            "period": "year",
            "period_start": year,
            "level": level,
            "subject_id": subject,
            "metric": "revenue",
            "value": value,
        }))
    };
    targets::create(state, director, target("branch", branch, 30_000_000)?)
        .await
        .map_err(failed("branch target"))?;
    for (team, value) in teams.into_iter().zip([16_000_000, 12_000_000]) {
        targets::create(state, manager, target("team", team, value)?)
            .await
            .map_err(failed("team target"))?;
    }
    for (rep, value) in reps.into_iter().zip([8_000_000, 7_000_000, 12_000_000]) {
        targets::create(state, manager, target("rep", rep.id.0, value)?)
            .await
            .map_err(failed("rep target"))?;
    }
    Ok(())
}

/// Three or four key persons per account, reporting to its general
/// manager, with attitudes that leave some decision maps with gaps to work on.
async fn contacts(state: &AppState, accounts: &[(&AuthUser, AccountView)]) -> anyhow::Result<()> {
    const PEOPLE: [(&str, &str, &str, &str, i64, &str); 4] = [
        (
            "张伟 Zhang Wei",
            "General Manager",
            "decision_maker",
            "supporter",
            5,
            "tiger",
        ),
        (
            "李娜 Li Na",
            "Head of Procurement",
            "influencer",
            "neutral",
            4,
            "owl",
        ),
        (
            "王强 Wang Qiang",
            "IT Manager",
            "user",
            "champion",
            3,
            "peacock",
        ),
        (
            "刘敏 Liu Min",
            "Assistant to the GM",
            "gatekeeper",
            "supporter",
            2,
            "koala",
        ),
    ];
    for (i, (owner, account)) in accounts.iter().enumerate() {
        let mut manager_id = None;
        for (j, (name, title, role, attitude, influence, personality)) in PEOPLE.iter().enumerate()
        {
            // Every third account lacks a champion; every fourth has an opponent in procurement.
            let attitude = match (i % 3, i % 4, j) {
                (0, _, 2) => "neutral",
                (_, 0, 1) => "opponent",
                // The sixth account's general manager turned against us
                // (warning `decision_maker_opposed`).
                _ if i == 5 && j == 0 => "opponent",
                _ => attitude,
            };
            // Nobody at the eighth account is known to decide (warning `no_decision_maker`).
            let role = if i == 7 && j == 0 { "influencer" } else { role };
            let mut body = json!({
                "account_id": account.id,
                "name": name,
                "title": title,
                "buying_role": role,
                "attitude": attitude,
                "influence": influence,
                "relationship_strength": 5 - i64::try_from(j).unwrap_or(0),
                "personality": personality,
                "org_needs": ["quality", "service", "terms"],
                "personal_needs": ["esteem"],
                "phone": format!("+86 21 5555 {i:02}{j:02}"),
                "notes": "Prefers proposals on paper before a meeting.",
            });
            if let Some(manager) = manager_id {
                body["reports_to"] = json!(manager);
            }
            let view = child::create::<Contacts>(state, owner, object(body))
                .await
                .map_err(|err| anyhow::anyhow!("demo key person: {err}"))?;
            if j == 0 {
                manager_id = Some(view.id);
            }
        }
    }
    Ok(())
}
