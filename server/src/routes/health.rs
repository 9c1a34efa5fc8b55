//! `/healthz` (the process is up) and `/readyz` (it can reach its database).

use crate::error::responses::ReadinessErrors;
use crate::error::{ApiError, ApiResult, ErrorCode};
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
        ReadinessErrors,
    )
)]
#[get("/readyz")]
async fn readyz(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    if state.db.ping().await {
        Ok(HttpResponse::Ok().json(Health { status: "ok" }))
    } else {
        Err(ApiError::new(
            ErrorCode::DatabaseUnavailable,
            "the database does not answer",
        ))
    }
}
