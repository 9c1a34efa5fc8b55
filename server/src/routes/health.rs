//! `/healthz` (the process is up) and `/readyz` (it can reach its database).

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the probes.
pub fn configure(config: &mut ServiceConfig) {
    config.service(healthz).service(readyz);
}

/// A probe's answer.
#[derive(Serialize, ToSchema)]
struct Health {
    /// `ok`.
    status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(
    operation_id = "getHealth",
    tag = "health",
    responses((status = 200, body = Health))
)]
#[get("/healthz")]
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(
    operation_id = "getReadiness",
    tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, description = "The database is unreachable", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if state.db.ping().await {
        Ok(HttpResponse::Ok().json(Health { status: "ok" }))
    } else {
        Err(ApiError::new(
            actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database does not answer",
        ))
    }
}
