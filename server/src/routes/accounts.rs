//! `/accounts`: key accounts, scoped by role.

use super::{JsonObject, if_match, merge_patch_schema, new_record_schema, record_response};
use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::records::accounts::{
    self, AccountFilter, AccountView, TierProposalFilter, TierRejectionRequest,
};
use crate::records::page::Page;
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use kam_sync_core::Account;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

merge_patch_schema!(
    /// A merge patch of an account.
    AccountPatch for Account
);

new_record_schema!(
    /// A new account; `owner_id` defaults to the caller, `team_id` is set by the server.
    NewAccount for Account, defaulted: ["owner_id"]
);

/// Mounts the account routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(list_accounts)
        .service(create_account)
        .service(get_account)
        .service(patch_account)
        .service(delete_account)
        .service(list_tier_proposals)
        .service(confirm_tier)
        .service(reject_tier)
        .service(list_at_risk_proposals)
        .service(confirm_at_risk)
        .service(dismiss_at_risk);
}

/// List the accounts in the caller's scope, newest first.
#[utoipa::path(
    tag = "accounts",
    params(AccountFilter),
    responses((status = 200, body = Page<AccountView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/accounts")]
async fn list_accounts(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<AccountFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(accounts::list(&state, &caller, filter.into_inner()).await?))
}

/// Create an account. A device may choose its id; a rep owns what they create
/// and cannot set a confirmed tier.
#[utoipa::path(
    tag = "accounts",
    request_body = NewAccount,
    responses(
        (status = 201, body = AccountView, headers(("ETag" = String), ("Location" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/accounts")]
async fn create_account(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<JsonObject>,
) -> ApiResult<HttpResponse> {
    let view = accounts::create(&state, &caller, body.into_inner()).await?;
    let mut response = record_response(StatusCode::CREATED, view.version, &view);
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/accounts/{}", view.id))
            .map_err(crate::error::ApiError::internal)?,
    );
    Ok(response)
}

/// Read an account: the merged record and any concurrent values.
#[utoipa::path(
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id")),
    responses((status = 200, body = AccountView, headers(("ETag" = String))), ReadErrors),
    security(("bearer" = []))
)]
#[get("/accounts/{id}")]
async fn get_account(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = accounts::get(&state, &caller, id.into_inner()).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Change an account with a JSON merge patch, applied as one Automerge change
/// on the caller's behalf. `If-Match` is optional: edits merge without it.
/// Only the account's managers (an admin, its branch's director, a manager
/// leading its team) change its owner (403 `owner_change_forbidden`), and
/// they or its owner who it is shared with (403 `share_change_forbidden`);
/// an account shared with a manager gives her a rep's rights on it.
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body(content((AccountPatch = "application/merge-patch+json"), (AccountPatch = "application/json"))),
    responses((status = 200, body = AccountView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/accounts/{id}")]
async fn patch_account(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<JsonObject>,
) -> ApiResult<HttpResponse> {
    let view = accounts::update(
        &state,
        &caller,
        id.into_inner(),
        body.into_inner(),
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Delete an account (soft: `deleted` becomes true, and merges like any edit).
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    responses((status = 204, description = "Deleted"), WriteErrors),
    security(("bearer" = []))
)]
#[delete("/accounts/{id}")]
async fn delete_account(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let mut patch = JsonObject::new();
    patch.insert("deleted".into(), true.into());
    accounts::update(
        &state,
        &caller,
        id.into_inner(),
        patch,
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List the tier proposals waiting for a decision in the caller's scope,
/// newest first, each account with its score and suggested tier (managers
/// and above).
#[utoipa::path(
    tag = "accounts",
    params(TierProposalFilter),
    responses((status = 200, body = Page<AccountView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/tier-proposals")]
async fn list_tier_proposals(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<TierProposalFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(accounts::tier_proposals(&state, &caller, filter.into_inner()).await?))
}

/// Confirm the tier proposed for an account: it becomes the account's tier
/// and the proposal is cleared, as one change devices receive (managers and
/// above; 409 `no_tier_proposal` when none waits).
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    responses((status = 200, body = AccountView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[post("/accounts/{id}/tier/confirm")]
async fn confirm_tier(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let view =
        accounts::confirm_tier(&state, &caller, id.into_inner(), if_match(&req).as_ref()).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Turn down the tier proposed for an account: the proposal is cleared and
/// the reason recorded in `tier_rejection`, as one change devices receive
/// (managers and above; 409 `no_tier_proposal` when none waits).
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body = TierRejectionRequest,
    responses((status = 200, body = AccountView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[post("/accounts/{id}/tier/reject")]
async fn reject_tier(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<TierRejectionRequest>,
) -> ApiResult<HttpResponse> {
    let view = accounts::reject_tier(
        &state,
        &caller,
        id.into_inner(),
        body.into_inner(),
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// List the accounts the server proposes moving to `at_risk` (their health
/// fell into the at-risk band), in the caller's scope, newest first, each
/// with its health and warnings (managers and above).
#[utoipa::path(
    tag = "accounts",
    params(TierProposalFilter),
    responses((status = 200, body = Page<AccountView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/at-risk-proposals")]
async fn list_at_risk_proposals(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<TierProposalFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .json(accounts::at_risk_proposals(&state, &caller, filter.into_inner()).await?))
}

/// Confirm the server's at-risk proposal: the account moves to `at_risk`
/// with its warning codes as `risk_reasons`, as one change devices receive
/// (the account's managers; 409 `no_at_risk_proposal` when none waits).
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    responses((status = 200, body = AccountView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[post("/accounts/{id}/at-risk/confirm")]
async fn confirm_at_risk(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let view = accounts::confirm_at_risk(&state, &caller, id.into_inner(), if_match(&req).as_ref())
        .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Dismiss the server's at-risk proposal: it is not proposed again for the
/// same warnings while the account stays in the at-risk band (the
/// account's managers; 409 `no_at_risk_proposal` when none waits).
#[utoipa::path(
    tag = "accounts",
    params(
        ("id" = Uuid, Path, description = "Account id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    responses((status = 200, body = AccountView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[post("/accounts/{id}/at-risk/dismiss")]
async fn dismiss_at_risk(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let view = accounts::dismiss_at_risk(&state, &caller, id.into_inner(), if_match(&req).as_ref())
        .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}
