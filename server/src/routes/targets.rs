//! `/targets`: sales targets (销售目标) per period, org level and metric,
//! their decomposition (分解) and their progress. Progress comes two ways:
//! `GET /targets/{id}/progress` for one target, and `with_progress=true` on
//! the list for a report of many (filter it by period and metric).

use super::{if_match, record_response};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::{ListErrors, RoleReadErrors, WriteErrors};
use crate::records::page::Page;
use crate::records::targets::{
    self, Decomposition, NewTarget, TargetChange, TargetFilter, TargetView,
};
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// Mounts the target routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(list_targets)
        .service(create_target)
        .service(get_target)
        .service(patch_target)
        .service(delete_target)
        .service(get_decomposition)
        .service(get_progress);
}

/// List the targets the caller may read, newest first; with
/// `with_progress=true` each carries its progress.
#[utoipa::path(
    tag = "targets",
    params(TargetFilter),
    responses((status = 200, body = Page<TargetView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/targets")]
async fn list_targets(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<TargetFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(targets::list(&state, &caller, filter.into_inner()).await?))
}

/// Set a target (managers for their teams and reps, directors for their
/// branch and below, admins and directors without a branch for all). One
/// per period, level, subject and metric (409 `target_exists`); the parts
/// of a target may not add up to more than it (422 `decomposition_exceeded`).
#[utoipa::path(
    tag = "targets",
    request_body = NewTarget,
    responses(
        (status = 201, body = TargetView, headers(("ETag" = String), ("Location" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/targets")]
async fn create_target(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<NewTarget>,
) -> ApiResult<HttpResponse> {
    let view = targets::create(&state, &caller, body.into_inner()).await?;
    let mut response = record_response(StatusCode::CREATED, view.version, &view);
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/targets/{}", view.id))
            .map_err(crate::error::ApiError::internal)?,
    );
    Ok(response)
}

/// Read a target.
#[utoipa::path(
    tag = "targets",
    params(("id" = Uuid, Path, description = "Target id")),
    responses((status = 200, body = TargetView, headers(("ETag" = String))), RoleReadErrors),
    security(("bearer" = []))
)]
#[get("/targets/{id}")]
async fn get_target(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = targets::get(&state, &caller, id.into_inner()).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Change a target's value; raising a part past its whole or lowering a
/// whole below its parts is a 422 `decomposition_exceeded`.
#[utoipa::path(
    tag = "targets",
    params(
        ("id" = Uuid, Path, description = "Target id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body = TargetChange,
    responses((status = 200, body = TargetView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/targets/{id}")]
async fn patch_target(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<TargetChange>,
) -> ApiResult<HttpResponse> {
    let view = targets::update(
        &state,
        &caller,
        id.into_inner(),
        body.into_inner(),
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Delete a target; its parts stay.
#[utoipa::path(
    tag = "targets",
    params(
        ("id" = Uuid, Path, description = "Target id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []))
)]
#[delete("/targets/{id}")]
async fn delete_target(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    targets::delete(&state, &caller, id.into_inner(), if_match(&req).as_ref()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A target's decomposition (分解): its parts one level down, their sum,
/// the gap not yet allocated, and who one level down has no target yet.
#[utoipa::path(
    operation_id = "getTargetDecomposition",
    tag = "targets",
    params(("id" = Uuid, Path, description = "Target id")),
    responses((status = 200, body = Decomposition), RoleReadErrors),
    security(("bearer" = []))
)]
#[get("/targets/{id}/decomposition")]
async fn get_decomposition(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(targets::decomposition(&state, &caller, id.into_inner()).await?))
}

/// A target with its progress: the actual value in the period for its
/// subject, and the attainment (actual / target). Revenue sums the
/// contracts signed in the period, active or completed, in the target's
/// currency, owned by the subject's users; signed_contracts counts them
/// (any currency); new_key_accounts counts strategic and key accounts
/// created in the period and owned there; visits counts the completed
/// visits planned in the period by them. Periods run midnight to midnight UTC.
#[utoipa::path(
    operation_id = "getTargetProgress",
    tag = "targets",
    params(("id" = Uuid, Path, description = "Target id")),
    responses((status = 200, body = TargetView), RoleReadErrors),
    security(("bearer" = []))
)]
#[get("/targets/{id}/progress")]
async fn get_progress(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(targets::progress(&state, &caller, id.into_inner()).await?))
}
