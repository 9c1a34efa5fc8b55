//! A small, realistic demo org for a newcomer: a branch with two teams, a
//! director, a manager, three reps, a service user, a dozen key accounts
//! around the Yangtze delta, visits in every state and the key persons of
//! every account.

use crate::auth::{AuthUser, Role};
use crate::entities::branch;
use crate::org::{self, NewUser};
use crate::records::accounts::AccountView;
use crate::records::contacts::Contacts;
use crate::records::{accounts, child, visits};
use crate::startup::AppState;
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
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
    user(
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
    user(
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
            body["risk_reasons"] = json!(["No visit in 60 days", "Complaint open past its SLA"]);
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
        let days = i64::try_from(i).unwrap_or(0);
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
                    "close": {"done": i % 2 == 0, "notes": ""},
                    "follow_up": {"done": false, "notes": ""}
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
                "planned_at": now + Duration::days(3 + days),
                "type": if i % 4 == 0 { "phone" } else { "onsite" },
                "purpose": "Follow up on the renewal proposal",
            })),
        )
        .await
        .map_err(fail("visit"))?;
    }
    key_persons(state, &created).await?;
    Ok(Some(logins))
}

/// Three or four key persons per account, reporting to its general
/// manager, with attitudes that leave some decision maps with gaps to work on.
async fn key_persons(
    state: &AppState,
    accounts: &[(&AuthUser, AccountView)],
) -> anyhow::Result<()> {
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
                _ => attitude,
            };
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
