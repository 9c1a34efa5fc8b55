//! Products and sales volume: the catalogue (`/products`, admins write,
//! everyone reads), line items on opportunities (REST and sync) and on
//! contracts with the amount kept as their sum, and the product report
//! (`/reports/products`) with its scoping and CSV.

use anyhow::Context;
use chrono::{Datelike, NaiveDate, Utc};
use kam_server::records::contracts::ContractView;
use kam_server::records::opportunities::OpportunityView;
use kam_server::records::page::Page;
use kam_server::records::products::ProductView;
use kam_server::reports::products::ProductReport;
use kam_sync_core::money::{Money, Total};
use kam_sync_core::{Opportunity, parse_record};
use kam_tests::{Device, Method, Session, TestApp, new_account, sorted};
use serde_json::{Value, json};
use uuid::Uuid;

async fn add_product(admin: &Session, code: &str, price: f64) -> anyhow::Result<ProductView> {
    admin
        .created(
            "/products",
            &json!({"code": code, "name": format!("Product {code}"), "unit": "set", "list_price": price}),
        )
        .await
}

fn line(product: &ProductView, quantity: i64, price: f64) -> Value {
    json!({"id": Uuid::now_v7(), "product_id": product.id, "quantity": quantity, "unit_price": price})
}

fn money(major: f64) -> Total {
    Total::from_minor((major * 100.0).round() as i128)
}

#[tokio::test]
async fn admins_keep_the_catalogue_and_every_role_reads_it() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;

    let created = admin
        .post(
            "/products",
            &json!({"code": " M-100 ", "name": "Smart meter", "unit": "台", "list_price": 1299.5, "description": "Three-phase"}),
        )
        .await?;
    created.assert_status(201);
    let meter: ProductView = created.json()?;
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(
        created.header("location"),
        Some(format!("/api/v1/products/{}", meter.id).as_str())
    );
    assert_eq!(meter.code, "M-100", "trimmed");
    assert_eq!(meter.currency, "CNY");
    assert!(meter.active);

    admin
        .post(
            "/products",
            &json!({"code": "M-100", "name": "Copy", "unit": "台", "list_price": 1}),
        )
        .await?
        .assert_problem(409, "product_code_taken");
    admin
        .post(
            "/products",
            &json!({"code": "X", "name": "", "unit": "台", "list_price": -1}),
        )
        .await?
        .assert_violation("name", "invalid_value")
        .assert_violation("list_price", "out_of_range");
    rep.post(
        "/products",
        &json!({"code": "R-1", "name": "Mine", "unit": "set", "list_price": 1}),
    )
    .await?
    .assert_problem(403, "role_forbidden");
    let cable = add_product(&admin, "C-200", 12.0).await?;

    let read: ProductView = rep.read(&format!("/products/{}", meter.id)).await?;
    assert_eq!(read, meter);
    rep.patch(
        &format!("/products/{}", meter.id),
        &json!({"active": false}),
    )
    .await?
    .assert_problem(403, "role_forbidden");
    let stale = admin
        .send(
            admin
                .request(Method::PATCH, &format!("/products/{}", meter.id))
                .header("If-Match", "\"7\"")
                .json(&json!({"active": false})),
        )
        .await?;
    stale.assert_problem(412, "precondition_failed");
    let retired: ProductView = admin
        .send(
            admin
                .request(Method::PATCH, &format!("/products/{}", meter.id))
                .header("If-Match", "\"1\"")
                .json(&json!({"active": false})),
        )
        .await?
        .ensure_status(200)?
        .json()?;
    assert!(!retired.active);
    assert_eq!(retired.version, 2);
    admin
        .patch(
            &format!("/products/{}", cable.id),
            &json!({"code": "M-100"}),
        )
        .await?
        .assert_problem(409, "product_code_taken");

    let ids = |page: Page<ProductView>| page.items.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(rep.read("/products?active=true").await?), [cable.id]);
    assert_eq!(ids(rep.read("/products?active=false").await?), [meter.id]);
    assert_eq!(ids(rep.read("/products?q=Smart").await?), [meter.id]);
    let first: Page<ProductView> = rep.read("/products?limit=1").await?;
    let cursor = first.next_cursor.clone().context("a second page")?;
    let second: Page<ProductView> = rep
        .read(&format!("/products?limit=1&cursor={cursor}"))
        .await?;
    let mut both = ids(first);
    both.extend(ids(second));
    assert_eq!(sorted(both), sorted(vec![meter.id, cable.id]));
    rep.get(&format!("/products/{}", Uuid::now_v7()))
        .await?
        .assert_problem(404, "not_found");
    Ok(())
}

#[tokio::test]
async fn a_deals_amount_is_the_sum_of_its_lines_over_rest() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let meter = add_product(&admin, "M-100", 1299.5).await?;
    let cable = add_product(&admin, "C-200", 12.0).await?;
    let account = rep.create_account(new_account("Ningbo Grid")).await?;

    let mut discounted = line(&meter, 10, 1299.5);
    discounted["discount_percent"] = json!(5);
    let deal: OpportunityView = rep
        .created(
            "/opportunities",
            &json!({"account_id": account.id, "name": "Meters", "stage": "negotiation",
                    "line_items": [discounted, line(&cable, 300, 12.0)]}),
        )
        .await?;
    // 10 × 1299.50 × 0.95 = 12345.25, and 300 × 12 = 3600.
    assert_eq!(deal.opportunity.amount, Money::from_minor(1_594_525));
    assert_eq!(deal.weighted_amount, Money::from_minor(797_263));

    let mut lines = serde_json::to_value(&deal.opportunity.line_items)?;
    lines[1]["quantity"] = json!(100);
    let changed: OpportunityView = rep
        .patched(
            &format!("/opportunities/{}", deal.id),
            &json!({"line_items": lines}),
        )
        .await?;
    assert_eq!(changed.opportunity.amount, Money::from_minor(1_354_525));

    rep.patch(
        &format!("/opportunities/{}", deal.id),
        &json!({"amount": 1.0}),
    )
    .await?
    .assert_violation("amount", "amount_mismatch");
    let mut unknown = lines.clone();
    unknown.as_array_mut().context("lines are a list")?.push(
        json!({"id": Uuid::now_v7(), "product_id": Uuid::now_v7(), "quantity": 1, "unit_price": 1}),
    );
    rep.patch(
        &format!("/opportunities/{}", deal.id),
        &json!({"line_items": unknown}),
    )
    .await?
    .assert_violation("line_items", "unknown_product");
    rep.patch(
        &format!("/opportunities/{}", deal.id),
        &json!({"line_items": [{"id": Uuid::now_v7(), "product_id": meter.id, "quantity": 0, "unit_price": 1}]}),
    )
    .await?
    .assert_violation("line_items.0.quantity", "out_of_range");

    // A product retired later stays on the lines that have it; no new line adds it.
    admin
        .patch(
            &format!("/products/{}", meter.id),
            &json!({"active": false}),
        )
        .await?
        .ensure_status(200)?;
    lines[0]["quantity"] = json!(20);
    let kept: OpportunityView = rep
        .patched(
            &format!("/opportunities/{}", deal.id),
            &json!({"line_items": lines}),
        )
        .await?;
    assert_eq!(kept.opportunity.line_items[0].quantity, 20);
    let other = rep
        .post(
            "/opportunities",
            &json!({"account_id": account.id, "name": "More meters", "line_items": [line(&meter, 1, 1.0)]}),
        )
        .await?;
    other.assert_violation("line_items", "inactive_product");
    let reread: OpportunityView = rep.read(&format!("/opportunities/{}", deal.id)).await?;
    assert_eq!(
        reread.opportunity, kept.opportunity,
        "refusals changed nothing"
    );
    Ok(())
}

#[tokio::test]
async fn sync_settles_a_deals_amount_from_its_lines_and_puts_back_an_unknown_product()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let meter = add_product(&admin, "M-100", 100.0).await?;
    let account = rep.create_account(new_account("Suzhou Water")).await?;
    let mut phone = Device::new(&app, &org.rep_a1, "phone").await?;
    let mut tablet = Device::new(&app, &org.rep_a1, "tablet").await?;
    phone.sync().await?;
    tablet.sync().await?;

    let deal: Opportunity = parse_record(json!({
        "account_id": account.id, "name": "Meters", "owner_id": org.rep_a1.id,
        "amount": 5, "line_items": [line(&meter, 3, 100.0)],
    }))?;
    let id = phone.create(&deal)?;
    let outcome = phone.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["amount_mismatch"], "{:?}", outcome.notices);
    assert_eq!(phone.json(id)["amount"], json!(300));

    // A line changed offline, the amount left alone: it follows, no notice.
    let mut lines = phone.json(id)["line_items"].clone();
    lines[0]["quantity"] = json!(4);
    phone.edit::<Opportunity>(id, json!({"line_items": lines}))?;
    let outcome = phone.sync().await?;
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);
    assert_eq!(phone.json(id)["amount"], json!(400));

    let mut unknown = lines.clone();
    unknown.as_array_mut().context("lines are a list")?.push(
        json!({"id": Uuid::now_v7(), "product_id": Uuid::now_v7(), "quantity": 1, "unit_price": 1}),
    );
    tablet.sync().await?;
    tablet.edit::<Opportunity>(id, json!({"line_items": unknown, "next_step": "Quote"}))?;
    let outcome = tablet.sync().await?;
    let codes: Vec<_> = outcome.notices.iter().map(|n| n.code.as_str()).collect();
    assert_eq!(codes, ["unknown_product"]);
    assert_eq!(tablet.json(id)["line_items"], lines);
    assert_eq!(tablet.json(id)["next_step"], json!("Quote"));
    phone.sync().await?;
    assert_eq!(phone.json(id), tablet.json(id));
    let server: OpportunityView = rep.read(&format!("/opportunities/{id}")).await?;
    assert_eq!(serde_json::to_value(&server.opportunity)?, phone.json(id));
    Ok(())
}

#[tokio::test]
async fn contracts_carry_lines_and_a_won_deal_passes_its_lines_to_its_contract()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let meter = add_product(&admin, "M-100", 100.0).await?;
    let account = rep.create_account(new_account("Hefei Metro")).await?;

    let contract: ContractView = rep
        .created(
            "/contracts",
            &json!({"number": "HT-1", "account_id": account.id, "line_items": [line(&meter, 7, 100.0)]}),
        )
        .await?;
    assert_eq!(
        contract.amount,
        Money::from_minor(70_000).context("amount")?
    );
    rep.post(
        "/contracts",
        &json!({"number": "HT-2", "account_id": account.id, "amount": 1, "line_items": [line(&meter, 7, 100.0)]}),
    )
    .await?
    .assert_violation("amount", "amount_mismatch");
    rep.post(
        "/contracts",
        &json!({"number": "HT-3", "account_id": account.id}),
    )
    .await?
    .assert_violation("amount", "required");
    let mut lines = serde_json::to_value(&contract.line_items)?;
    lines[0]["unit_price"] = json!(90);
    let changed: ContractView = rep
        .patched(
            &format!("/contracts/{}", contract.id),
            &json!({"line_items": lines}),
        )
        .await?;
    assert_eq!(changed.amount, Money::from_minor(63_000).context("amount")?);

    let deal: OpportunityView = rep
        .created(
            "/opportunities",
            &json!({"account_id": account.id, "name": "Meters", "stage": "contract",
                    "line_items": [line(&meter, 2, 100.0)]}),
        )
        .await?;
    rep.patched::<OpportunityView>(
        &format!("/opportunities/{}", deal.id),
        &json!({"stage": "won"}),
    )
    .await?;
    let closing: ContractView = rep
        .created(
            &format!("/opportunities/{}/contract", deal.id),
            &json!({"number": "HT-4"}),
        )
        .await?;
    assert_eq!(closing.line_items, deal.opportunity.line_items);
    assert_eq!(closing.amount, Money::from_minor(20_000).context("amount")?);
    Ok(())
}

#[tokio::test]
async fn the_product_report_adds_up_signed_and_open_volume_per_product_within_scope()
-> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let admin = app.login_as(&org.admin).await?;
    let meter = add_product(&admin, "M-100", 100.0).await?;
    let cable = add_product(&admin, "C-200", 10.0).await?;
    let today = Utc::now().date_naive();
    let month = NaiveDate::from_ymd_opt(today.year(), today.month(), 1).context("a month")?;
    let (a1, b1) = (
        app.login_as(&org.rep_a1).await?,
        app.login_as(&org.rep_b1).await?,
    );
    for (session, name, number, lines) in [
        (&a1, "A1 Steel", "HT-A1", vec![line(&meter, 3, 100.0)]),
        (
            &b1,
            "B1 Steel",
            "HT-B1",
            vec![line(&meter, 5, 100.0), line(&cable, 10, 10.0)],
        ),
    ] {
        let account = session.create_account(new_account(name)).await?;
        session
            .created::<ContractView>(
                "/contracts",
                &json!({"number": number, "account_id": account.id, "status": "active",
                        "signed_on": today, "line_items": lines}),
            )
            .await?;
        let deal = session
            .created::<OpportunityView>(
                "/opportunities",
                &json!({"account_id": account.id, "name": "More", "stage": "negotiation",
                        "expected_close_on": today, "line_items": [line(&cable, 4, 10.0)]}),
            )
            .await?;
        // A later edit that leaves the lines alone keeps their rows.
        session
            .patched::<OpportunityView>(
                &format!("/opportunities/{}", deal.id),
                &json!({"next_step": "Send the samples"}),
            )
            .await?;
    }
    // A deal expected to close next year is not in this month's figures.
    let account = a1.create_account(new_account("Later Steel")).await?;
    a1.created::<OpportunityView>(
        "/opportunities",
        &json!({"account_id": account.id, "name": "Later", "stage": "planning",
                "expected_close_on": today.with_year(today.year() + 1), "line_items": [line(&meter, 99, 100.0)]}),
    )
    .await?;

    let query = format!("/reports/products?group_by=rep&period=month&period_start={month}");
    let all: ProductReport = admin.read(&query).await?;
    let total = |report: &ProductReport, code: &str| {
        report
            .totals
            .iter()
            .find(|row| row.product.code == code)
            .map(|row| row.figures)
    };
    let meters = total(&all, "M-100").context("meters sold")?;
    assert_eq!(
        (meters.signed_quantity, meters.contracts, meters.revenue),
        (8, 2, money(800.0))
    );
    assert_eq!(meters.open_quantity, 0);
    let cables = total(&all, "C-200").context("cables")?;
    assert_eq!(
        (cables.signed_quantity, cables.open_quantity),
        (10, 8),
        "{all:?}"
    );
    assert_eq!(
        (cables.open_amount, cables.weighted_amount),
        (money(80.0), money(40.0))
    );
    assert_eq!(all.revenue, money(900.0));
    assert_eq!(all.rows.len(), 4, "{:?}", all.rows);
    assert_eq!(all.rows[0].group.id, Some(org.rep_a1.id));

    let mine: ProductReport = a1.read(&query).await?;
    assert!(mine.rows.iter().all(|r| r.group.id == Some(org.rep_a1.id)));
    assert_eq!(
        total(&mine, "M-100").map(|f| f.signed_quantity),
        Some(3),
        "a rep's report holds only his accounts"
    );
    let manager = app.login_as(&org.manager).await?;
    let team: ProductReport = manager.read(&query).await?;
    assert_eq!(total(&team, "M-100").map(|f| f.signed_quantity), Some(3));
    let service = app.login_as(&org.service).await?;
    service
        .get(&query)
        .await?
        .assert_problem(403, "role_forbidden");

    let csv = admin.get(&format!("{query}&format=csv")).await?;
    csv.assert_status(200);
    let text = csv.body.as_str().unwrap_or_default();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "group_id,group_name,product_id,product_code,product_name,unit,signed_quantity,revenue,contracts,open_quantity,open_amount,weighted_amount,currency"
        )
    );
    assert_eq!(lines.count(), 4 + 2, "a line per row, then per product");
    Ok(())
}

#[tokio::test]
async fn a_search_text_longer_than_a_name_is_a_bad_query() -> anyhow::Result<()> {
    let app = TestApp::spawn().await;
    let org = app.seed_org().await?;
    let rep = app.login_as(&org.rep_a1).await?;
    let long = "x".repeat(201);
    rep.get(&format!("/products?q={long}"))
        .await?
        .assert_problem(400, "invalid_query");
    Ok(())
}
