//! The admin API: branches, teams, users and their devices. Only admins
//! change the org; admins and directors read its structure, and managers
//! also read the users of the teams they lead (the rules are in [`crate::org`]).

use super::{if_match, record_response};
use crate::auth::{AuthUser, Role};
use crate::config::TieringSettings;
use crate::error::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::error::{ApiError, ApiResult};
use crate::insight::{self, settings::InsightSettings, sweep::SweepRun};
use crate::org::{self, Branch, DeviceSession, Team, User, UserChanges, UserFilter};
use crate::records::check_precondition;
use crate::records::page::Page;
use crate::routes::body::Json;
use crate::state::AppState;
use crate::tiering::{self, TieringUpdate};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, put, web};
use kam_sync_core::Violation;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::IntoParams;
use utoipa::ToSchema;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// Mounts the admin routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(create_branch)
        .service(list_branches)
        .service(create_team)
        .service(list_teams)
        .service(set_team_managers)
        .service(create_user)
        .service(list_users)
        .service(get_user)
        .service(patch_user)
        .service(list_sessions)
        .service(revoke_sessions)
        .service(get_tiering)
        .service(put_tiering)
        .service(get_insight)
        .service(put_insight)
        .service(list_sweeps);
}

const ADMIN: &[Role] = &[Role::Admin];

/// A new branch.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBranch {
    /// Unique name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// A new team.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    /// Name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The branch it belongs to.
    pub branch_id: Uuid,
    /// Users with the manager role who lead it (none when omitted).
    #[serde(default)]
    pub manager_ids: Vec<Uuid>,
}

/// Who leads a team, replacing whoever did.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamManagers {
    /// Users with the manager role, each once; empty leaves the team without a manager.
    pub manager_ids: Vec<Uuid>,
}

/// A new user.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name: 3 to 64 of `a-z 0-9 . _ -`.
    #[schema(pattern = "^[a-z0-9._-]{3,64}$")]
    pub username: String,
    /// Name shown to people.
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    /// Password, at least 10 characters.
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub password: SecretString,
    /// Role.
    pub role: Role,
    /// Own team (required for reps).
    #[serde(default)]
    pub team_id: Option<Uuid>,
    /// Branch (directors and service staff; none means the whole org).
    #[serde(default)]
    pub branch_id: Option<Uuid>,
}

impl From<CreateUser> for org::NewUser {
    fn from(body: CreateUser) -> Self {
        Self {
            username: body.username,
            display_name: body.display_name,
            password: body.password,
            role: body.role,
            team_id: body.team_id,
            branch_id: body.branch_id,
        }
    }
}

/// Changes to a user: send only the fields to change; `null` clears
/// `team_id` or `branch_id`. Deactivating a user or changing their password
/// ends all their sessions.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Name shown to people.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, min_length = 1, max_length = 200)]
    pub display_name: Option<Option<String>>,
    /// Role.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Role)]
    pub role: Option<Option<Role>>,
    /// Own team; `null` takes the user out of it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub team_id: Option<Option<Uuid>>,
    /// Branch; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub branch_id: Option<Option<Uuid>>,
    /// False deactivates the user, true reactivates them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = bool)]
    pub active: Option<Option<bool>>,
    /// New password, at least 10 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, format = Password, min_length = 10, max_length = 256)]
    pub password: Option<Option<SecretString>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A field that may be left out but not cleared: `null` is a violation.
fn not_null<T>(field: &str, value: Option<Option<T>>, out: &mut Vec<Violation>) -> Option<T> {
    if matches!(value, Some(None)) {
        out.push(Violation::new(field, "invalid_value", "may not be null"));
    }
    value.flatten()
}

impl TryFrom<UserPatch> for UserChanges {
    type Error = ApiError;

    fn try_from(patch: UserPatch) -> ApiResult<Self> {
        let mut out = Vec::new();
        let changes = Self {
            display_name: not_null("display_name", patch.display_name, &mut out),
            role: not_null("role", patch.role, &mut out),
            team_id: patch.team_id,
            branch_id: patch.branch_id,
            active: not_null("active", patch.active, &mut out),
            password: not_null("password", patch.password, &mut out),
        };
        if out.is_empty() {
            Ok(changes)
        } else {
            Err(ApiError::invalid(out))
        }
    }
}

/// Which sessions to end.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeSessions {
    /// Only this device's sessions; every device's when omitted.
    #[serde(default)]
    #[schema(min_length = 1)]
    pub device_id: Option<String>,
}

/// How many sessions were ended.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Revoked {
    /// Sessions ended now (ones already ended are not counted).
    pub revoked: u64,
}

/// Create a branch (admins).
#[utoipa::path(
    tag = "admin",
    request_body = CreateBranch,
    responses((status = 201, body = Branch), WriteErrors),
    security(("bearer" = []))
)]
#[post("/branches")]
async fn create_branch(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateBranch>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let branch = org::create_branch(&state.db, &body.name).await?;
    Ok(HttpResponse::Created().json(Branch::from(branch)))
}

/// List branches by name (admins; directors see their own branch, or all
/// without one).
#[utoipa::path(
    tag = "admin",
    responses((status = 200, body = Vec<Branch>), ListErrors),
    security(("bearer" = []))
)]
#[get("/branches")]
async fn list_branches(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(org::list_branches(&state.db, &caller).await?))
}

/// Create a team in a branch, led by managers (admins).
#[utoipa::path(
    tag = "admin",
    request_body = CreateTeam,
    responses((status = 201, body = Team), WriteErrors),
    security(("bearer" = []))
)]
#[post("/teams")]
async fn create_team(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateTeam>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let CreateTeam {
        name,
        branch_id,
        manager_ids,
    } = body.into_inner();
    let team = org::create_team(&state.db, &name, branch_id, &manager_ids).await?;
    Ok(HttpResponse::Created().json(Team::from_row(team, manager_ids)))
}

/// List teams by name with their managers (admins; directors see their
/// branch's teams, or all without a branch).
#[utoipa::path(
    tag = "admin",
    responses((status = 200, body = Vec<Team>), ListErrors),
    security(("bearer" = []))
)]
#[get("/teams")]
async fn list_teams(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(org::list_teams(&state.db, &caller).await?))
}

/// Replace who leads a team (admins).
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path, description = "Team id")),
    request_body = TeamManagers,
    responses((status = 200, body = Team), WriteErrors),
    security(("bearer" = []))
)]
#[put("/teams/{id}/managers")]
async fn set_team_managers(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    body: Json<TeamManagers>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let team = org::set_team_managers(&state.db, id.into_inner(), &body.manager_ids).await?;
    Ok(HttpResponse::Ok().json(team))
}

/// Create a user (admins).
#[utoipa::path(
    tag = "admin",
    request_body = CreateUser,
    responses(
        (status = 201, body = User, headers(("ETag" = String), ("Location" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/users")]
async fn create_user(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<CreateUser>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let user = User::try_from(org::create_user(&state.db, body.into_inner().into()).await?)?;
    crate::telemetry::record_id(user.id);
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "user created");
    let mut response = record_response(StatusCode::CREATED, user.version, &user);
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/users/{}", user.id))
            .map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// List the users the caller may see, in id order (admins: all; directors:
/// their branch's, or all without one; managers: the teams they lead, and
/// themselves).
#[utoipa::path(
    tag = "admin",
    params(UserFilter),
    responses((status = 200, body = Page<User>), ListErrors),
    security(("bearer" = []))
)]
#[get("/users")]
async fn list_users(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<UserFilter>,
) -> ApiResult<HttpResponse> {
    let page = org::list_users(
        &state.db,
        &caller,
        filter.into_inner(),
        state.settings.server.max_page_size,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Read a user the caller may see.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, body = User, headers(("ETag" = String))),
        ReadErrors,
        ListErrors
    ),
    security(("bearer" = []))
)]
#[get("/users/{id}")]
async fn get_user(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let user = org::get_user(&state.db, &caller, id.into_inner()).await?;
    Ok(record_response(StatusCode::OK, user.version, &user))
}

/// Change a user (admins). `If-Match` is optional; with it, the change
/// applies only to the version the caller saw.
#[utoipa::path(
    tag = "admin",
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body(content((UserPatch = "application/merge-patch+json"), (UserPatch = "application/json"))),
    responses((status = 200, body = User, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/users/{id}")]
async fn patch_user(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<UserPatch>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let changes = UserChanges::try_from(body.into_inner())?;
    let id = id.into_inner();
    let user = org::update_user(
        &state.db,
        &state.sessions(),
        id,
        changes,
        if_match(&req).as_ref(),
    )
    .await?;
    crate::records::accounts::follow_owner_team(&state, id).await?;
    Ok(record_response(StatusCode::OK, user.version, &user))
}

/// A user's login sessions, ended ones included, newest first (admins).
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = Vec<DeviceSession>), ReadErrors, ListErrors),
    security(("bearer" = []))
)]
#[get("/users/{id}/sessions")]
async fn list_sessions(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    Ok(HttpResponse::Ok().json(org::user_sessions(&state.db, id.into_inner()).await?))
}

/// End a user's sessions on every device, or on one (admins). Their tokens
/// stop working at once.
#[utoipa::path(
    tag = "admin",
    params(("id" = Uuid, Path, description = "User id")),
    request_body = RevokeSessions,
    responses((status = 200, body = Revoked), WriteErrors),
    security(("bearer" = []))
)]
#[post("/users/{id}/sessions/revoke")]
async fn revoke_sessions(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    body: Json<RevokeSessions>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let revoked = org::revoke_sessions(
        &state.db,
        &state.sessions(),
        id.into_inner(),
        body.device_id.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(Revoked { revoked }))
}

/// The tiering settings in force: score weights and tier thresholds (admins).
#[utoipa::path(
    tag = "admin",
    responses((status = 200, body = TieringSettings), ListErrors),
    security(("bearer" = []))
)]
#[get("/admin/settings/tiering")]
async fn get_tiering(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let settings = tiering::current(state.db.conn(), &state.settings.tiering).await?;
    Ok(HttpResponse::Ok().json(settings))
}

/// Replace the tiering settings (admins): weights 0 or more, not all 0;
/// thresholds 0-100, strategic above key. Every account is re-scored with
/// them before the answer.
#[utoipa::path(
    tag = "admin",
    request_body = TieringSettings,
    responses((status = 200, body = TieringUpdate), WriteErrors),
    security(("bearer" = []))
)]
#[put("/admin/settings/tiering")]
async fn put_tiering(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<TieringSettings>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let txn = state.db.begin_write().await?;
    let update = tiering::replace(&txn, body.into_inner()).await?;
    txn.commit().await?;
    tracing::info!(rescored = update.rescored, "tiering settings replaced");
    Ok(HttpResponse::Ok().json(update))
}

/// The insight settings in force (admins and directors): the visit cadence
/// per tier, the effective-visit rules, the warning thresholds and the
/// health bands. The ETag is their version (0 for the defaults).
#[utoipa::path(
    tag = "admin",
    responses((status = 200, body = InsightSettings, headers(("ETag" = String))), ListErrors),
    security(("bearer" = []))
)]
#[get("/admin/settings/insight")]
async fn get_insight(state: web::Data<AppState>, caller: AuthUser) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin, Role::Director])?;
    let current = insight::settings::current(state.db.conn()).await?;
    Ok(record_response(
        StatusCode::OK,
        current.version,
        &current.settings,
    ))
}

/// Insight settings after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsightUpdate {
    /// The settings now in force.
    pub settings: InsightSettings,
    /// Accounts refreshed with them.
    pub refreshed: i64,
    /// Accounts whose warnings, health or next visit changed.
    pub changed: i64,
}

/// Replace the insight settings (admins), with `If-Match` to refuse (412)
/// a change made since they were read. Every account is refreshed with
/// them before the answer.
#[utoipa::path(
    tag = "admin",
    params(("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches")),
    request_body = InsightSettings,
    responses((status = 200, body = InsightUpdate, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[put("/admin/settings/insight")]
async fn put_insight(
    state: web::Data<AppState>,
    caller: AuthUser,
    req: HttpRequest,
    body: Json<InsightSettings>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let precondition = if_match(&req);
    let txn = state.db.begin_write().await?;
    let stored = insight::settings::replace(&txn, body.into_inner(), |version| {
        check_precondition(precondition.as_ref(), version)
    })
    .await?;
    txn.commit().await?;
    let (refreshed, changed) = insight::sweep::refresh_all(&state.db, chrono::Utc::now()).await?;
    tracing::info!(refreshed, changed, "insight settings replaced");
    Ok(record_response(
        StatusCode::OK,
        stored.version,
        &InsightUpdate {
            settings: stored.settings,
            refreshed,
            changed,
        },
    ))
}

/// How many sweep runs to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SweepFilter {
    /// How many of the latest runs (default 20, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
}

/// The latest runs of the insight sweep, newest first (admins): which node
/// ran each interval, when, and how many accounts it refreshed.
#[utoipa::path(
    tag = "admin",
    params(SweepFilter),
    responses((status = 200, body = Vec<SweepRun>), ListErrors),
    security(("bearer" = []))
)]
#[get("/admin/insight/sweeps")]
async fn list_sweeps(
    state: web::Data<AppState>,
    caller: AuthUser,
    filter: web::Query<SweepFilter>,
) -> ApiResult<HttpResponse> {
    caller.require(ADMIN)?;
    let limit = match filter.limit {
        None => 20,
        Some(limit @ 1..=500) => limit,
        Some(_) => {
            return Err(ApiError::new(
                crate::error::ErrorCode::InvalidQuery,
                "limit runs from 1 to 500",
            ));
        }
    };
    Ok(HttpResponse::Ok().json(insight::sweep::recent(&state.db, limit).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn changes(body: serde_json::Value) -> ApiResult<UserChanges> {
        let patch: UserPatch = serde_json::from_value(body)
            .map_err(|err| ApiError::new(ErrorCode::InvalidBody, err.to_string()))?;
        UserChanges::try_from(patch)
    }

    #[test]
    fn a_patch_tells_a_cleared_team_from_one_left_alone() {
        let team = Uuid::now_v7();
        let cleared = changes(serde_json::json!({ "team_id": null })).ok();
        assert_eq!(cleared.map(|c| c.team_id), Some(Some(None)));
        let left = changes(serde_json::json!({ "display_name": "Li Na" })).ok();
        assert_eq!(
            left.as_ref()
                .map(|c| (c.team_id, c.display_name.as_deref())),
            Some((None, Some("Li Na")))
        );
        let moved = changes(serde_json::json!({ "team_id": team })).ok();
        assert_eq!(moved.map(|c| c.team_id), Some(Some(Some(team))));
    }

    #[test]
    fn a_patch_may_not_clear_a_required_field() {
        let refused = changes(serde_json::json!({
            "display_name": null,
            "active": null,
            "branch_id": null,
        }));
        let problem = refused.err().map(|e| e.problem());
        let fields: Vec<_> = problem
            .iter()
            .flat_map(|p| p.violations.iter().map(|v| v.field.as_str()))
            .collect();
        assert_eq!(fields, ["display_name", "active"]);
    }

    #[test]
    fn a_patch_with_an_unknown_field_is_refused() {
        let refused = changes(serde_json::json!({ "password_hash": "x" }));
        assert_eq!(
            refused.err().map(|e| e.code()),
            Some(ErrorCode::InvalidBody)
        );
    }

    #[test]
    fn a_patch_can_deactivate_and_set_a_password() {
        use secrecy::ExposeSecret;
        let set = changes(serde_json::json!({
            "active": false,
            "role": "manager",
            "password": "correct horse battery",
        }))
        .ok();
        assert_eq!(set.as_ref().and_then(|c| c.active), Some(false));
        assert_eq!(set.as_ref().and_then(|c| c.role), Some(Role::Manager));
        assert_eq!(
            set.as_ref()
                .and_then(|c| c.password.as_ref())
                .map(|p| p.expose_secret().to_owned()),
            Some("correct horse battery".to_owned())
        );
    }
}
