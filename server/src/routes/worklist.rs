//! `/worklist`: what the caller should do next, most urgent first, and
//! `/worklist/seen`, how far they have looked (see `worklist` and
//! docs/worklist.md).

use crate::auth::AuthUser;
use crate::error::ApiResult;
use crate::error::responses::{LookErrors, WorklistErrors};
use crate::routes::body::OptionalJson;
use crate::state::AppState;
use crate::worklist::{self, Look, Seen, Worklist, WorklistQuery};
use actix_web::{HttpResponse, get, post, web};
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts the worklist routes.
pub fn configure(config: &mut ServiceConfig) {
    config.service(get_worklist).service(worklist_seen);
}

/// What the caller should do next, most urgent first: visits due or still
/// planned after their time, plan actions due, callbacks due, tickets near
/// or past their SLA, tier proposals and resource requests to decide
/// (managers and above), contracts ending, warnings raised since the
/// caller's last look (`POST /worklist/seen`). Overdue items come first, the
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

/// Record that the caller has looked at their worklist: the warnings raised
/// up to `through` (now without a body, or when `through` is to come) are
/// no longer `new_warning` items for them. A look never moves back: an
/// earlier `through` leaves the later look in place. Answers the look
/// stored.
#[utoipa::path(
    operation_id = "worklistSeen",
    tag = "worklist",
    request_body(content = Option<Seen>, description = "How far the caller has looked; no body is now"),
    responses((status = 200, body = Look), LookErrors),
    security(("bearer" = []))
)]
#[post("/worklist/seen")]
async fn worklist_seen(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: OptionalJson<Seen>,
) -> ApiResult<HttpResponse> {
    let seen = body.0.unwrap_or_default();
    Ok(HttpResponse::Ok().json(worklist::seen(&state, &caller, seen).await?))
}
