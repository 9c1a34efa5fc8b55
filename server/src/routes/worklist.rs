//! `/worklist`: what the caller should do next, most urgent first (see
//! `worklist` and docs/worklist.md).

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::WorklistErrors;
use crate::state::AppState;
use crate::worklist::{self, Worklist, WorklistQuery};
use actix_web::{HttpResponse, get, web};
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the worklist route.
pub fn configure(config: &mut ServiceConfig) {
    config.service(get_worklist);
}

/// What the caller should do next, most urgent first: visits due or still
/// planned after their time, plan actions due, callbacks due, tickets near
/// or past their SLA, tier proposals and resource requests to decide
/// (managers and above), contracts ending. Overdue items come first, the
/// latest first among them, then the others by due time; `by_assignee`
/// counts every item per person (a manager's team grouped by rep). A rep
/// sees his own items, a manager hers and her teams', a director or an
/// admin everyone's in scope, the service desk its ticket and callback
/// queue. Computed from the records at each call; the windows are the
/// server's `worklist` settings.
#[utoipa::path(
    operation_id = "getWorklist",
    tag = "worklist",
    params(WorklistQuery),
    responses((status = 200, body = Worklist), WorklistErrors),
    security(("bearer" = []))
)]
#[get("/worklist")]
async fn get_worklist(
    state: web::Data<AppState>,
    caller: AuthUser,
    query: web::Query<WorklistQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(worklist::worklist(&state, &caller, query.into_inner()).await?))
}
