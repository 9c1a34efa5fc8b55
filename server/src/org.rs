//! The org: branches, teams, users and their login sessions. Plain rows
//! edited online, with validation here so the admin API, the bootstrap and
//! the demo share it. Who may see which part of the org is decided here too;
//! who may change it (admins) is checked by the routes, because the bootstrap
//! and the demo change it with no caller.

use crate::auth::{AuthUser, Role, Sessions, hash_password};
use crate::db::Db;
use crate::entities::{branch, session, team, team_manager, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::Precondition;
use crate::records::check_precondition;
use crate::records::page::{self, Page};
use chrono::{DateTime, Utc};
use kam_sync_core::Violation;
use kam_sync_core::ids::{BranchId, TeamId, UserId};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// A user to create.
pub struct NewUser {
    /// Login name: 3-64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Password.
    pub password: SecretString,
    /// Role.
    pub role: Role,
    /// Team (required for reps).
    pub team_id: Option<Uuid>,
    /// Branch (directors and service staff; none means the whole org).
    pub branch_id: Option<Uuid>,
}

/// Checks a login name's shape.
pub fn check_username(username: &str, out: &mut Vec<Violation>) {
    let ok_chars = username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if !(3..=64).contains(&username.len()) || !ok_chars {
        out.push(Violation::new(
            "username",
            "invalid_value",
            "3 to 64 characters of a-z, 0-9, '.', '_' and '-'",
        ));
    }
}

/// Checks a password's length.
pub fn check_password(password: &SecretString, out: &mut Vec<Violation>) {
    let len = password.expose_secret().chars().count();
    if !(MIN_PASSWORD_LEN..=256).contains(&len) {
        out.push(Violation::new(
            "password",
            "invalid_value",
            format!("{MIN_PASSWORD_LEN} to 256 characters"),
        ));
    }
}

/// Checks a display or team name.
pub fn check_name(field: &str, name: &str, out: &mut Vec<Violation>) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        out.push(Violation::new(
            field,
            "invalid_value",
            "1 to 200 characters",
        ));
    }
}

async fn team_exists(conn: &impl ConnectionTrait, id: Uuid) -> ApiResult<bool> {
    Ok(team::Entity::find_by_id(id).one(conn).await?.is_some())
}

async fn branch_exists(conn: &impl ConnectionTrait, id: Uuid) -> ApiResult<bool> {
    Ok(branch::Entity::find_by_id(id).one(conn).await?.is_some())
}

/// Checks where in the org a user of `role` may sit.
pub async fn check_placement(
    db: &Db,
    role: Role,
    team_id: Option<Uuid>,
    branch_id: Option<Uuid>,
) -> ApiResult<()> {
    check_placement_in(db.conn(), role, team_id, branch_id).await
}

/// [`check_placement`] within a transaction.
async fn check_placement_in(
    conn: &impl ConnectionTrait,
    role: Role,
    team_id: Option<Uuid>,
    branch_id: Option<Uuid>,
) -> ApiResult<()> {
    let mut out = Vec::new();
    if matches!(role, Role::Rep) && team_id.is_none() {
        out.push(Violation::new(
            "team_id",
            "required",
            "a rep belongs to a team",
        ));
    }
    if let Some(team_id) = team_id
        && !team_exists(conn, team_id).await?
    {
        out.push(Violation::new("team_id", "unknown_team", "no such team"));
    }
    if let Some(branch_id) = branch_id
        && !branch_exists(conn, branch_id).await?
    {
        out.push(Violation::new(
            "branch_id",
            "unknown_branch",
            "no such branch",
        ));
    }
    if out.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(out))
    }
}

/// Creates a user; a taken username is a 409.
pub async fn create_user(db: &Db, new: NewUser) -> ApiResult<user::Model> {
    let mut out = Vec::new();
    check_username(&new.username, &mut out);
    check_name("display_name", &new.display_name, &mut out);
    check_password(&new.password, &mut out);
    if !out.is_empty() {
        return Err(ApiError::invalid(out));
    }
    check_placement(db, new.role, new.team_id, new.branch_id).await?;
    let password_hash = hash_password(new.password)
        .await
        .map_err(ApiError::internal)?;
    let now = Utc::now();
    let _guard = db.write_guard().await;
    let taken = user::Entity::find()
        .filter(user::Column::Username.eq(new.username.as_str()))
        .count(db.conn())
        .await?;
    if taken > 0 {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "that username is taken",
        ));
    }
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        username: Set(new.username),
        display_name: Set(new.display_name),
        password_hash: Set(password_hash),
        role: Set(new.role.as_str().to_owned()),
        team_id: Set(new.team_id),
        branch_id: Set(new.branch_id),
        active: Set(true),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db.conn())
    .await?;
    Ok(model)
}

/// Creates a branch; a taken name is a 409.
pub async fn create_branch(db: &Db, name: &str) -> ApiResult<branch::Model> {
    let mut out = Vec::new();
    check_name("name", name, &mut out);
    if !out.is_empty() {
        return Err(ApiError::invalid(out));
    }
    let _guard = db.write_guard().await;
    let taken = branch::Entity::find()
        .filter(branch::Column::Name.eq(name))
        .count(db.conn())
        .await?;
    if taken > 0 {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "a branch has that name",
        ));
    }
    Ok(branch::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        created_at: Set(Utc::now()),
    }
    .insert(db.conn())
    .await?)
}

/// Creates a team in a branch, led by `managers` (users with the manager role,
/// each listed once).
pub async fn create_team(
    db: &Db,
    name: &str,
    branch_id: Uuid,
    managers: &[Uuid],
) -> ApiResult<team::Model> {
    let mut out = Vec::new();
    check_name("name", name, &mut out);
    if !branch_exists(db.conn(), branch_id).await? {
        out.push(Violation::new(
            "branch_id",
            "unknown_branch",
            "no such branch",
        ));
    }
    check_managers(db, managers, &mut out).await?;
    if !out.is_empty() {
        return Err(ApiError::invalid(out));
    }
    let txn = db.begin_write().await?;
    let team = team::ActiveModel {
        id: Set(Uuid::now_v7()),
        name: Set(name.to_owned()),
        branch_id: Set(branch_id),
        created_at: Set(Utc::now()),
    }
    .insert(&txn)
    .await?;
    for manager in managers {
        team_manager::ActiveModel {
            team_id: Set(team.id),
            user_id: Set(*manager),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(team)
}

/// Checks that `managers` are users with the manager role, each listed once.
async fn check_managers(db: &Db, managers: &[Uuid], out: &mut Vec<Violation>) -> ApiResult<()> {
    let found = if managers.is_empty() {
        Vec::new()
    } else {
        user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(managers.iter().copied()))
            .filter(user::Column::Role.eq(Role::Manager.as_str()))
            .into_tuple::<Uuid>()
            .all(db.conn())
            .await?
    };
    out.extend(manager_violations(managers, &found));
    Ok(())
}

/// What is wrong with a list of managers, given which of them are managers.
fn manager_violations(managers: &[Uuid], found: &[Uuid]) -> Vec<Violation> {
    managers
        .iter()
        .enumerate()
        .filter_map(|(i, manager)| {
            let field = format!("manager_ids.{i}");
            if managers[..i].contains(manager) {
                Some(Violation::new(
                    field,
                    "duplicate",
                    "this manager is listed twice",
                ))
            } else if !found.contains(manager) {
                Some(Violation::new(
                    field,
                    "not_a_manager",
                    "no user with the manager role has this id",
                ))
            } else {
                None
            }
        })
        .collect()
}

/// A branch as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Branch {
    /// Id.
    pub id: BranchId,
    /// Unique name.
    pub name: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl From<branch::Model> for Branch {
    fn from(row: branch::Model) -> Self {
        Self {
            id: BranchId(row.id),
            name: row.name,
            created_at: row.created_at,
        }
    }
}

/// A team as the API shows it, with the managers who lead it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Team {
    /// Id.
    pub id: TeamId,
    /// Name.
    pub name: String,
    /// The branch it belongs to.
    pub branch_id: BranchId,
    /// The managers leading it, in id order.
    pub manager_ids: Vec<UserId>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Team {
    /// The view of a team row led by `managers`.
    pub fn from_row(row: team::Model, mut managers: Vec<Uuid>) -> Self {
        managers.sort_unstable();
        Self {
            id: TeamId(row.id),
            name: row.name,
            branch_id: BranchId(row.branch_id),
            manager_ids: managers.into_iter().map(UserId).collect(),
            created_at: row.created_at,
        }
    }
}

/// A user as the API shows it: never the password hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// Name shown to people.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Own team.
    pub team_id: Option<TeamId>,
    /// Branch (directors and service staff; others follow their team).
    pub branch_id: Option<BranchId>,
    /// False once deactivated: no login, no sessions.
    pub active: bool,
    /// Bumped on every change; its ETag.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<user::Model> for User {
    type Error = ApiError;

    fn try_from(row: user::Model) -> ApiResult<Self> {
        let role = role_of(&row)?;
        Ok(Self {
            id: UserId(row.id),
            username: row.username,
            display_name: row.display_name,
            role,
            team_id: row.team_id.map(TeamId),
            branch_id: row.branch_id.map(BranchId),
            active: row.active,
            version: row.version,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

fn role_of(row: &user::Model) -> ApiResult<Role> {
    Role::parse(&row.role).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "user {} has unknown role {}",
            row.id,
            row.role
        ))
    })
}

/// One device's login session, as an admin sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceSession {
    /// Id.
    pub id: Uuid,
    /// The device named at login.
    pub device_id: String,
    /// Login time.
    pub created_at: DateTime<Utc>,
    /// Last token refresh.
    pub last_used_at: DateTime<Utc>,
    /// When it ended, if it has.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why it ended (`logout`, `replaced_by_new_login`, `refresh_token_reused`,
    /// `user_deactivated`, `password_changed`, `revoked_by_admin`).
    pub revoked_reason: Option<String>,
}

impl From<session::Model> for DeviceSession {
    fn from(row: session::Model) -> Self {
        Self {
            id: row.id,
            device_id: row.device_id,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
            revoked_reason: row.revoked_reason,
        }
    }
}

fn role_forbidden(viewer: &AuthUser, what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::RoleForbidden,
        format!("the {} role may not {what}", viewer.role.as_str()),
    )
}

/// The branch a reader of branches and teams is held to (`None`: all of
/// them). Admins and directors read the org's structure; a director with a
/// branch sees only theirs.
fn structure_scope(viewer: &AuthUser) -> ApiResult<Option<Uuid>> {
    match viewer.role {
        Role::Admin => Ok(None),
        Role::Director => Ok(viewer.branch_id.map(|b| b.0)),
        Role::Manager | Role::Rep | Role::Service => {
            Err(role_forbidden(viewer, "list branches and teams"))
        }
    }
}

/// Lists the branches the caller may see, by name.
pub async fn list_branches(db: &Db, viewer: &AuthUser) -> ApiResult<Vec<Branch>> {
    let mut query = branch::Entity::find().order_by_asc(branch::Column::Name);
    if let Some(branch_id) = structure_scope(viewer)? {
        query = query.filter(branch::Column::Id.eq(branch_id));
    }
    Ok(query
        .all(db.conn())
        .await?
        .into_iter()
        .map(Branch::from)
        .collect())
}

/// Lists the teams the caller may see, by name, with who leads them.
pub async fn list_teams(db: &Db, viewer: &AuthUser) -> ApiResult<Vec<Team>> {
    let mut query = team::Entity::find().order_by_asc(team::Column::Name);
    if let Some(branch_id) = structure_scope(viewer)? {
        query = query.filter(team::Column::BranchId.eq(branch_id));
    }
    let teams = query.all(db.conn()).await?;
    let mut led: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    let links = team_manager::Entity::find()
        .filter(team_manager::Column::TeamId.is_in(teams.iter().map(|t| t.id)))
        .all(db.conn())
        .await?;
    for link in links {
        led.entry(link.team_id).or_default().push(link.user_id);
    }
    Ok(teams
        .into_iter()
        .map(|row| {
            let managers = led.remove(&row.id).unwrap_or_default();
            Team::from_row(row, managers)
        })
        .collect())
}

/// Replaces the managers leading a team.
pub async fn set_team_managers(db: &Db, team_id: Uuid, managers: &[Uuid]) -> ApiResult<Team> {
    crate::telemetry::record_id(team_id);
    let row = team::Entity::find_by_id(team_id)
        .one(db.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("team"))?;
    let mut out = Vec::new();
    check_managers(db, managers, &mut out).await?;
    if !out.is_empty() {
        return Err(ApiError::invalid(out));
    }
    let txn = db.begin_write().await?;
    team_manager::Entity::delete_many()
        .filter(team_manager::Column::TeamId.eq(team_id))
        .exec(&txn)
        .await?;
    for manager in managers {
        team_manager::ActiveModel {
            team_id: Set(team_id),
            user_id: Set(*manager),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    tracing::info!(team_id = %team_id, managers = managers.len(), "team managers replaced");
    Ok(Team::from_row(row, managers.to_vec()))
}

/// Which users a viewer may see.
#[derive(Debug, PartialEq, Eq)]
enum UserScope {
    /// Admins, and directors without a branch.
    Everyone,
    /// A director's branch: users placed in it or in one of its teams, and
    /// the managers leading its teams.
    Branch(Uuid),
    /// A manager: the users of the teams they lead, and themselves.
    TeamsLed { me: Uuid, teams: Vec<Uuid> },
}

fn user_scope(viewer: &AuthUser) -> ApiResult<UserScope> {
    match viewer.role {
        Role::Admin => Ok(UserScope::Everyone),
        Role::Director => Ok(viewer
            .branch_id
            .map_or(UserScope::Everyone, |b| UserScope::Branch(b.0))),
        Role::Manager => Ok(UserScope::TeamsLed {
            me: viewer.id.0,
            teams: viewer.led_teams.iter().map(|t| t.0).collect(),
        }),
        Role::Rep | Role::Service => Err(role_forbidden(viewer, "see other users")),
    }
}

impl UserScope {
    /// As a condition on `users`, wrapped as one AND-ed term so that filters
    /// added to it narrow it. A user's branch is their own, or else their
    /// team's (as for the caller in [`AuthUser`]); a manager also belongs to
    /// the branches of the teams they lead.
    fn condition(&self) -> Condition {
        Condition::all().add(self.grounds())
    }

    fn grounds(&self) -> Condition {
        match self {
            Self::Everyone => Condition::all(),
            Self::Branch(branch_id) => {
                let branch_teams = || {
                    Query::select()
                        .column(team::Column::Id)
                        .from(team::Entity)
                        .and_where(Expr::col(team::Column::BranchId).eq(*branch_id))
                        .to_owned()
                };
                let leaders = Query::select()
                    .column(team_manager::Column::UserId)
                    .from(team_manager::Entity)
                    .and_where(Expr::col(team_manager::Column::TeamId).in_subquery(branch_teams()))
                    .to_owned();
                Condition::any()
                    .add(user::Column::BranchId.eq(*branch_id))
                    .add(
                        Condition::all()
                            .add(user::Column::BranchId.is_null())
                            .add(user::Column::TeamId.in_subquery(branch_teams())),
                    )
                    .add(user::Column::Id.in_subquery(leaders))
            }
            Self::TeamsLed { me, teams } => Condition::any()
                .add(user::Column::Id.eq(*me))
                .add(user::Column::TeamId.is_in(teams.iter().copied())),
        }
    }
}

/// Filters for listing users; all combine with AND, within the caller's scope.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserFilter {
    /// With this role.
    pub role: Option<Role>,
    /// In this team.
    pub team_id: Option<Uuid>,
    /// Only active (true) or only deactivated (false) users.
    pub active: Option<bool>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists the users the caller may see, newest first.
pub async fn list_users(
    db: &Db,
    viewer: &AuthUser,
    filter: UserFilter,
    max_page_size: u64,
) -> ApiResult<Page<User>> {
    let mut condition = user_scope(viewer)?.condition();
    let limit = Page::<User>::limit(filter.limit, max_page_size)?;
    if let Some(role) = filter.role {
        condition = condition.add(user::Column::Role.eq(role.as_str()));
    }
    if let Some(team_id) = filter.team_id {
        condition = condition.add(user::Column::TeamId.eq(team_id));
    }
    if let Some(active) = filter.active {
        condition = condition.add(user::Column::Active.eq(active));
    }
    let rows = page::rows_after::<user::Entity>(
        db.conn(),
        condition,
        user::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let items = rows
        .into_iter()
        .map(User::try_from)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |user| user.id.0))
}

/// Reads one user, if the caller may see them (else 404).
pub async fn get_user(db: &Db, viewer: &AuthUser, id: Uuid) -> ApiResult<User> {
    crate::telemetry::record_id(id);
    let scope = user_scope(viewer)?;
    user::Entity::find_by_id(id)
        .filter(scope.condition())
        .one(db.conn())
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?
        .try_into()
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges {
    /// New display name.
    pub display_name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New team (`Some(None)` takes the user out of their team).
    pub team_id: Option<Option<Uuid>>,
    /// New branch (`Some(None)` clears it).
    pub branch_id: Option<Option<Uuid>>,
    /// Deactivate (false) or reactivate (true).
    pub active: Option<bool>,
    /// New password.
    pub password: Option<SecretString>,
}

/// Why a change to a user ends their sessions, if it does: someone
/// deactivated, or whose password changed, must log in again everywhere.
fn revocation_reason(
    current: &user::Model,
    active: Option<bool>,
    new_password: bool,
) -> Option<&'static str> {
    if current.active && active == Some(false) {
        Some("user_deactivated")
    } else if new_password {
        Some("password_changed")
    } else {
        None
    }
}

/// Whether a change takes away the last way in: an active admin who stops
/// being one.
fn stops_being_active_admin(current: &user::Model, role: Role, active: bool) -> bool {
    current.role == Role::Admin.as_str() && current.active && (role != Role::Admin || !active)
}

/// Changes a user (version and `updated_at` move on when anything changes).
/// A manager who loses the role stops leading their teams; a deactivated user
/// or one with a new password loses every session. The last active admin
/// cannot be demoted or deactivated.
pub async fn update_user(
    db: &Db,
    sessions: &Sessions<'_>,
    id: Uuid,
    changes: UserChanges,
    precondition: Option<&Precondition>,
) -> ApiResult<User> {
    crate::telemetry::record_id(id);
    let mut out = Vec::new();
    if let Some(name) = &changes.display_name {
        check_name("display_name", name, &mut out);
    }
    if let Some(password) = &changes.password {
        check_password(password, &mut out);
    }
    if !out.is_empty() {
        return Err(ApiError::invalid(out));
    }
    // Hashing is slow: done before queueing for the writer.
    let password_hash = match changes.password {
        Some(password) => Some(hash_password(password).await.map_err(ApiError::internal)?),
        None => None,
    };
    let txn = db.begin_write().await?;
    let mut query = user::Entity::find_by_id(id);
    if db.backend() == DbBackend::Postgres {
        query = query.lock_exclusive();
    }
    let current = query
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    check_precondition(precondition, current.version)?;
    let revoke = revocation_reason(&current, changes.active, password_hash.is_some());
    let current_role = role_of(&current)?;
    let role = changes.role.unwrap_or(current_role);
    let team_id = changes.team_id.unwrap_or(current.team_id);
    let branch_id = changes.branch_id.unwrap_or(current.branch_id);
    let active = changes.active.unwrap_or(current.active);
    let display_name = changes
        .display_name
        .unwrap_or_else(|| current.display_name.clone());
    let placed_anew =
        role != current_role || team_id != current.team_id || branch_id != current.branch_id;
    if !placed_anew
        && active == current.active
        && display_name == current.display_name
        && password_hash.is_none()
    {
        return User::try_from(current);
    }
    if placed_anew {
        check_placement_in(&txn, role, team_id, branch_id).await?;
    }
    if stops_being_active_admin(&current, role, active) {
        let other_admins = user::Entity::find()
            .filter(user::Column::Role.eq(Role::Admin.as_str()))
            .filter(user::Column::Active.eq(true))
            .filter(user::Column::Id.ne(id))
            .count(&txn)
            .await?;
        if other_admins == 0 {
            return Err(ApiError::new(
                ErrorCode::LastAdmin,
                "this is the last active admin; make another admin first",
            ));
        }
    }
    let mut row: user::ActiveModel = current.clone().into();
    row.display_name = Set(display_name);
    row.role = Set(role.as_str().to_owned());
    row.team_id = Set(team_id);
    row.branch_id = Set(branch_id);
    row.active = Set(active);
    if let Some(hash) = password_hash {
        row.password_hash = Set(hash);
    }
    row.version = Set(current.version + 1);
    row.updated_at = Set(Utc::now());
    let updated = row.update(&txn).await?;
    if current_role == Role::Manager && role != Role::Manager {
        team_manager::Entity::delete_many()
            .filter(team_manager::Column::UserId.eq(id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    tracing::info!(user_id = %id, version = updated.version, "user changed");
    if let Some(reason) = revoke {
        let ended = sessions.revoke_user(id, None, reason).await?;
        tracing::info!(user_id = %id, sessions = ended, reason, "sessions revoked");
    }
    User::try_from(updated)
}

async fn require_user(db: &Db, id: Uuid) -> ApiResult<()> {
    crate::telemetry::record_id(id);
    user::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("user"))
}

/// A user's sessions, ended ones included, newest first.
pub async fn user_sessions(db: &Db, id: Uuid) -> ApiResult<Vec<DeviceSession>> {
    require_user(db, id).await?;
    Ok(session::Entity::find()
        .filter(session::Column::UserId.eq(id))
        .order_by_desc(session::Column::CreatedAt)
        .all(db.conn())
        .await?
        .into_iter()
        .map(DeviceSession::from)
        .collect())
}

/// Ends a user's sessions on every device, or on one; returns how many ended.
pub async fn revoke_sessions(
    db: &Db,
    sessions: &Sessions<'_>,
    id: Uuid,
    device_id: Option<&str>,
) -> ApiResult<u64> {
    if device_id.is_some_and(|d| d.trim().is_empty()) {
        return Err(ApiError::invalid_field(
            "device_id",
            "invalid_value",
            "name a device, or leave device_id out to end every session",
        ));
    }
    require_user(db, id).await?;
    let ended = sessions
        .revoke_user(id, device_id, "revoked_by_admin")
        .await?;
    tracing::info!(user_id = %id, sessions = ended, "sessions revoked by an admin");
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(role: Role) -> AuthUser {
        AuthUser {
            id: UserId::new_v7(),
            role,
            team_id: None,
            branch_id: None,
            led_teams: Vec::new(),
            session_id: Uuid::now_v7(),
            device_id: "laptop".into(),
        }
    }

    fn row(role: Role, active: bool) -> user::Model {
        let now = Utc::now();
        user::Model {
            id: Uuid::now_v7(),
            username: "wang.li".into(),
            display_name: "Wang Li".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            role: role.as_str().into(),
            team_id: None,
            branch_id: None,
            active,
            version: 3,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn reps_and_service_staff_may_not_see_other_users() {
        for role in [Role::Rep, Role::Service] {
            let refused = user_scope(&caller(role))
                .err()
                .map(|e| e.code().wire_name());
            assert_eq!(refused, Some("role_forbidden"));
        }
    }

    #[test]
    fn a_director_sees_their_branch_or_everyone_without_one() {
        let mut director = caller(Role::Director);
        assert_eq!(user_scope(&director).ok(), Some(UserScope::Everyone));
        let branch = Uuid::now_v7();
        director.branch_id = Some(BranchId(branch));
        assert_eq!(user_scope(&director).ok(), Some(UserScope::Branch(branch)));
    }

    #[test]
    fn a_manager_sees_the_teams_they_lead_and_themselves() {
        let mut manager = caller(Role::Manager);
        let team = Uuid::now_v7();
        manager.led_teams = vec![TeamId(team)];
        assert_eq!(
            user_scope(&manager).ok(),
            Some(UserScope::TeamsLed {
                me: manager.id.0,
                teams: vec![team],
            })
        );
    }

    #[test]
    fn only_admins_and_directors_read_branches_and_teams() {
        assert_eq!(structure_scope(&caller(Role::Admin)).ok(), Some(None));
        let mut director = caller(Role::Director);
        let branch = Uuid::now_v7();
        director.branch_id = Some(BranchId(branch));
        assert_eq!(structure_scope(&director).ok(), Some(Some(branch)));
        for role in [Role::Manager, Role::Rep, Role::Service] {
            let refused = structure_scope(&caller(role))
                .err()
                .map(|e| e.code().wire_name());
            assert_eq!(refused, Some("role_forbidden"));
        }
    }

    #[test]
    fn managers_must_have_the_role_and_be_listed_once() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let found = [a, b];
        assert!(manager_violations(&[a, b], &found).is_empty());
        let violations = manager_violations(&[a, c, a], &found);
        let seen: Vec<_> = violations
            .iter()
            .map(|v| (v.field.as_str(), v.code.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("manager_ids.1", "not_a_manager"),
                ("manager_ids.2", "duplicate")
            ]
        );
    }

    #[test]
    fn deactivation_and_a_new_password_end_sessions_but_reactivation_does_not() {
        let active = row(Role::Rep, true);
        let inactive = row(Role::Rep, false);
        assert_eq!(
            revocation_reason(&active, Some(false), false),
            Some("user_deactivated")
        );
        assert_eq!(
            revocation_reason(&active, Some(false), true),
            Some("user_deactivated")
        );
        assert_eq!(
            revocation_reason(&active, None, true),
            Some("password_changed")
        );
        assert_eq!(revocation_reason(&active, Some(true), false), None);
        assert_eq!(revocation_reason(&inactive, Some(true), false), None);
        assert_eq!(revocation_reason(&inactive, Some(false), false), None);
    }

    #[test]
    fn demoting_or_deactivating_an_active_admin_takes_away_an_admin() {
        let admin = row(Role::Admin, true);
        assert!(stops_being_active_admin(&admin, Role::Director, true));
        assert!(stops_being_active_admin(&admin, Role::Admin, false));
        assert!(!stops_being_active_admin(&admin, Role::Admin, true));
        assert!(!stops_being_active_admin(
            &row(Role::Admin, false),
            Role::Rep,
            false
        ));
        assert!(!stops_being_active_admin(
            &row(Role::Manager, true),
            Role::Rep,
            false
        ));
    }

    #[test]
    fn the_api_view_of_a_user_never_shows_the_password_hash() {
        let model = row(Role::Manager, true);
        let hash = model.password_hash.clone();
        let json = serde_json::to_string(&User::try_from(model).ok()).unwrap_or_default();
        assert!(json.contains("wang.li"));
        assert!(!json.contains("password"));
        assert!(!json.contains(&hash));
    }

    #[test]
    fn a_stored_user_with_an_unknown_role_is_a_server_error() {
        let mut model = row(Role::Rep, true);
        model.role = "overlord".into();
        assert_eq!(
            User::try_from(model).err().map(|e| e.code().wire_name()),
            Some("internal_error")
        );
    }

    #[test]
    fn a_team_lists_its_managers_in_id_order() {
        let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
        let team = Team::from_row(
            team::Model {
                id: Uuid::now_v7(),
                name: "East".into(),
                branch_id: Uuid::now_v7(),
                created_at: Utc::now(),
            },
            vec![second, first],
        );
        assert_eq!(team.manager_ids, [UserId(first), UserId(second)]);
    }
}
