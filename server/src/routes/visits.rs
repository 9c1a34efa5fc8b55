//! `/visits`: planned and logged visits, with check-in and check-out.

use super::{JsonObject, if_match, merge_patch_schema, new_record_schema, record_response};
use crate::auth::AuthUser;
use crate::error::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::error::{ApiError, ApiResult};
use crate::records::page::Page;
use crate::records::visits::{self, CheckRequest, VisitChange, VisitFilter, VisitView};
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use kam_sync_core::Visit;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

merge_patch_schema!(
    /// A merge patch of a visit.
    VisitPatch for Visit
);

new_record_schema!(
    /// A new visit; `owner_id` defaults to the caller.
    NewVisit for Visit, defaulted: ["owner_id"]
);

/// Mounts the visit routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(list_visits)
        .service(create_visit)
        .service(get_visit)
        .service(patch_visit)
        .service(delete_visit)
        .service(check_in)
        .service(check_out);
}

/// List the visits under the accounts in the caller's scope, newest first.
#[utoipa::path(
    tag = "visits",
    params(VisitFilter),
    responses((status = 200, body = Page<VisitView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/visits")]
async fn list_visits(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<VisitFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(visits::list(&state, &caller, filter.into_inner()).await?))
}

/// Plan or log a visit to an account the caller can see.
#[utoipa::path(
    tag = "visits",
    request_body = NewVisit,
    responses(
        (status = 201, body = VisitView, headers(("ETag" = String), ("Location" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/visits")]
async fn create_visit(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<JsonObject>,
) -> ApiResult<HttpResponse> {
    let view = visits::create(&state, &caller, body.into_inner()).await?;
    let mut response = record_response(StatusCode::CREATED, view.version, &view);
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/visits/{}", view.id))
            .map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// Read a visit: the merged record, check-in distance and any concurrent values.
#[utoipa::path(
    tag = "visits",
    params(("id" = Uuid, Path, description = "Visit id")),
    responses((status = 200, body = VisitView, headers(("ETag" = String))), ReadErrors),
    security(("bearer" = []))
)]
#[get("/visits/{id}")]
async fn get_visit(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = visits::get(&state, &caller, id.into_inner()).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Change a visit with a JSON merge patch (steps, summary, outcome, next steps, ...).
#[utoipa::path(
    tag = "visits",
    params(
        ("id" = Uuid, Path, description = "Visit id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body(content((VisitPatch = "application/merge-patch+json"), (VisitPatch = "application/json"))),
    responses((status = 200, body = VisitView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/visits/{id}")]
async fn patch_visit(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<JsonObject>,
) -> ApiResult<HttpResponse> {
    let change = VisitChange::Patch(body.into_inner());
    let view = visits::update(
        &state,
        &caller,
        id.into_inner(),
        change,
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Delete a visit (soft: `deleted` becomes true).
#[utoipa::path(
    tag = "visits",
    params(
        ("id" = Uuid, Path, description = "Visit id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []))
)]
#[delete("/visits/{id}")]
async fn delete_visit(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let mut patch = JsonObject::new();
    patch.insert("deleted".into(), true.into());
    visits::update(
        &state,
        &caller,
        id.into_inner(),
        VisitChange::Patch(patch),
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Check in on site: records time and GPS, and the visit is under way.
/// The response tells how far the device was from the account's location.
#[utoipa::path(
    tag = "visits",
    params(("id" = Uuid, Path, description = "Visit id")),
    request_body = CheckRequest,
    responses((status = 200, body = VisitView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[post("/visits/{id}/check-in")]
async fn check_in(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    body: Json<CheckRequest>,
) -> ApiResult<HttpResponse> {
    let change = VisitChange::CheckIn(body.into_inner());
    let view = visits::update(&state, &caller, id.into_inner(), change, None).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Check out: records time and GPS, and the visit is completed.
#[utoipa::path(
    tag = "visits",
    params(("id" = Uuid, Path, description = "Visit id")),
    request_body = CheckRequest,
    responses((status = 200, body = VisitView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[post("/visits/{id}/check-out")]
async fn check_out(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    body: Json<CheckRequest>,
) -> ApiResult<HttpResponse> {
    let change = VisitChange::CheckOut(body.into_inner());
    let view = visits::update(&state, &caller, id.into_inner(), change, None).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}
