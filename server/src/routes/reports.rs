//! `/reports/*`: sales analysis (销售数据分析) for a branch or a team, one
//! call per report (see docs/reports.md and [`crate::reports`]):
//! sales, pipeline by group, funnel, service, accounts, coverage and products. (The one-scope
//! pipeline, `/reports/pipeline`, is mounted with the opportunities.)
//! Each answers JSON, or CSV with `format=csv` or `Accept: text/csv`.

use super::csv_io::{CSV, csv_attachment};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::ReportErrors;
use crate::reports::accounts::{self, AccountsReport};
use crate::reports::coverage::{self, CoverageReport};
use crate::reports::funnel::{self, FunnelReport};
use crate::reports::pipeline::{self, PipelineReport};
use crate::reports::products::{self, ProductReport};
use crate::reports::sales::{self, SalesReport};
use crate::reports::service::{self, ServiceReport};
use crate::reports::{Period, ReportFormat, ReportParams};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::Utc;
use serde::Serialize;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the report routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(sales_report)
        .service(pipeline_report)
        .service(funnel_report)
        .service(service_report)
        .service(accounts_report)
        .service(coverage_report)
        .service(products_report);
}

/// Whether the caller asked for CSV: `format=csv`, or no `format` and an
/// `Accept` header naming `text/csv`.
fn wants_csv(req: &HttpRequest, params: &ReportParams) -> bool {
    match params.format {
        Some(format) => format == ReportFormat::Csv,
        None => req
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| {
                item.split(';')
                    .next()
                    .is_some_and(|media| media.trim().eq_ignore_ascii_case(CSV))
            }),
    }
}

/// The parameters' period, as of today (UTC), once they are checked
/// whole (a currency is refused by the reports without money, too).
fn period(params: &ReportParams) -> ApiResult<Period> {
    params.currency()?;
    params.period(Utc::now().date_naive())
}

/// `report` as JSON, or as the CSV file `name`.csv that `csv` makes of it.
fn answer<R: Serialize>(
    req: &HttpRequest,
    params: &ReportParams,
    name: &str,
    report: R,
    csv: impl FnOnce(R) -> ApiResult<Vec<u8>>,
) -> ApiResult<HttpResponse> {
    if !wants_csv(req, params) {
        return Ok(HttpResponse::Ok().json(report));
    }
    Ok(csv_attachment(&format!("{name}-report"), csv(report)?))
}

/// Sales per group: revenue and contracts signed, new key accounts and
/// completed visits, each against its target. Figures count as target
/// progress does, grouped by the user they count for. Reps, managers,
/// directors and admins (403 `role_forbidden` for service).
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group, then the totals)",
         content((SalesReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/sales")]
async fn sales_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = sales::report(state.db.conn(), &caller, &params, period(&params)?).await?;
    answer(&req, &params, "sales", report, SalesReport::csv)
}

/// The open pipeline per group by the deal's owner: amounts and weighted
/// amounts by stage, and what is expected to close in each month of the
/// period. `GET /reports/pipeline` is the same pipeline for the caller's
/// whole scope at a glance (every stage, won and lost). Reps, managers,
/// directors and admins (403 `role_forbidden` for service).
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group, then the totals)",
         content((PipelineReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/pipeline/by-group")]
async fn pipeline_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = pipeline::report(state.db.conn(), &caller, &params, period(&params)?).await?;
    answer(&req, &params, "pipeline", report, PipelineReport::csv)
}

/// The funnel per group by the deal's owner: deals entering each stage,
/// stage-to-stage conversion, average days per stage, win rate, won amount,
/// cycle time and loss reasons ranked. Reps, managers, directors and
/// admins (403 `role_forbidden` for service).
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group, then the totals)",
         content((FunnelReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/funnel")]
async fn funnel_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = funnel::report(state.db.conn(), &caller, &params, period(&params)?).await?;
    answer(&req, &params, "funnel", report, FunnelReport::csv)
}

/// Service per group by the account's owner: tickets by severity and type,
/// SLA compliance, resolution time, callbacks done and satisfaction with
/// its monthly trend. Every role but none: customer service reads it too.
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group, then the totals)",
         content((ServiceReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/service")]
async fn service_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = service::report(
        state.db.conn(),
        &caller,
        &params,
        period(&params)?,
        Utc::now(),
    )
    .await?;
    answer(&req, &params, "service", report, ServiceReport::csv)
}

/// Accounts per group by their owner: by tier and stage now, and those
/// created, won back, lost and moved to at risk in the period. Reps,
/// managers, directors and admins (403 `role_forbidden` for service).
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group, then the totals)",
         content((AccountsReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/accounts")]
async fn accounts_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = accounts::report(state.db.conn(), &caller, &params, period(&params)?).await?;
    answer(&req, &params, "accounts", report, AccountsReport::csv)
}

/// Coverage per group by the account's owner: accounts per tier, the share
/// visited within the tier's cadence, the overdue ones (the 100 most
/// overdue listed), and the minutes of visits checked in during the period
/// per tier beside the tier's share of accounts (the 30% rule). Reps,
/// managers, directors and admins (403 `role_forbidden` for service).
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group, then the totals; the overdue list in JSON only)",
         content((CoverageReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/coverage")]
async fn coverage_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = coverage::report(
        state.db.conn(),
        &caller,
        &params,
        period(&params)?,
        Utc::now(),
    )
    .await?;
    answer(&req, &params, "coverage", report, CoverageReport::csv)
}

/// Volume and revenue per product (产品销量) and group: the line items of
/// the contracts signed in the period (by the user each counts for), and
/// of the open deals expected to close in it (by the deal's owner), with
/// the weighted amount; then each product over every group. Reps,
/// managers, directors and admins (403 `role_forbidden` for service).
#[utoipa::path(
    tag = "reports",
    params(ReportParams),
    responses(
        (status = 200, description = "The report (CSV: one line per group and product, then a `Total` line per product)",
         content((ProductReport = "application/json"), (String = "text/csv"))),
        ReportErrors
    ),
    security(("bearer" = []))
)]
#[get("/reports/products")]
async fn products_report(
    state: web::Data<AppState>,
    caller: AuthUser,
    params: web::Query<ReportParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let params = params.into_inner();
    let report = products::report(state.db.conn(), &caller, &params, period(&params)?).await?;
    answer(&req, &params, "products", report, ProductReport::csv)
}
