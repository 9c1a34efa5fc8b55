//! Sums never overflow: the reports that add amounts up (the pipeline, a
//! revenue target's progress) answer the exact total of 93,000 amounts at
//! the maximum, more than a 64-bit count of cents holds, on SQLite and on
//! PostgreSQL alike; and the parts of a target are weighed against it
//! however large their sum.
//!
//! The rows are written straight into the database from one row made
//! through the API (93,000 requests would take minutes): the reports read
//! the materialized rows, not the documents.

use kam_tests::{Method, Session, TestApp, new_account};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

/// How many rows each test adds up: 93,000 amounts of 999,999,999,999 are
/// 9.3 × 10^18 cents, past the 9.22 × 10^18 of a signed 64-bit integer.
const ROWS: u64 = 93_000;

/// Runs `sql` with the row `template` as its one parameter; `sql` names it
/// `$1` and may use `{series}`, a table `n(i)` of the numbers 1 to
/// `copies`, and `{new_id}`, a fresh UUID per row, in the engine's dialect.
async fn copy_rows(app: &TestApp, sql: &str, template: Uuid, copies: u64) -> anyhow::Result<()> {
    let backend = if app.is_postgres() {
        DbBackend::Postgres
    } else {
        DbBackend::Sqlite
    };
    let (series, new_id, param) = match backend {
        DbBackend::Postgres => (
            format!("generate_series(1, {copies}) AS n(i)"),
            "gen_random_uuid()",
            "$1",
        ),
        _ => (
            format!(
                "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {copies}) \
                 SELECT i FROM s) AS n"
            ),
            "randomblob(16)",
            "?",
        ),
    };
    let sql = sql
        .replace("{series}", &series)
        .replace("{new_id}", new_id)
        .replace("$1", param);
    app.db()
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [template.into()],
        ))
        .await?;
    Ok(())
}

/// `GET path`: the status and the body's text, as sent (a JSON parser
/// would read a large decimal as the nearest double).
async fn get_text(session: &Session, path: &str) -> anyhow::Result<(u16, String)> {
    let response = session.request(Method::GET, path).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.text().await?))
}

/// The id in a 201's body.
fn created_id(reply: &kam_tests::Reply) -> anyhow::Result<Uuid> {
    reply
        .body
        .get("id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| anyhow::anyhow!("no id in {}", reply.body))
}

#[tokio::test]
async fn the_pipeline_adds_up_93000_opportunities_at_the_maximum_exactly() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let account = rep.create_account(new_account("Qingdao Shipyard")).await?;
    let deal =
        |amount: Value| json!({ "account_id": account.id, "name": "Hulls", "amount": amount });
    let made = rep
        .post("/opportunities", &deal(json!(999_999_999_999_u64)))
        .await?
        .ensure_status(201)?;
    let template = created_id(&made)?;
    copy_rows(
        &app,
        "INSERT INTO documents (id, kind, account_id, last_seq, heads, snapshot, snapshot_seq, \
         changes_since_snapshot, created_at, updated_at) \
         SELECT {new_id}, kind, account_id, last_seq, heads, snapshot, snapshot_seq, \
         changes_since_snapshot, created_at, updated_at FROM documents, {series} WHERE id = $1",
        template,
        ROWS - 1,
    )
    .await?;
    copy_rows(
        &app,
        "INSERT INTO opportunities (id, account_id, owner_id, name, stage, amount_minor, currency, \
         probability, weighted_minor, expected_close_on, closes_on, deleted, created_by, \
         created_at, updated_at, version, body) \
         SELECT d.id, o.account_id, o.owner_id, o.name, o.stage, o.amount_minor, o.currency, \
         o.probability, o.weighted_minor, o.expected_close_on, o.closes_on, o.deleted, \
         o.created_by, o.created_at, o.updated_at, o.version, o.body \
         FROM opportunities o, documents d \
         WHERE o.id = $1 AND d.kind = 'opportunity' \
         AND d.id NOT IN (SELECT id FROM opportunities)",
        template,
        0,
    )
    .await?;
    // Five cents more (weighted at 10%: half a cent, rounded up to one),
    // so the totals have cents where a double has none to spare.
    rep.post("/opportunities", &deal(json!(0.05)))
        .await?
        .ensure_status(201)?;

    let (status, body) = get_text(&rep, "/reports/pipeline").await?;
    assert_eq!(status, 200, "{body}");
    // 93,000 × 999,999,999,999 + 0.05, and 93,000 × 99,999,999,999.90 + 0.01.
    for exact in [
        r#""count":93001"#,
        r#""total_amount":92999999999907000.05"#,
        r#""weighted_amount":9299999999990700.01"#,
        r#""open_amount":92999999999907000.05"#,
        r#""open_weighted_amount":9299999999990700.01"#,
    ] {
        assert!(body.contains(exact), "{exact} is not in {body}");
    }
    Ok(())
}

#[tokio::test]
async fn a_revenue_target_adds_up_93000_contracts_at_the_maximum_exactly() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let admin = app.login_as(&org.admin).await?;
    let account = rep.create_account(new_account("Dalian Refinery")).await?;
    let contract = |number: &str, amount: Value| {
        json!({
            "account_id": account.id, "number": number, "amount": amount,
            "status": "active", "signed_on": "2026-03-02",
        })
    };
    let made = rep
        .post("/contracts", &contract("DL-1", json!(999_999_999_999_u64)))
        .await?
        .ensure_status(201)?;
    copy_rows(
        &app,
        "INSERT INTO contracts (id, number, account_id, opportunity_id, owner_id, amount_minor, \
         currency, signed_on, start_on, end_on, payment_terms, status, notes, created_by, \
         created_at, updated_at, version) \
         SELECT {new_id}, number || '-' || n.i, account_id, opportunity_id, owner_id, amount_minor, \
         currency, signed_on, start_on, end_on, payment_terms, status, notes, created_by, \
         created_at, updated_at, version FROM contracts, {series} WHERE id = $1",
        created_id(&made)?,
        ROWS - 1,
    )
    .await?;
    rep.post("/contracts", &contract("DL-2", json!(0.05)))
        .await?
        .ensure_status(201)?;
    let target = admin
        .post(
            "/targets",
            &json!({
                "period": "year", "period_start": "2026-01-01", "level": "org",
                "metric": "revenue", "value": 1_000_000,
            }),
        )
        .await?
        .ensure_status(201)?;

    let path = format!("/targets/{}/progress", created_id(&target)?);
    let (status, body) = get_text(&admin, &path).await?;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#""actual":92999999999907000.05"#),
        "93,000 × 999,999,999,999 + 0.05 in {body}"
    );
    let listed = admin
        .get("/targets?with_progress=true")
        .await?
        .ensure_status(200)?;
    assert_eq!(
        listed.body["items"][0]["progress"]["attainment"],
        json!(92_999_999_999.907)
    );
    Ok(())
}

#[tokio::test]
async fn parts_of_a_target_adding_up_past_64_bits_are_more_than_the_whole() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let manager = app.login_as(&org.manager).await?;
    let target = |level: &str, subject: Uuid, value: u64| {
        json!({
            "period": "quarter", "period_start": "2026-01-01", "level": level,
            "subject_id": subject, "metric": "visits", "value": value,
        })
    };
    for rep in [&org.rep_a1, &org.rep_a2] {
        manager
            .post(
                "/targets",
                &target("rep", rep.id, 5_000_000_000_000_000_000),
            )
            .await?
            .ensure_status(201)?;
    }

    // The parts add up to 10^19, past i64::MAX, the most the team's may be.
    let whole = target("team", org.team_a, i64::MAX.unsigned_abs());
    let refused = manager.post("/targets", &whole).await?;
    refused.assert_problem(422, "decomposition_exceeded");
    let detail = refused.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("10000000000000000000"), "{detail}");
    Ok(())
}
