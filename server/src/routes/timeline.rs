//! `/accounts/{id}/timeline`: the customer file (客户档案), everything that
//! happened to an account and the records under it, newest first.

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::ReadErrors;
use crate::records::page::Page;
use crate::records::timeline::{self, TimelineEntry, TimelineFilter};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// Mounts the timeline route.
pub fn configure(config: &mut ServiceConfig) {
    config.service(account_timeline);
}

/// An account's timeline: every change to the account and to every record
/// under it (visits, ...), with who made it, from which device, and each
/// field's old and new value, newest first. Soft-deleted records keep
/// their history.
#[utoipa::path(
    operation_id = "getAccountTimeline",
    tag = "accounts",
    params(("id" = Uuid, Path, description = "Account id"), TimelineFilter),
    responses((status = 200, body = Page<TimelineEntry>), ReadErrors),
    security(("bearer" = []))
)]
#[get("/accounts/{id}/timeline")]
async fn account_timeline(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    filter: web::Query<TimelineFilter>,
) -> ApiResult<HttpResponse> {
    let page = timeline::list(&state, &caller, id.into_inner(), filter.into_inner()).await?;
    Ok(HttpResponse::Ok().json(page))
}
