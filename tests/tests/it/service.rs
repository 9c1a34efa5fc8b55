//! What the server offers besides the records: the probes, the API
//! documentation (Swagger UI, served whole by the server, and the OpenAPI
//! document, which is the committed one), and the demo org.

use kam_server::demo::{self, DEMO_PASSWORD};
use kam_server::insight::signals::WarningCode;
use kam_server::records::accounts::AccountView;
use kam_server::records::contacts::{ContactView, OrgChart};
use kam_server::records::page::Page;
use kam_server::records::visits::VisitView;
use kam_server::reports::products::ProductReport;
use kam_tests::{Reply, Session, TestApp, new_account};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;

/// `GET url` without credentials.
async fn get_root(app: &TestApp, path: &str) -> anyhow::Result<Reply> {
    let api = app.api();
    api.send(api.http().get(api.root_url(path))).await
}

/// The values of every `attribute="…"` in an HTML page.
fn attribute_values(html: &str, attribute: &str) -> Vec<String> {
    let needle = format!("{attribute}=\"");
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest.find('"').map(|end| rest[..end].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn healthz_and_readyz_answer_200_ok_without_credentials() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let reply = get_root(&app, path).await?;
        reply.assert_status(200);
        assert_eq!(reply.body, json!({ "status": "ok" }), "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    Ok(())
}

#[tokio::test]
async fn the_swagger_ui_is_served_whole_by_the_server_itself() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let reply = get_root(&app, "/docs/").await?;
    reply.assert_status(200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        reply.header("content-type")
    );
    let html = reply
        .body
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the page is not text: {}", reply.body))?;
    assert!(html.contains("swagger-ui"), "{html}");

    let assets: Vec<String> = attribute_values(html, "src")
        .into_iter()
        .chain(attribute_values(html, "href"))
        .collect();
    assert!(
        assets.iter().any(|a| a.ends_with("swagger-ui-bundle.js")),
        "{assets:?}"
    );
    for asset in &assets {
        let external = (asset.starts_with("http://") || asset.starts_with("https://"))
            && !asset.starts_with(&app.address);
        assert!(
            !external && !asset.starts_with("//"),
            "the page loads {asset} from elsewhere: it must work offline"
        );
        let path = match asset.strip_prefix(&app.address) {
            Some(path) => path.to_owned(),
            None if asset.starts_with('/') => asset.clone(),
            None => format!("/docs/{}", asset.trim_start_matches("./")),
        };
        let reply = get_root(&app, &path).await?;
        assert_eq!(reply.status, 200, "{asset} ({path})");
    }

    // The script that starts the UI points it at this server's document, and nowhere else.
    let initializer = get_root(&app, "/docs/swagger-initializer.js").await?;
    initializer.assert_status(200);
    let script = initializer.body.as_str().unwrap_or_default();
    assert!(script.contains("/api/v1/openapi.json"), "{script}");
    assert!(
        !script.contains("http://") && !script.contains("https://"),
        "the UI is started against another host: {script}"
    );
    Ok(())
}

#[tokio::test]
async fn the_docs_address_without_a_slash_redirects_to_the_swagger_ui() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let reply = get_root(&app, "/docs").await?;
    reply.assert_status(308);
    assert_eq!(reply.header("location"), Some("/docs/"));
    get_root(&app, "/docs/").await?.assert_status(200);
    Ok(())
}

#[tokio::test]
async fn the_swagger_ui_sends_the_document_to_no_outside_validator() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let initializer = get_root(&app, "/docs/swagger-initializer.js").await?;
    initializer.assert_status(200);
    let script = initializer.body.as_str().unwrap_or_default();
    // Without `validatorUrl`, Swagger UI posts the document to validator.swagger.io.
    assert!(
        script.contains(r#""validatorUrl": "none""#),
        "the validator is not turned off: {script}"
    );
    Ok(())
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let reply = get_root(&app, "/api/v1/openapi.json").await?;
    reply.assert_status(200);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert!(
        reply.body == committed,
        "the served OpenAPI document differs from {}: regenerate it with \
         `cargo run -p kam-server -- openapi > openapi/openapi.json`",
        path.display()
    );
    assert_eq!(reply.body["info"]["title"], "KAM Sync API");
    assert!(reply.body["paths"]["/api/v1/visits/{id}/check-in"].is_object());
    Ok(())
}

/// Logs a demo user in.
async fn demo_login(app: &TestApp, username: &str) -> anyhow::Result<Session> {
    app.login(username, DEMO_PASSWORD, &format!("{username}-laptop"))
        .await
}

/// A fresh server with the demo org.
async fn demo_app() -> anyhow::Result<TestApp> {
    let app = TestApp::spawn().await;
    demo::seed(app.state())
        .await?
        .ok_or_else(|| anyhow::anyhow!("a fresh server had a demo org already"))?;
    Ok(app)
}

fn names(accounts: &[AccountView]) -> BTreeSet<String> {
    accounts.iter().map(|a| a.account.name.clone()).collect()
}

#[tokio::test]
async fn the_demo_is_seeded_once_and_tells_its_logins() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let logins = demo::seed(app.state())
        .await?
        .ok_or_else(|| anyhow::anyhow!("a fresh server had a demo org already"))?;
    let logins: Vec<(&str, &str)> = logins
        .iter()
        .map(|(user, role)| (user.as_str(), role.as_str()))
        .collect();
    assert_eq!(
        logins,
        [
            ("liu.yang", "director"),
            ("zhang.min", "manager"),
            ("li.wei", "rep"),
            ("wang.fang", "rep"),
            ("chen.jie", "rep"),
            ("zhao.lei", "service"),
        ]
    );
    assert!(
        demo::seed(app.state()).await?.is_none(),
        "a second seeding does nothing"
    );
    let director = demo_login(&app, "liu.yang").await?;
    assert_eq!(director.list_accounts("").await?.len(), 12);
    let page: Page<VisitView> = director
        .get("/visits?limit=100")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(page.items.len(), 24, "two visits per account, made once");
    let people: Page<ContactView> = director
        .get("/contacts?limit=100")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(people.items.len(), 48, "four key persons per account");
    let first_account = people.items[0].contact.account_id;
    let chart: OrgChart = director
        .get(&format!("/accounts/{first_account}/org-chart"))
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(
        chart.roots.len(),
        1,
        "everyone reports to the general manager"
    );
    assert_eq!(chart.roots[0].reports.len(), 3);
    for (path, expected) in [
        ("/opportunities?limit=100", 12),
        ("/contracts?limit=100", 3),
        ("/account-plans?limit=100", 8),
        ("/tickets?limit=100", 7),
        ("/callbacks?limit=100", 10),
        ("/targets?limit=100", 6),
    ] {
        let page = director.get(path).await?.ensure_status(200)?;
        assert_eq!(
            page.body["items"].as_array().map(Vec::len),
            Some(expected),
            "{path}"
        );
    }
    let accounts = director.list_accounts("").await?;
    let shown: BTreeSet<&str> = accounts
        .iter()
        .flat_map(|a| a.insight.warnings.iter().map(|w| w.code.as_str()))
        .collect();
    let every: BTreeSet<&str> = WarningCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(shown, every, "the demo shows every warning");
    assert!(
        accounts
            .iter()
            .any(|a| a.insight.at_risk_proposed_at.is_some()),
        "the demo has an at-risk proposal to decide"
    );
    let catalogue = director.get("/products").await?.ensure_status(200)?;
    assert_eq!(catalogue.body["items"].as_array().map(Vec::len), Some(4));
    let today = chrono::Utc::now().date_naive();
    let a_year_around = format!(
        "/reports/products?from={}&to={}",
        today - chrono::Duration::days(180),
        today + chrono::Duration::days(180)
    );
    let products: ProductReport = director.read(&a_year_around).await?;
    let sold: Vec<(&str, i64, i64)> = products
        .totals
        .iter()
        .map(|row| {
            let figures = row.figures;
            (
                row.product.code.as_str(),
                figures.signed_quantity,
                figures.open_quantity,
            )
        })
        .collect();
    assert_eq!(sold.len(), 3, "the deals sell three products: {sold:?}");
    assert!(
        sold.iter().any(|(_, signed, _)| *signed > 0) && sold.iter().all(|(_, _, open)| *open > 0),
        "signed and open volume: {sold:?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_demo_rep_li_wei_sees_exactly_the_four_accounts_he_owns() -> anyhow::Result<()> {
    let app = demo_app().await?;
    let li = demo_login(&app, "li.wei").await?;
    let me = li.get("/auth/me").await?.ensure_status(200)?;
    assert_eq!(me.body["role"], "rep");
    let own = li.list_accounts("").await?;
    assert_eq!(
        names(&own),
        BTreeSet::from([
            "SAIC Motor (上汽集团)".to_owned(),
            "Ningbo Port Group (宁波港集团)".to_owned(),
            "BOE Hefei (合肥京东方)".to_owned(),
            "Nanjing Iron & Steel (南京钢铁)".to_owned(),
        ])
    );
    assert!(
        own.iter()
            .all(|a| json!(a.account.owner_id) == me.body["id"]),
        "li.wei owns each"
    );

    // His visits: a completed one near the site and a planned one per account.
    let page: Page<VisitView> = li
        .get("/visits?limit=100")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(page.items.len(), 8);
    let completed: Vec<_> = page
        .items
        .iter()
        .filter(|v| v.visit.status.as_str() == "completed")
        .collect();
    assert_eq!(completed.len(), 4);
    assert!(
        completed
            .iter()
            .all(|v| !v.check_in_too_far && v.check_in_distance_m.is_some()),
        "the demo check-ins are on site"
    );
    Ok(())
}

#[tokio::test]
async fn the_demo_manager_zhang_min_sees_all_twelve_accounts() -> anyhow::Result<()> {
    let app = demo_app().await?;
    let zhang = demo_login(&app, "zhang.min").await?;
    let all = zhang.list_accounts("").await?;
    assert_eq!(all.len(), 12);
    assert_eq!(names(&all).len(), 12);
    Ok(())
}

#[tokio::test]
async fn the_demo_service_user_zhao_lei_reads_all_twelve_accounts_and_writes_nothing()
-> anyhow::Result<()> {
    let app = demo_app().await?;
    let zhao = demo_login(&app, "zhao.lei").await?;
    let all = zhao.list_accounts("").await?;
    assert_eq!(all.len(), 12);
    let first = &all[0];
    assert_eq!(zhao.account(first.id).await?.account, first.account);
    let page: Page<VisitView> = zhao
        .get("/visits?limit=100")
        .await?
        .ensure_status(200)?
        .json()?;
    assert_eq!(page.items.len(), 24);
    let planned = page
        .items
        .iter()
        .find(|v| v.visit.status.as_str() == "planned")
        .ok_or_else(|| anyhow::anyhow!("the demo has no planned visit"))?;

    zhao.post("/accounts", &new_account("By service"))
        .await?
        .assert_problem(403, "read_only_role");
    zhao.patch(
        &format!("/accounts/{}", first.id),
        &json!({ "notes": "complaint logged" }),
    )
    .await?
    .assert_problem(403, "read_only_role");
    zhao.delete(&format!("/accounts/{}", first.id))
        .await?
        .assert_problem(403, "read_only_role");
    zhao.post(
        "/visits",
        &json!({ "account_id": first.id, "planned_at": chrono::Utc::now(), "type": "phone" }),
    )
    .await?
    .assert_problem(403, "read_only_role");
    zhao.post(
        &format!("/visits/{}/check-in", planned.id),
        &json!({ "location": { "lat": 31.2, "lon": 121.5 } }),
    )
    .await?
    .assert_problem(403, "read_only_role");

    assert_eq!(zhao.list_accounts("").await?.len(), 12);
    let after = zhao.account(first.id).await?;
    assert_eq!(after.account, first.account);
    assert_eq!(after.version, first.version);
    Ok(())
}
