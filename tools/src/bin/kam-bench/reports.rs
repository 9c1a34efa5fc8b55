//! `kam-bench --reports`: every report over a large store (issue 14,
//! section 3). A real `kam-server` on a fresh database; the org made over
//! its HTTP API (a branch, teams, reps, a manager, a director); the rows the
//! reports read seeded straight into its tables (`kam_tools::report_rows`:
//! a read benchmark, as syncing a million visits would take hours); then
//! each report requested over HTTP as a client does, once to warm up and
//! `--report-runs` times timed, against the target: 1 s on PostgreSQL, 2 s
//! on SQLite.

use super::{Cli, Server};
use anyhow::{Context, bail};
use futures_util::future::try_join_all;
use kam_tools::report_rows::{self, Owner, Scale};
use kam_tools::{ADMIN_PASSWORD, Client, password};
use rand::rngs::StdRng;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Teams in the benchmark's branch.
const TEAMS: usize = 5;
/// Reps, spread evenly over the teams.
const REPS: usize = 50;
/// Products in the catalogue the line items draw from.
const PRODUCTS: usize = 20;

/// The people the reports are requested as.
struct Org {
    owners: Vec<Owner>,
    director: String,
    manager: String,
    rep: String,
}

/// The id in a created record's answer.
fn id_of(value: &Value) -> anyhow::Result<Uuid> {
    value["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .context("the answer names no id")
}

/// Creates a user as the admin; their id.
async fn create_user(
    admin: &Client,
    username: &str,
    role: &str,
    place: Value,
) -> anyhow::Result<Uuid> {
    let mut body = json!({
        "username": username,
        "display_name": username,
        "password": password(username),
        "role": role,
    });
    if let (Some(body), Some(place)) = (body.as_object_mut(), place.as_object()) {
        body.extend(place.clone());
    }
    id_of(&admin.post("/users", &body).await?)
}

/// Makes the branch, its teams (the first led by the manager), the reps,
/// the manager and the director over the admin API.
async fn make_org(http: &reqwest::Client, base: &str) -> anyhow::Result<Org> {
    let admin = Client::login(http, base, "admin", ADMIN_PASSWORD, "bench").await?;
    let branch_id = id_of(&admin.post("/branches", &json!({"name": "Reports"})).await?)?;
    let manager = "manager".to_owned();
    let manager_id =
        create_user(&admin, &manager, "manager", json!({"branch_id": branch_id})).await?;
    let director = "director".to_owned();
    create_user(
        &admin,
        &director,
        "director",
        json!({"branch_id": branch_id}),
    )
    .await?;
    let mut teams = Vec::new();
    for t in 0..TEAMS {
        let managers: Vec<Uuid> = if t == 0 { vec![manager_id] } else { Vec::new() };
        let team = admin
            .post(
                "/teams",
                &json!({"name": format!("Team {t}"), "branch_id": branch_id, "manager_ids": managers}),
            )
            .await?;
        teams.push(id_of(&team)?);
    }
    let mut owners = Vec::new();
    for chunk in (0..REPS).collect::<Vec<_>>().chunks(8) {
        let made = try_join_all(chunk.iter().map(|r| {
            let admin = &admin;
            let team_id = teams[r % TEAMS];
            async move {
                let id = create_user(
                    admin,
                    &format!("rep{r:04}"),
                    "rep",
                    json!({"team_id": team_id}),
                )
                .await?;
                anyhow::Ok(Owner {
                    id,
                    team_id,
                    branch_id,
                })
            }
        }))
        .await?;
        owners.extend(made);
    }
    Ok(Org {
        owners,
        director,
        manager,
        rep: "rep0000".to_owned(),
    })
}

/// Logs in a user made by [`make_org`].
async fn login(http: &reqwest::Client, base: &str, username: &str) -> anyhow::Result<Client> {
    Client::login(http, base, username, &password(username), "bench-reports").await
}

/// One request's timings and what it answered.
struct Timed {
    rows: usize,
    median_ms: f64,
    max_ms: f64,
}

/// How many rows an answer holds: the lines of a CSV but its header, else
/// its `rows`, a pipeline's `stages` or a worklist's `items`.
fn rows_in(body: &[u8], csv: bool) -> usize {
    if csv {
        return String::from_utf8_lossy(body)
            .lines()
            .count()
            .saturating_sub(1);
    }
    let value: Value = serde_json::from_slice(body).unwrap_or_default();
    ["rows", "stages", "items"]
        .iter()
        .find_map(|key| value[*key].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// GETs `path` as `client` once to warm up, then `runs` times, each timed
/// until its whole body is read; fails on any answer but a 200.
async fn time_request(client: &Client, path: &str, runs: usize) -> anyhow::Result<Timed> {
    let mut times = Vec::new();
    let mut rows = 0;
    for run in 0..=runs {
        let started = Instant::now();
        let response = client
            .http
            .get(format!("{}/api/v1{path}", client.base))
            .bearer_auth(&client.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response.bytes().await?;
        let elapsed = started.elapsed();
        if status != reqwest::StatusCode::OK {
            bail!("GET {path}: {status}: {}", String::from_utf8_lossy(&body));
        }
        rows = rows_in(&body, path.contains("format=csv"));
        if run > 0 {
            times.push(elapsed);
        }
    }
    times.sort();
    let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    Ok(Timed {
        rows,
        median_ms: ms(times.get(times.len() / 2)),
        max_ms: ms(times.last()),
    })
}

/// Every report path timed, with `period=year&group_by=team`.
fn report_paths() -> Vec<String> {
    const GROUPED: &str = "period=year&group_by=team";
    let mut paths: Vec<String> = [
        "sales",
        "pipeline/by-group",
        "funnel",
        "service",
        "accounts",
        "coverage",
        "products",
    ]
    .iter()
    .map(|report| format!("/reports/{report}?{GROUPED}"))
    .collect();
    paths.push(format!("/reports/sales?{GROUPED}&format=csv"));
    paths.push("/reports/pipeline".to_owned());
    paths
}

/// Seeds the store, times every report, prints the table; fails when a
/// request does not answer 200 (a report over its target is a figure, not
/// a failure).
pub async fn run(cli: &Cli, http: &reqwest::Client, rng: &mut StdRng) -> anyhow::Result<()> {
    if cli.report_runs == 0 {
        bail!("--report-runs must be at least 1");
    }
    // No insight sweep: one over every account could start in the middle
    // of the measurements (the seeded rows carry their insight columns).
    let server = Server::start_with(
        cli,
        &[("KAM__INSIGHT__SWEEP_INTERVAL_SECS", "0".to_owned())],
    )?;
    let org = make_org(http, server.base()).await?;
    let conn = sea_orm::Database::connect(&server.database_url)
        .await
        .context("cannot open the server's database")?;
    let scale = Scale {
        accounts: cli.report_accounts,
        visits: cli.report_visits,
        opportunities: cli.report_opportunities,
        tickets: cli.report_tickets,
        callbacks: cli.report_callbacks,
        contracts: cli.report_contracts,
        products: PRODUCTS,
    };
    let started = Instant::now();
    let seeded = report_rows::seed(&conn, rng, &org.owners, scale).await?;
    let seeding = started.elapsed().as_secs_f64();
    // A bulk load leaves the planner without statistics, which a database
    // in use has (autovacuum, or SQLite's ANALYZE): gather them, as an
    // operator would after loading data.
    conn.execute_unprepared("ANALYZE").await?;
    conn.close().await?;
    let tables: Vec<String> = seeded
        .tables
        .iter()
        .map(|(table, rows)| format!("{table} {rows}"))
        .collect();
    println!(
        "Seeded {} rows straight into the tables in {seeding:.1} s ({:.0} rows/s): {}; database {:.1} MiB. {TEAMS} teams, {REPS} reps.\n",
        seeded.total(),
        seeded.total() as f64 / seeding,
        tables.join(", "),
        server.database_mib()
    );

    let (target_ms, engine) = if cli.database_url.is_some() {
        (1000.0, "PostgreSQL")
    } else {
        (2000.0, "SQLite")
    };
    let base = server.base();
    let callers = [
        (
            format!("director ({} accounts)", cli.report_accounts),
            login(http, base, &org.director).await?,
        ),
        (
            format!("rep ({} accounts)", cli.report_accounts / REPS),
            login(http, base, &org.rep).await?,
        ),
    ];
    let manager = login(http, base, &org.manager).await?;
    let mut requests: Vec<(String, &str, &Client)> = Vec::new();
    for (caller, client) in &callers {
        for path in report_paths() {
            requests.push((path, caller.as_str(), client));
        }
    }
    requests.push(("/worklist".to_owned(), "manager (team 0)", &manager));

    println!("| request | caller | rows | median ms | max ms | target ({engine}) | met |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let mut missed = 0;
    for (path, caller, client) in requests {
        let timed = time_request(client, &path, cli.report_runs).await?;
        let met = timed.max_ms <= target_ms;
        if !met {
            missed += 1;
        }
        println!(
            "| `{path}` | {caller} | {} | {:.0} | {:.0} | {target_ms:.0} ms | {} |",
            timed.rows,
            timed.median_ms,
            timed.max_ms,
            if met { "yes" } else { "**no**" }
        );
    }
    println!(
        "\n{} of the requests over their target in their slowest of {} runs (after one warm-up).",
        missed, cli.report_runs
    );
    Ok(())
}
