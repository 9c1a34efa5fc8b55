//! `/contracts`: contracts (合同) under the accounts the caller sees. There
//! is no `DELETE`: a contract is a legal record, it is terminated instead.

use super::{JsonObject, if_match, merge_patch_schema, record_response};
use crate::auth::AuthUser;
use crate::error::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::error::{ApiError, ApiResult};
use crate::records::contracts::{self, ContractFields, ContractFilter, ContractView, NewContract};
use crate::records::page::Page;
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

merge_patch_schema!(
    /// A merge patch of a contract.
    ContractPatch for ContractFields
);

/// Mounts the contract routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(list_contracts)
        .service(create_contract)
        .service(get_contract)
        .service(patch_contract);
}

/// List the contracts under the accounts in the caller's scope, newest first.
#[utoipa::path(
    tag = "contracts",
    params(ContractFilter),
    responses((status = 200, body = Page<ContractView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/contracts")]
async fn list_contracts(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<ContractFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(contracts::list(&state, &caller, filter.into_inner()).await?))
}

/// Create a contract under an account the caller can see (not the service
/// role). A number another contract has is a 409 `contract_number_taken`.
/// The opportunity it closes belongs to the same account (422
/// `other_account`; `unknown_opportunity` for one the caller cannot see).
#[utoipa::path(
    tag = "contracts",
    request_body = NewContract,
    responses(
        (status = 201, body = ContractView, headers(("ETag" = String), ("Location" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/contracts")]
async fn create_contract(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<NewContract>,
) -> ApiResult<HttpResponse> {
    let view = contracts::create_one(&state, &caller, body.into_inner()).await?;
    let mut response = record_response(StatusCode::CREATED, view.version, &view);
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/contracts/{}", view.id))
            .map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// Read a contract.
#[utoipa::path(
    tag = "contracts",
    params(("id" = Uuid, Path, description = "Contract id")),
    responses((status = 200, body = ContractView, headers(("ETag" = String))), ReadErrors),
    security(("bearer" = []))
)]
#[get("/contracts/{id}")]
async fn get_contract(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = contracts::get(&state, &caller, id.into_inner()).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Change a contract with a JSON merge patch. Status moves: `draft` →
/// `active` (needs `signed_on`) → `completed` | `terminated`, and a draft
/// may be terminated; other moves are a 409 `invalid_status_move`. A
/// completed or terminated contract takes only notes (409 `contract_closed`).
/// An opportunity it is made to close is held to the rule of creation.
#[utoipa::path(
    tag = "contracts",
    params(
        ("id" = Uuid, Path, description = "Contract id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body(content((ContractPatch = "application/merge-patch+json"), (ContractPatch = "application/json"))),
    responses((status = 200, body = ContractView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/contracts/{id}")]
async fn patch_contract(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<JsonObject>,
) -> ApiResult<HttpResponse> {
    let view = contracts::update(
        &state,
        &caller,
        id.into_inner(),
        body.into_inner(),
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}
