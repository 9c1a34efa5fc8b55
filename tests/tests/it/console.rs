//! The web console in a real browser (headless Chromium through
//! chromedriver, `kam_tests::browser`), on the demo org: the figures of a
//! director's dashboard are the API's; a manager's reassignment on the page
//! makes the previous owner's next sync drop the account; the service desk
//! is shown the API's refusal to close a complaint before its callback,
//! records the callback and closes it; a rep is shown the API's 403 for the
//! admin pages and has no link to them; the language switch changes the
//! labels and every page module has every message in both languages; an
//! edit made on the page reaches a phone through sync; a session survives a
//! reload and ends with logging out. Every run also saves screenshots of
//! each page in both languages (`target/console-screenshots/`, or
//! `KAM_SCREENSHOT_DIR`), and holds every request the pages made on the way
//! to the OpenAPI document: the console uses the documented API only.
//!
//! Accessibility (issue 15): on the way the same runs hold each page, each
//! tab of a customer file, its edit form and two dialogs, at a laptop's and
//! a tablet's size, to axe-core's WCAG 2.1 A and AA rules
//! (`kam_tests::axe`), to using each id once and to fitting the window;
//! and a keyboard test Tabs through the header and two pages: every control
//! is reached in order, with a focus ring that shows.
//!
//! Each test has its own server and browser. Skipped, saying why, where
//! Chromium or chromedriver is not installed, unless
//! `KAM_BROWSER_TESTS=required` (as in CI); the axe-core check alone is
//! skipped, saying why, where Node.js is missing, unless
//! `KAM_REQUIRE_NODE=1` (as in CI).

use anyhow::{Context, bail, ensure};
use fantoccini::key::Key;
use kam_server::auth::Role;
use kam_server::demo::{self, DEMO_PASSWORD};
use kam_tests::axe::{self, Axe, Violation};
use kam_tests::browser::{self, Browser, TABLET, WAIT_LIMIT, WINDOW};
use kam_tests::{Device, OrgUser, Session, TestApp};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The demo org's administrator, made beside it (the demo has none).
const ADMIN: &str = "admin";

/// Where the API's own answers are polled after a page's write.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// A server with the demo org and an admin, and a browser on its console.
struct Console {
    app: TestApp,
    browser: Browser,
}

impl Console {
    /// Starts both, or answers `None` when the browser is missing and not
    /// required (see [`browser::tools`]).
    async fn start(language: &str) -> anyhow::Result<Option<Self>> {
        if browser::tools()?.is_none() {
            return Ok(None);
        }
        let app = TestApp::spawn().await;
        let seeded = async {
            demo::seed(app.state())
                .await?
                .context("a fresh server had a demo org already")?;
            app.create_user(ADMIN, Role::Admin, None, None).await?;
            anyhow::Ok(())
        };
        let (browser, ()) = tokio::try_join!(Browser::open(&app, language), seeded)?;
        let browser = browser.context("the browser went missing")?;
        Ok(Some(Self { app, browser }))
    }

    /// Logs `username` in on the page (a demo user, or the admin).
    async fn login(&self, username: &str) -> anyhow::Result<()> {
        self.browser.login(username, &password(username)).await
    }

    /// Logs `username` in over HTTP, as a laptop of theirs: the API the
    /// page is compared with.
    async fn api_as(&self, username: &str) -> anyhow::Result<Session> {
        self.app
            .login(
                username,
                &password(username),
                &format!("{username}-test-laptop"),
            )
            .await
    }

    /// A demo user as the harness knows users (for a [`Device`]).
    async fn user(&self, username: &str) -> anyhow::Result<OrgUser> {
        // A device of its own: a second login on a device ends the first.
        let session = self
            .app
            .login(
                username,
                &password(username),
                &format!("{username}-test-me"),
            )
            .await?;
        let me: Value = session.read("/auth/me").await?;
        Ok(OrgUser {
            id: me["id"]
                .as_str()
                .context("/auth/me has no id")?
                .parse()
                .context("/auth/me's id is not a UUID")?,
            username: username.to_owned(),
            password: password(username),
            role: serde_json::from_value(me["role"].clone()).context("/auth/me's role")?,
        })
    }
}

/// The password of a demo user or of the admin.
fn password(username: &str) -> String {
    if username == ADMIN {
        kam_tests::password_of(ADMIN)
    } else {
        DEMO_PASSWORD.to_owned()
    }
}

/// Polls `check` (an API read) until it answers `Some`, for a page's write
/// to land; fails after [`WAIT_LIMIT`] saying `what` was awaited.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(done) = check().await? {
            return Ok(done);
        }
        if Instant::now() >= deadline {
            bail!("waited {WAIT_LIMIT:?} for {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Whether a `data-*` attribute shows the API's `value` as the page writes
/// figures: `String(value)`, empty for null (numbers compared as numbers).
fn shows(attribute: &Value, value: &Value) -> bool {
    let shown = attribute.as_str();
    match value {
        Value::Null => shown.is_none_or(str::is_empty),
        Value::String(text) => shown == Some(text.as_str()),
        Value::Number(number) => {
            shown.and_then(|s| s.parse::<f64>().ok()) == number.as_f64()
                && number.as_f64().is_some()
        }
        Value::Bool(flag) => shown == Some(if *flag { "true" } else { "false" }),
        _ => false,
    }
}

/// Fails unless the attribute shows `value`.
fn ensure_shows(what: &str, attribute: &Value, value: &Value) -> anyhow::Result<()> {
    ensure!(
        shows(attribute, value),
        "{what}: the page shows {attribute}, the API answers {value}"
    );
    Ok(())
}

/// Every item of a cursor-paged list as JSON.
async fn all_items(session: &Session, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let separator = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{separator}limit=500");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={cursor}"));
        }
        let page: Value = session.read(&url).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(items),
        }
    }
    bail!("{path} did not end after 100 pages")
}

/// A string field of a JSON object.
fn text<'a>(value: &'a Value, field: &str) -> anyhow::Result<&'a str> {
    value[field]
        .as_str()
        .with_context(|| format!("no {field} in {value}"))
}

/// The id of a JSON record.
fn id_of(value: &Value) -> anyhow::Result<Uuid> {
    Ok(text(value, "id")?.parse()?)
}

/// Compares the dashboard on the page (period `period`) with the API's
/// reports for the same period, read over HTTP by `director`.
async fn compare_dashboard(
    browser: &Browser,
    director: &Session,
    period: &str,
) -> anyhow::Result<()> {
    let report = |path: &str| format!("/reports/{path}period={period}");
    let branch: Value = director.read(&report("sales?group_by=branch&")).await?;
    let teams: Value = director.read(&report("sales?group_by=team&")).await?;
    let reps: Value = director.read(&report("sales?group_by=rep&")).await?;
    let funnel: Value = director.read(&report("funnel?")).await?;
    let coverage: Value = director.read(&report("coverage?")).await?;
    let accounts: Value = director.read(&report("accounts?")).await?;
    let pipeline: Value = director.read("/reports/pipeline").await?;
    let warnings: Value = director.read("/worklist?kinds=new_warning&limit=8").await?;

    // The KPI tiles.
    let tile = |name: &str, attribute: &str| {
        let css = format!("[data-testid=kpi-{name}]");
        let attribute = attribute.to_owned();
        async move { browser.attr(&css, &attribute).await.map(|v| json!(v)) }
    };
    let total = &branch["total"];
    ensure_shows(
        "revenue",
        &tile("revenue", "data-value").await?,
        &total["revenue"],
    )?;
    ensure_shows(
        "revenue target",
        &tile("revenue", "data-target").await?,
        &total["revenue_target"]["target"],
    )?;
    if total["revenue_target"].is_object() {
        ensure_shows(
            "revenue attainment",
            &tile("revenue-attainment", "data-value").await?,
            &total["revenue_target"]["attainment"],
        )?;
    }
    ensure_shows(
        "open pipeline",
        &tile("open-pipeline", "data-value").await?,
        &pipeline["open_amount"],
    )?;
    ensure_shows(
        "weighted pipeline",
        &tile("weighted-pipeline", "data-value").await?,
        &pipeline["open_weighted_amount"],
    )?;
    ensure_shows(
        "win rate",
        &tile("win-rate", "data-value").await?,
        &funnel["total"]["win_rate"],
    )?;
    ensure_shows(
        "coverage",
        &tile("coverage", "data-value").await?,
        &coverage["total"]["within_cadence_share"],
    )?;
    let at_risk = accounts["total"]["by_stage"]
        .as_array()
        .and_then(|stages| stages.iter().find(|s| s["stage"] == "at_risk"))
        .map_or(json!(0), |s| s["count"].clone());
    ensure_shows(
        "accounts at risk",
        &tile("at-risk", "data-value").await?,
        &at_risk,
    )?;

    // Attainment by team and by rep: the bars and the table beside them.
    for (testid, sales) in [
        ("chart-attainment-team", &teams),
        ("chart-attainment-rep", &reps),
    ] {
        let rows = sales["rows"].as_array().cloned().unwrap_or_default();
        let bars = browser
            .all(
                &format!("[data-testid={testid}] g.bar-row"),
                &["data-value", "data-target"],
            )
            .await?;
        let table = browser
            .all(
                &format!("[data-testid={testid}] [data-testid=attainment-row]"),
                &["data-group-id"],
            )
            .await?;
        ensure!(
            bars.len() == rows.len() && table.len() == rows.len(),
            "{testid}: {} bars and {} table rows for the API's {} rows",
            bars.len(),
            table.len(),
            rows.len()
        );
        for ((row, bar), line) in rows.iter().zip(&bars).zip(&table) {
            let group = &row["group"]["name"];
            ensure_shows(
                &format!("{testid} {group} revenue"),
                &bar["data-value"],
                &row["revenue"],
            )?;
            ensure_shows(
                &format!("{testid} {group} target"),
                &bar["data-target"],
                &row["revenue_target"]["target"],
            )?;
            ensure_shows(
                &format!("{testid} {group} id"),
                &line["data-group-id"],
                &row["group"]["id"],
            )?;
        }
    }

    // The funnel: deals entering each stage, then won.
    let stages = funnel["total"]["stages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut entered: Vec<Value> = stages.iter().map(|s| s["entered"].clone()).collect();
    entered.push(funnel["total"]["won"].clone());
    let drawn = browser
        .all("[data-testid=chart-funnel] g.funnel-stage", &["data-count"])
        .await?;
    ensure!(
        drawn.len() == entered.len(),
        "the funnel draws {} stages, the API counts {}",
        drawn.len(),
        entered.len()
    );
    for (index, (shape, count)) in drawn.iter().zip(&entered).enumerate() {
        ensure_shows(
            &format!("funnel stage {index}"),
            &shape["data-count"],
            count,
        )?;
    }
    let listed = browser
        .all("[data-testid=funnel-row]", &["data-stage"])
        .await?;
    let listed: Vec<Value> = listed.iter().map(|r| r["data-stage"].clone()).collect();
    let expected: Vec<Value> = stages.iter().map(|s| s["stage"].clone()).collect();
    ensure!(
        listed == expected,
        "funnel rows {listed:?}, API stages {expected:?}"
    );

    // Coverage per tier against cadence.
    let tiers = coverage["total"]["tiers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let bars = browser
        .all(
            "[data-testid=chart-coverage] g.bar-row",
            &["data-value", "data-target"],
        )
        .await?;
    let rows = browser
        .all("[data-testid=coverage-row]", &["data-tier"])
        .await?;
    ensure!(
        bars.len() == tiers.len() && rows.len() == tiers.len(),
        "coverage: {} bars, {} rows, {} tiers",
        bars.len(),
        rows.len(),
        tiers.len()
    );
    for ((tier, bar), row) in tiers.iter().zip(&bars).zip(&rows) {
        let name = tier["tier"].as_str().unwrap_or("none");
        ensure_shows(
            &format!("coverage {name} within cadence"),
            &bar["data-value"],
            &tier["within_cadence"],
        )?;
        ensure_shows(
            &format!("coverage {name} accounts"),
            &bar["data-target"],
            &tier["accounts"],
        )?;
        ensure_shows(
            &format!("coverage {name} tier"),
            &row["data-tier"],
            &json!(name),
        )?;
    }

    // Accounts by health band, counted over the director's accounts.
    let mut bands: BTreeMap<String, u64> = ["healthy", "watch", "at_risk", "none"]
        .into_iter()
        .map(|band| (band.to_owned(), 0))
        .collect();
    for account in all_items(director, "/accounts").await? {
        let band = account["health_band"].as_str().unwrap_or("none").to_owned();
        *bands.entry(band).or_default() += 1;
    }
    for (band, count) in &bands {
        let shown = browser
            .attr(&format!("[data-testid=health-{band}]"), "data-value")
            .await?;
        ensure_shows(&format!("health {band}"), &json!(shown), &json!(count))?;
    }

    // The new warnings.
    let shown = browser
        .attr("[data-testid=new-warnings-total]", "data-value")
        .await?;
    ensure_shows("new warnings", &json!(shown), &warnings["total"])?;
    let items = browser.all("[data-testid=new-warning]", &[]).await?;
    ensure!(
        items.len() == warnings["items"].as_array().map_or(0, Vec::len),
        "the page lists {} new warnings, the API {}",
        items.len(),
        warnings["items"]
    );
    Ok(())
}

#[tokio::test]
async fn a_director_sees_the_apis_figures_on_the_dashboard() -> anyhow::Result<()> {
    let Some(console) = Console::start("zh-CN").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let director = console.api_as("liu.yang").await?;
    console.login("liu.yang").await?;
    browser.goto("#/?period=year").await?;
    browser.wait_for("[data-testid=kpi-revenue]").await?;
    compare_dashboard(browser, &director, "year").await?;
    let revenue: Value = director
        .read("/reports/sales?group_by=branch&period=year")
        .await?;
    let reps: Value = director
        .read("/reports/sales?group_by=rep&period=year")
        .await?;
    ensure!(
        revenue["total"]["revenue"]
            .as_f64()
            .is_some_and(|r| r > 0.0)
            && reps["rows"].as_array().is_some_and(|rows| rows.len() > 1),
        "the demo should have revenue by several reps this year to compare: {revenue} {reps}"
    );

    // The period control asks the API for another period.
    browser.mark_stale("[data-testid=kpi-revenue]").await?;
    browser
        .choose("[data-testid=home-period]", "quarter")
        .await?;
    browser
        .wait_for("[data-testid=kpi-revenue]:not([data-stale])")
        .await?;
    ensure!(
        browser.route().await? == "#/?period=quarter",
        "the period is kept in the route"
    );
    compare_dashboard(browser, &director, "quarter").await?;
    Ok(())
}

#[tokio::test]
async fn a_manager_reassigns_an_account_on_the_page_and_the_reps_next_sync_drops_it()
-> anyhow::Result<()> {
    let Some(console) = Console::start("en").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let (li, wang) = tokio::try_join!(console.user("li.wei"), console.user("wang.fang"))?;
    let manager = console.api_as("zhang.min").await?;
    let owned = manager
        .list_accounts(&format!("owner_id={}", li.id))
        .await?;
    let account = owned.first().context("li.wei owns no demo account")?.id.0;
    let mut phone = Device::new(&console.app, &li, "li-wei-phone").await?;
    phone.sync().await?;
    ensure!(
        phone.replica.doc(account).is_some(),
        "the rep's phone holds his account before"
    );

    console.login("zhang.min").await?;
    browser.goto(&format!("#/accounts/{account}")).await?;
    browser.wait_for("[data-testid=account-name]").await?;
    browser
        .choose("[data-testid=reassign-owner]", &wang.id.to_string())
        .await?;
    browser.click("[data-testid=reassign]").await?;
    browser.click("dialog[open] .buttons .primary").await?;
    let moved = eventually("the reassignment to reach the API", || async {
        let now = manager.account(account).await?;
        Ok((now.account.owner_id.0 == wang.id).then_some(now))
    })
    .await?;
    ensure!(
        !browser
            .exists("[data-testid=reassign-problem] .problem")
            .await?,
        "the page shows no problem"
    );
    ensure!(
        moved.account.team_id.is_some(),
        "the account moved with a team"
    );

    let outcome = phone.sync().await?;
    ensure!(
        outcome.dropped.contains(&account),
        "the previous owner's sync drops the account: {outcome:?}"
    );
    ensure!(
        phone.replica.doc(account).is_none(),
        "the phone no longer holds it"
    );
    let mut new_phone = Device::new(&console.app, &wang, "wang-fang-phone").await?;
    new_phone.sync().await?;
    ensure!(
        new_phone.replica.doc(account).is_some(),
        "the new owner's phone receives it"
    );
    browser.screenshot("flow-reassigned-en").await?;

    // Back again from the team page: now the other phone drops it.
    browser.goto("#/team").await?;
    browser
        .choose("[data-testid=team-reassign-account]", &account.to_string())
        .await?;
    browser
        .choose("[data-testid=team-reassign-owner]", &li.id.to_string())
        .await?;
    browser.click("[data-testid=team-reassign-submit]").await?;
    browser.click("dialog[open] .buttons .primary").await?;
    eventually("the team page's reassignment to reach the API", || async {
        let now = manager.account(account).await?;
        Ok((now.account.owner_id.0 == li.id).then_some(()))
    })
    .await?;
    ensure!(
        !browser
            .exists("[data-testid=team-reassign-result] .problem")
            .await?,
        "the team page shows no problem"
    );
    let outcome = new_phone.sync().await?;
    ensure!(
        outcome.dropped.contains(&account),
        "the second owner's sync drops it: {outcome:?}"
    );
    phone.sync().await?;
    ensure!(
        phone.replica.doc(account).is_some(),
        "the first owner's phone receives it again"
    );
    Ok(())
}

#[tokio::test]
async fn the_service_desk_closes_a_complaint_only_after_its_callback() -> anyhow::Result<()> {
    let Some(console) = Console::start("en").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let desk = console.api_as("zhao.lei").await?;
    let me = console.user("zhao.lei").await?;
    let accounts = all_items(&desk, "/accounts").await?;
    let account = id_of(
        accounts
            .first()
            .context("the service desk sees no account")?,
    )?;
    let ticket: Value = desk
        .created(
            "/tickets",
            &json!({
                "account_id": account, "type": "complaint", "severity": "high",
                "title": "Browser test: invoices sent twice",
            }),
        )
        .await?;
    let ticket = id_of(&ticket)?;
    let path = format!("/tickets/{ticket}");
    for step in [
        json!({"status": "assigned", "assignee_id": me.id}),
        json!({"status": "in_progress"}),
        json!({"status": "resolved", "resolution": "Duplicate invoices cancelled"}),
    ] {
        desk.patch(&path, &step).await?.ensure_status(200)?;
    }
    // What the API answers a close before the callback (and leaves as it was).
    let refusal = desk.patch(&path, &json!({"status": "closed"})).await?;
    refusal.assert_status(422);
    let code = refusal.code().context("the refusal has a code")?.to_owned();

    console.login("zhao.lei").await?;
    browser.goto("#/service").await?;
    let row = format!("[data-testid=ticket-row][data-id=\"{ticket}\"]");
    browser
        .click(&format!("{row} [data-testid=ticket-close]"))
        .await?;
    browser.click("dialog[open] .buttons .primary").await?;
    let problem = "[data-testid=ticket-problem] .problem";
    browser.wait_for(problem).await?;
    ensure!(
        browser.attr(problem, "data-code").await?.as_deref() == Some(code.as_str()),
        "the page shows the API's code {code}"
    );
    ensure!(
        browser.attr(problem, "data-status").await?.as_deref() == Some("422"),
        "the page shows the API's status"
    );
    browser.screenshot("flow-callback-required-en").await?;
    let still: Value = desk.read(&path).await?;
    ensure!(
        still["status"] == "resolved",
        "the refused close left {still}"
    );

    // The callback, recorded on the page; then the close goes through.
    browser.mark_stale(&row).await?;
    browser
        .click(&format!("{row} [data-testid=ticket-callback]"))
        .await?;
    browser
        .choose("dialog[open] [data-testid=dialog-satisfaction]", "4")
        .await?;
    browser
        .fill(
            "dialog[open] [data-testid=dialog-comments]",
            "Happy the duplicates are gone",
        )
        .await?;
    browser
        .click("dialog[open] [data-testid=dialog-submit]")
        .await?;
    let fresh = format!("{row}:not([data-stale])");
    browser
        .click(&format!("{fresh} [data-testid=ticket-close]"))
        .await?;
    browser.click("dialog[open] .buttons .primary").await?;
    browser
        .wait_for(&format!("{row}[data-status=closed]"))
        .await?;
    let closed: Value = desk.read(&path).await?;
    ensure!(closed["status"] == "closed", "the API has {closed}");
    let callbacks = all_items(&desk, &format!("/callbacks?account_id={account}")).await?;
    ensure!(
        callbacks.iter().any(|c| c["ticket_id"] == json!(ticket)
            && c["status"] == "done"
            && c["satisfaction"] == 4),
        "a done callback after the ticket: {callbacks:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_rep_cannot_reach_the_admin_pages() -> anyhow::Result<()> {
    let Some(console) = Console::start("en").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let rep = console.api_as("li.wei").await?;
    let refusal = rep.get("/admin/insight/sweeps?limit=1").await?;
    refusal.assert_status(403);
    let code = refusal.code().context("the refusal has a code")?.to_owned();

    console.login("li.wei").await?;
    let links = browser.all("header nav a", &["href"]).await?;
    let hrefs: Vec<&str> = links.iter().filter_map(|l| l["href"].as_str()).collect();
    ensure!(
        hrefs == ["#/", "#/accounts"],
        "a rep's navigation: {hrefs:?}"
    );

    for route in ["#/admin", "#/admin/users", "#/admin/tiering"] {
        browser.goto(route).await?;
        let problem = ".problem-page .problem[data-status=\"403\"]";
        browser.wait_for(problem).await?;
        ensure!(
            browser.attr(problem, "data-code").await?.as_deref() == Some(code.as_str()),
            "{route} shows the API's {code}"
        );
        ensure!(
            !browser.exists("[data-testid=admin-nav]").await?,
            "{route} shows nothing of the admin pages"
        );
    }
    browser.screenshot("flow-rep-admin-403-en").await?;
    // A manager's page is refused the same way, with the API's answer.
    let refusal = rep.get("/users").await?;
    browser.goto("#/team").await?;
    let problem = format!(
        ".problem-page .problem[data-status=\"{}\"]",
        refusal.status.as_u16()
    );
    browser.wait_for(&problem).await?;
    Ok(())
}

/// The text of each header link, by its `href`.
async fn nav_labels(browser: &Browser) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(browser
        .all("header nav a", &["href"])
        .await?
        .into_iter()
        .filter_map(|link| {
            Some((
                link["href"].as_str()?.to_owned(),
                link["text"].as_str()?.to_owned(),
            ))
        })
        .collect())
}

/// Every page module, by its file under `/console/js/pages/`.
const PAGE_MODULES: [&str; 7] = [
    "login", "home", "accounts", "account", "team", "service", "admin",
];

#[tokio::test]
async fn the_language_switch_changes_the_labels_and_every_message_has_both_languages()
-> anyhow::Result<()> {
    let Some(console) = Console::start("zh-CN").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    // The browser's language is the first choice.
    browser.wait_for("#login-submit").await?;
    ensure!(
        browser.text("#login-submit").await? == "登录",
        "a Chinese browser gets the Chinese login form"
    );
    console.login(ADMIN).await?;
    let zh = nav_labels(browser).await?;
    ensure!(
        zh.get("#/").map(String::as_str) == Some("首页")
            && zh.get("#/admin").map(String::as_str) == Some("管理"),
        "Chinese navigation: {zh:?}"
    );
    ensure!(
        browser
            .script("return document.documentElement.lang;", vec![])
            .await?
            == json!("zh-CN"),
        "the page says it is Chinese"
    );

    browser.choose("#lang-switch", "en").await?;
    browser
        .wait_until(
            "the navigation in English",
            "const a = document.querySelector('header nav a[href=\"#/\"]'); \
             return a && a.textContent === 'Home';",
            vec![],
        )
        .await?;
    let en = nav_labels(browser).await?;
    let expected: BTreeMap<String, String> = [
        ("#/", "Home"),
        ("#/accounts", "Accounts"),
        ("#/team", "Team"),
        ("#/service", "Service desk"),
        ("#/admin", "Admin"),
    ]
    .into_iter()
    .map(|(href, text)| (href.to_owned(), text.to_owned()))
    .collect();
    ensure!(en == expected, "English navigation: {en:?}");
    ensure!(
        browser.text("#logout").await? == "Log out",
        "the logout button is English"
    );
    ensure!(
        browser
            .script("return document.documentElement.lang;", vec![])
            .await?
            == json!("en"),
        "the page says it is English"
    );

    // The choice outlives a reload, and switches back.
    browser.reload().await?;
    browser
        .wait_until(
            "the navigation in English after a reload",
            "const a = document.querySelector('header nav a[href=\"#/\"]'); \
             return a && a.textContent === 'Home';",
            vec![],
        )
        .await?;
    browser.choose("#lang-switch", "zh-CN").await?;
    browser
        .wait_until(
            "the navigation in Chinese again",
            "const a = document.querySelector('header nav a[href=\"#/\"]'); \
             return a && a.textContent === '首页';",
            vec![],
        )
        .await?;

    // Every page module's messages are in both catalogs.
    let gaps = browser
        .script_async(
            "const done = arguments[arguments.length - 1]; \
             const pages = arguments[0]; \
             Promise.all(pages.map((p) => import(`/console/js/pages/${p}.js`))) \
               .then(() => import('/console/js/i18n.js')) \
               .then((i18n) => done({ gaps: i18n.catalogGaps() })) \
               .catch((e) => done({ error: String(e) }));",
            vec![json!(PAGE_MODULES)],
        )
        .await?;
    ensure!(gaps["error"].is_null(), "cannot load the modules: {gaps}");
    ensure!(
        gaps["gaps"] == json!([]),
        "messages missing from a catalog: {}",
        gaps["gaps"]
    );
    Ok(())
}

#[tokio::test]
async fn an_edit_made_on_the_page_arrives_at_a_phone_through_sync() -> anyhow::Result<()> {
    let Some(console) = Console::start("en").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let li = console.user("li.wei").await?;
    let rep = console.api_as("li.wei").await?;
    let account = rep
        .list_accounts(&format!("owner_id={}", li.id))
        .await?
        .first()
        .context("li.wei owns no demo account")?
        .id
        .0;
    let mut phone = Device::new(&console.app, &li, "li-wei-phone").await?;
    phone.sync().await?;
    ensure!(
        phone.replica.doc(account).is_some(),
        "the phone holds the account"
    );

    console.login("li.wei").await?;
    browser.goto(&format!("#/accounts/{account}")).await?;
    browser.click("[data-testid=account-edit]").await?;
    let notes = format!("Met the CFO; budget approved ({})", Uuid::new_v4().simple());
    browser
        .fill("[data-testid=account-form] [name=notes]", &notes)
        .await?;
    browser
        .fill("[data-testid=account-form] [name=\"address.city\"]", "苏州")
        .await?;
    browser.click("[data-testid=account-save]").await?;
    eventually("the edit to reach the API", || async {
        let now = rep.account(account).await?;
        Ok((now.account.notes == notes).then_some(()))
    })
    .await?;
    ensure!(
        !browser
            .exists("[data-testid=account-problem] .problem")
            .await?,
        "the page shows no problem"
    );

    phone.sync().await?;
    let held = phone.json(account);
    ensure!(held["notes"] == json!(notes), "the phone has {held}");
    ensure!(
        held["address"]["city"] == "苏州",
        "the phone has the city: {held}"
    );
    Ok(())
}

#[tokio::test]
async fn a_session_survives_a_reload_and_ends_with_logging_out() -> anyhow::Result<()> {
    let Some(console) = Console::start("en").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    console.login("wang.fang").await?;
    browser.goto("#/accounts").await?;
    browser.wait_for("[data-testid=accounts-table]").await?;

    // A reload resumes the session from the cookie, on the same page.
    browser.mark_stale("#logout").await?;
    browser.reload().await?;
    browser.wait_for("#logout:not([data-stale])").await?;
    browser.wait_for("[data-testid=accounts-table]").await?;
    ensure!(
        browser.text(".user").await?.contains("Wang Fang"),
        "the header names the user"
    );
    // No token where a script could read it: the cookie is HttpOnly, and
    // the storage holds the language and the device id alone.
    let stored = browser
        .script(
            "return { cookie: document.cookie, local: Object.keys(localStorage).sort(), \
               values: Object.values(localStorage), session: Object.keys(sessionStorage) };",
            vec![],
        )
        .await?;
    ensure!(
        !stored["cookie"]
            .as_str()
            .unwrap_or_default()
            .contains("kam_console_refresh"),
        "the refresh cookie is HttpOnly: {stored}"
    );
    let allowed = json!(["kam.console.device", "kam.console.lang"]);
    ensure!(
        stored["session"] == json!([])
            && stored["local"].as_array().is_some_and(|keys| keys
                .iter()
                .all(|k| allowed.as_array().is_some_and(|a| a.contains(k))))
            && !stored["values"].to_string().contains("eyJ"),
        "no token in the browser's storage: {stored}"
    );

    browser.logout().await?;
    browser.reload().await?;
    browser.wait_for("#login-submit").await?;
    ensure!(
        !browser.exists("#logout").await?,
        "after logging out, a reload shows the login form"
    );
    Ok(())
}

/// What no page should show: a message key where its text should be.
const RAW_KEY: &str = r"\b(app|nav|role|common|error|problem|login|home|accounts|account|team|service|admin)\.[a-z][a-zA-Z0-9_]*(\.[a-zA-Z0-9_]+)*\b";

/// The tabs of the customer file after its first, `overview` (the
/// `data-testid` of each is `tab-<name>`, its panel `#panel-<name>`).
const ACCOUNT_TABS: [&str; 7] = [
    "people",
    "visits",
    "opportunities",
    "plans",
    "contracts",
    "service",
    "timeline",
];

/// A walk through the console's pages in one language. Each page (or tab,
/// opened form, dialog) it stops at must be rendered with no problem, no
/// raw message key, no id used twice and nothing wider than the window
/// (only a table scrolls sideways, in its own box); it is saved as
/// `<name>-<language>.png` and, where axe-core could be installed (see
/// [`Axe::load`]), held to WCAG 2.1 A and AA. The violations are gathered
/// and reported together by [`Tour::finish`].
struct Tour<'a> {
    browser: &'a Browser,
    axe: Option<Axe>,
    violations: Vec<Violation>,
    checked: usize,
}

impl<'a> Tour<'a> {
    /// A tour of what `browser` shows; no accessibility check where
    /// Node.js is missing and not required (it says so).
    async fn new(browser: &'a Browser) -> anyhow::Result<Self> {
        let axe = Axe::load().await?;
        Ok(Self {
            browser,
            axe,
            violations: Vec::new(),
            checked: 0,
        })
    }

    /// Opens `route` and stops there once `ready` is shown (see [`Tour::stop`]).
    async fn visit(&mut self, route: &str, ready: &str, name: &str) -> anyhow::Result<()> {
        self.browser.goto(route).await?;
        self.stop(ready, name).await
    }

    /// Waits until what the page shows now is rendered (`ready` is there and
    /// nothing is loading), checks it, saves it and runs the accessibility
    /// check on it.
    async fn stop(&mut self, ready: &str, name: &str) -> anyhow::Result<()> {
        let browser = self.browser;
        browser.wait_for(ready).await?;
        browser.wait_gone("main .loading").await?;
        let route = browser.route().await?;
        ensure!(
            !browser.exists(".problem-page").await?,
            "{route} shows a problem: {}",
            browser.text(".problem-page").await?
        );
        let keys = browser
            .script(
                "return Array.from(new Set(document.body.innerText.match(new RegExp(arguments[0], 'g')) || []));",
                vec![json!(RAW_KEY)],
            )
            .await?;
        ensure!(keys == json!([]), "{route} shows message keys: {keys}");
        // An id names one element (labels, tabs and dialogs point at them);
        // axe-core 4.x no longer checks this itself.
        let twice = browser
            .script(
                "const seen = new Map(); \
                 for (const e of document.querySelectorAll('[id]')) seen.set(e.id, (seen.get(e.id) || 0) + 1); \
                 return Array.from(seen).filter(([, n]) => n > 1).map(([id]) => id);",
                vec![],
            )
            .await?;
        ensure!(twice == json!([]), "{route} has ids used twice: {twice}");
        // Usable at this width: only a table scrolls sideways, in its own box.
        let widths = browser
            .script(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
                vec![],
            )
            .await?;
        ensure!(
            widths[0].as_u64() <= widths[1].as_u64(),
            "{name} ({route}) is wider than the window: [scrollWidth, clientWidth] = {widths}"
        );
        // A screenshot shows the page from its top.
        browser.script("window.scrollTo(0, 0);", vec![]).await?;
        let name = format!("{name}-{}", browser.language());
        browser.screenshot(&name).await?;
        if let Some(axe) = &self.axe {
            let found = axe.check(browser, &format!("{name} {route}")).await?;
            self.violations.extend(found);
            self.checked += 1;
        }
        Ok(())
    }

    /// Fails listing every violation found on the way, if there was any.
    fn finish(self) -> anyhow::Result<()> {
        if self.axe.is_none() {
            return Ok(());
        }
        let listed: String = self.violations.iter().map(ToString::to_string).collect();
        ensure!(
            self.violations.is_empty(),
            "{} accessibility violations (axe-core, {}) on {} pages checked:\n{listed}",
            self.violations.len(),
            axe::RULE_TAGS.join(", "),
            self.checked,
        );
        eprintln!(
            "accessibility: {} pages checked in {}, no violation",
            self.checked,
            self.browser.language()
        );
        Ok(())
    }
}

/// The customer file of `account`: the overview, each other tab, the edit
/// form, the reassignment's confirmation; `suffix` ends the names.
async fn tour_account(tour: &mut Tour<'_>, account: Uuid, suffix: &str) -> anyhow::Result<()> {
    let browser = tour.browser;
    tour.visit(
        &format!("#/accounts/{account}"),
        "[data-testid=account-name]",
        &format!("account{suffix}"),
    )
    .await?;
    for tab in ACCOUNT_TABS {
        browser.click(&format!("[data-testid=tab-{tab}]")).await?;
        tour.stop(
            &format!("#panel-{tab}:not([hidden])"),
            &format!("account-{tab}{suffix}"),
        )
        .await?;
    }
    browser.click("[data-testid=tab-overview]").await?;
    browser.click("[data-testid=account-edit]").await?;
    tour.stop(
        "[data-testid=account-form]",
        &format!("account-edit{suffix}"),
    )
    .await?;
    browser.click("[data-testid=account-edit]").await?;
    // Another owner chosen, and the confirmation asked for (then cancelled).
    let other = browser
        .script(
            "const s = document.querySelector('[data-testid=reassign-owner]'); \
             const o = s && Array.from(s.options).find((o) => o.value && o.value !== s.value); \
             return o ? o.value : null;",
            vec![],
        )
        .await?;
    let other = other.as_str().context("no other owner to reassign to")?;
    browser
        .choose("[data-testid=reassign-owner]", other)
        .await?;
    browser.click("[data-testid=reassign]").await?;
    tour.stop("dialog[open]", &format!("account-reassign-dialog{suffix}"))
        .await?;
    browser.click("dialog[open] .buttons .secondary").await?;
    browser.wait_gone("dialog[open]").await?;
    Ok(())
}

/// A page to visit: its route, an element showing it is rendered, and the
/// name of its screenshot.
type Shot = (&'static str, &'static str, &'static str);

/// Every page in `language`, as each role sees it, at a laptop's size and
/// (the dashboard, the accounts and a customer file) a tablet's: checked,
/// saved and held to WCAG 2.1 AA (see [`Tour`]). Also holds every request
/// the pages made to the OpenAPI document.
async fn screenshots(language: &str) -> anyhow::Result<()> {
    let Some(console) = Console::start(language).await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let mut tour = Tour::new(browser).await?;
    let director = console.api_as("liu.yang").await?;
    let account = director
        .list_accounts("tier=strategic")
        .await?
        .into_iter()
        .next()
        .context("the demo has no strategic account")?
        .id
        .0;

    tour.stop("#login-submit", "login").await?;
    // The page's CSP is in force where axe-core runs: a script element put
    // in the page does not run (WebDriver's own scripts, axe-core, do).
    let inline = browser
        .script(
            "const s = document.createElement('script'); \
             s.textContent = 'window.kamInline = true;'; \
             document.head.append(s); s.remove(); \
             return window.kamInline === true;",
            vec![],
        )
        .await?;
    ensure!(
        inline == json!(false),
        "an injected script element ran: the page has no CSP"
    );
    // Every request the page makes from here on is recorded, to be held to
    // the OpenAPI document at the end.
    browser.script(RECORD_REQUESTS, vec![]).await?;

    console.login("liu.yang").await?;
    tour.visit(
        "#/?period=year",
        "[data-testid=kpi-revenue]",
        "dashboard-director",
    )
    .await?;
    tour.visit(
        "#/accounts",
        "[data-testid=accounts-table]",
        "accounts-director",
    )
    .await?;
    tour_account(&mut tour, account, "-director").await?;
    browser.set_viewport(TABLET).await?;
    tour.visit(
        "#/?period=year",
        "[data-testid=kpi-revenue]",
        "dashboard-director-tablet",
    )
    .await?;
    tour.visit(
        "#/accounts",
        "[data-testid=accounts-table]",
        "accounts-director-tablet",
    )
    .await?;
    tour_account(&mut tour, account, "-director-tablet").await?;
    browser.set_viewport(WINDOW).await?;

    let pages: [(&str, &[Shot]); 4] = [
        ("li.wei", &[("#/", "[data-testid=worklist]", "home-rep")]),
        (
            "zhang.min",
            &[("#/team", "[data-testid=team-table]", "team-manager")],
        ),
        (
            "zhao.lei",
            &[("#/service", "[data-testid=tickets-table]", "service-desk")],
        ),
        (
            ADMIN,
            &[
                ("#/admin/org", "[data-testid=org-tree]", "admin-org"),
                (
                    "#/admin/tiering",
                    "[data-testid=tiering-form]",
                    "admin-tiering",
                ),
                (
                    "#/admin/insight",
                    "[data-testid=insight-form]",
                    "admin-insight",
                ),
                (
                    "#/admin/products",
                    "[data-testid=products-table]",
                    "admin-products",
                ),
                ("#/admin/users", "[data-testid=users-table]", "admin-users"),
            ],
        ),
    ];
    for (user, routes) in pages {
        browser.logout().await?;
        console.login(user).await?;
        for (route, ready, name) in routes {
            tour.visit(route, ready, name).await?;
        }
    }
    // A form in a dialog: an admin resetting a password (then cancelled).
    browser
        .click("[data-testid=user-row] [data-testid=user-reset-password]")
        .await?;
    tour.stop("dialog[open] form", "admin-reset-password-dialog")
        .await?;
    browser.click("dialog[open] .buttons .secondary").await?;
    browser.wait_gone("dialog[open]").await?;

    let requests = browser
        .script("return window.kamRequests || [];", vec![])
        .await?;
    ensure_documented(&requests)?;
    tour.finish()
}

/// Wraps the page's `fetch` to note the method and path of every request.
const RECORD_REQUESTS: &str = "window.kamRequests = []; \
    const send = window.fetch.bind(window); \
    window.fetch = (input, init) => { \
      const url = new URL(typeof input === 'string' ? input : input.url, location.href); \
      window.kamRequests.push([((init && init.method) || 'GET').toLowerCase(), url.pathname]); \
      return send(input, init); \
    };";

/// Fails unless every recorded `[method, path]` is an operation of the
/// committed OpenAPI document (the console does nothing a third-party client
/// could not), and there were enough of them to mean something.
fn ensure_documented(requests: &Value) -> anyhow::Result<()> {
    let document: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../openapi/openapi.json"
        ))
        .context("cannot read openapi/openapi.json")?,
    )?;
    let paths = document["paths"]
        .as_object()
        .context("the OpenAPI document has no paths")?;
    let requests = requests.as_array().context("no requests recorded")?;
    ensure!(
        requests.len() >= 20,
        "only {} requests were recorded: {requests:?}",
        requests.len()
    );
    for request in requests {
        let (Some(method), Some(path)) = (request[0].as_str(), request[1].as_str()) else {
            bail!("a malformed record {request}");
        };
        let segments: Vec<&str> = path.split('/').collect();
        let documented = paths.iter().any(|(template, item)| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part == segment || part.starts_with('{'))
                && item.get(method).is_some()
        });
        ensure!(
            documented,
            "the console sent {method} {path}, which the OpenAPI document does not have"
        );
    }
    Ok(())
}

#[tokio::test]
async fn screenshots_and_the_accessibility_check_of_every_page_in_chinese() -> anyhow::Result<()> {
    screenshots("zh-CN").await
}

#[tokio::test]
async fn screenshots_and_the_accessibility_check_of_every_page_in_english() -> anyhow::Result<()> {
    screenshots("en").await
}

/// Marks (`data-kb="<n>"`, in document order) every control a person
/// should reach with Tab: links, buttons, fields, `tabindex="0"`, that are
/// shown and enabled (of a group of radio buttons, the checked one or the
/// first); then notes, for each element that takes the focus from here on,
/// its mark and whether the focus shows on it: `:focus-visible` matches, an
/// outline is drawn whose colour has a contrast of 3:1 or more with the
/// background it is drawn on (what is under its left edge; WCAG 1.4.11,
/// non-text contrast), and the element is in the window. Answers a
/// description of each marked control.
const MARK_REACHABLE: &str = "\
    const describe = (e) => { \
      const id = e.id ? `#${e.id}` : ''; \
      const testid = e.dataset.testid ? `[data-testid=${e.dataset.testid}]` : ''; \
      const text = (e.getAttribute('aria-label') || e.textContent || e.name || '').trim().slice(0, 40); \
      return `${e.tagName.toLowerCase()}${id}${testid} \"${text}\"`; \
    }; \
    const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'; \
    const radios = new Set(); \
    const reachable = Array.from(document.querySelectorAll( \
        'a[href], button, input, select, textarea, summary, [tabindex]')).filter((e) => { \
      if (e.disabled || e.tabIndex < 0 || e.closest('[inert], [hidden]') || !shown(e)) return false; \
      if (e.type === 'hidden') return false; \
      if (e.type === 'radio' && e.name) { \
        const group = Array.from(document.getElementsByName(e.name)); \
        const stop = group.find((r) => r.checked) || group[0]; \
        if (e !== stop || radios.has(e.name)) return false; \
        radios.add(e.name); \
      } \
      return true; \
    }); \
    reachable.forEach((e, i) => e.setAttribute('data-kb', String(i))); \
    const rgba = (colour) => (colour.match(/[\\d.]+/g) || []).map(Number); \
    const luminance = ([r, g, b]) => [r, g, b] \
      .map((v) => v / 255) \
      .map((v) => (v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)) \
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0); \
    const backdrop = (e, style) => { \
      const r = e.getBoundingClientRect(); \
      const ring = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth) / 2; \
      const x = Math.max(0, r.left - ring); \
      const y = Math.min(innerHeight - 1, Math.max(0, r.top + r.height / 2)); \
      const under = document.elementsFromPoint(x, y).find((n) => n !== e && !e.contains(n)); \
      for (let n = under || e.parentElement; n; n = n.parentElement) { \
        const c = rgba(getComputedStyle(n).backgroundColor); \
        if (c.length === 3 || c[3] === 1) return c; \
      } \
      return [255, 255, 255]; \
    }; \
    const contrast = (a, b) => { \
      const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x); \
      return Math.round(((light + 0.05) / (dark + 0.05)) * 100) / 100; \
    }; \
    window.kbFocus = []; \
    document.addEventListener('focusin', (event) => { \
      const e = event.target; \
      const style = getComputedStyle(e); \
      const r = e.getBoundingClientRect(); \
      window.kbFocus.push({ \
        kb: e.getAttribute('data-kb'), what: describe(e), \
        focusVisible: e.matches(':focus-visible'), \
        outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2, \
        contrast: contrast(rgba(style.outlineColor), backdrop(e, style)), \
        inWindow: r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight, \
      }); \
    }); \
    return reachable.map(describe);";

/// Reloads `route` (so that the focus starts at the top of the document),
/// presses Tab once for each control [`MARK_REACHABLE`] finds and once more,
/// and fails unless the focus went through every control, in document
/// order, showing on each. Answers how many controls there were.
async fn tab_through(browser: &Browser, route: &str, ready: &str) -> anyhow::Result<usize> {
    browser.goto(route).await?;
    browser.reload().await?;
    browser.wait_for(ready).await?;
    browser.wait_gone("main .loading").await?;
    let controls = browser.script(MARK_REACHABLE, vec![]).await?;
    let controls = controls
        .as_array()
        .context("no controls were listed")?
        .clone();
    ensure!(
        controls.len() >= 3,
        "{route} has few controls: {controls:?}"
    );
    browser.press(Key::Tab, controls.len() + 1).await?;
    let focused = browser.script("return window.kbFocus;", vec![]).await?;
    let focused = focused.as_array().context("no focus was noted")?;
    let reached: Vec<Option<usize>> = focused
        .iter()
        .map(|f| f["kb"].as_str().and_then(|kb| kb.parse().ok()))
        .collect();
    let count = controls.len();
    // From wherever the focus was (the first control, or the one the page
    // focused itself), each Tab goes to the next, the last to the first.
    let in_turn = reached.len() >= count
        && reached[..count].iter().all(Option::is_some)
        && reached[..count]
            .windows(2)
            .all(|pair| pair[0].map(|i| (i + 1) % count) == pair[1]);
    let missed: Vec<&Value> = controls
        .iter()
        .enumerate()
        .filter(|(i, _)| !reached.contains(&Some(*i)))
        .map(|(_, c)| c)
        .collect();
    ensure!(
        in_turn,
        "on {route}, Tab did not go through the controls in turn; missed {missed:?}; \
         focused in turn: {:?}",
        focused.iter().map(|f| &f["what"]).collect::<Vec<_>>()
    );
    let unseen: Vec<&Value> = focused[..count]
        .iter()
        .filter(|f| {
            !(f["focusVisible"] == json!(true)
                && f["outline"] == json!(true)
                && f["contrast"].as_f64().is_some_and(|ratio| ratio >= 3.0)
                && f["inWindow"] == json!(true))
        })
        .collect();
    ensure!(
        unseen.is_empty(),
        "on {route}, the focus does not show on: {unseen:?}"
    );
    Ok(controls.len())
}

#[tokio::test]
async fn every_control_of_the_header_and_a_page_is_reached_by_keyboard_with_a_visible_focus()
-> anyhow::Result<()> {
    let Some(console) = Console::start("en").await? else {
        return Ok(());
    };
    let browser = &console.browser;
    let director = console.api_as("liu.yang").await?;
    let account = director
        .list_accounts("tier=strategic")
        .await?
        .into_iter()
        .next()
        .context("the demo has no strategic account")?
        .id
        .0;

    let login = tab_through(browser, "#/", "#login-submit").await?;
    console.login("liu.yang").await?;
    let list = tab_through(browser, "#/accounts", "[data-testid=accounts-table]").await?;
    // The skip link comes first, and shows when it has the focus.
    let first = browser
        .script("return window.kbFocus[0].what;", vec![])
        .await?;
    ensure!(
        first
            .as_str()
            .is_some_and(|w| w.starts_with("a") && w.contains("Skip")),
        "the first stop is the skip link, not {first}"
    );
    let file = tab_through(
        browser,
        &format!("#/accounts/{account}"),
        "[data-testid=account-name]",
    )
    .await?;
    // The customer file's tabs are one stop; the arrow keys move between them.
    browser
        .script(
            "document.querySelector('[data-testid=tab-overview]').focus();",
            vec![],
        )
        .await?;
    browser.press(Key::Right, 1).await?;
    browser
        .wait_until(
            "the arrow key to choose the next tab",
            "const e = document.activeElement; \
             return e && e.dataset.testid === 'tab-people' \
               && e.getAttribute('aria-selected') === 'true' \
               && !document.getElementById('panel-people').hidden;",
            vec![],
        )
        .await?;
    // Following a link of the header renders the header anew: the focus
    // goes to the new page's main region, so Tab goes on into the page
    // rather than from the top of the document again.
    browser
        .script(
            "document.querySelector('header nav a[href=\"#/accounts\"]').focus();",
            vec![],
        )
        .await?;
    browser.press(Key::Enter, 1).await?;
    browser.wait_for("[data-testid=accounts-table]").await?;
    browser.wait_gone("main .loading").await?;
    let focused = browser
        .script("return document.activeElement.id;", vec![])
        .await?;
    ensure!(
        focused == json!("main"),
        "after following a link the focus is on the main region, not {focused}"
    );
    browser.press(Key::Tab, 1).await?;
    let inside = browser
        .script(
            "return document.getElementById('main').contains(document.activeElement);",
            vec![],
        )
        .await?;
    ensure!(inside == json!(true), "the next Tab goes into the page");
    eprintln!(
        "keyboard: {login} controls on the login page, {list} on the accounts list, \
         {file} on a customer file, each reached in order with its focus shown"
    );
    Ok(())
}
