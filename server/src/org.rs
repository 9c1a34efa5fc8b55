//! The org: branches, teams, users. Plain rows edited online, with
//! validation here so the admin API, the bootstrap and the demo share it.

use crate::auth::{Role, hash_password};
use crate::db::Db;
use crate::entities::{branch, team, team_manager, user};
use crate::error::{ApiError, ApiResult};
use chrono::Utc;
use kam_sync_core::Violation;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set, TransactionTrait,
};
use secrecy::{ExposeSecret, SecretString};
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
    /// Team (required for reps and managers).
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

async fn team_exists(db: &Db, id: Uuid) -> ApiResult<bool> {
    Ok(team::Entity::find_by_id(id).one(db.conn()).await?.is_some())
}

async fn branch_exists(db: &Db, id: Uuid) -> ApiResult<bool> {
    Ok(branch::Entity::find_by_id(id)
        .one(db.conn())
        .await?
        .is_some())
}

/// Checks where in the org a user of `role` may sit.
pub async fn check_placement(
    db: &Db,
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
        && !team_exists(db, team_id).await?
    {
        out.push(Violation::new("team_id", "unknown_team", "no such team"));
    }
    if let Some(branch_id) = branch_id
        && !branch_exists(db, branch_id).await?
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
        return Err(ApiError::conflict(
            "already_exists",
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
        return Err(ApiError::conflict(
            "already_exists",
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

/// Creates a team in a branch, led by `managers` (users with the manager role).
pub async fn create_team(
    db: &Db,
    name: &str,
    branch_id: Uuid,
    managers: &[Uuid],
) -> ApiResult<team::Model> {
    let mut out = Vec::new();
    check_name("name", name, &mut out);
    if !branch_exists(db, branch_id).await? {
        out.push(Violation::new(
            "branch_id",
            "unknown_branch",
            "no such branch",
        ));
    }
    for (i, manager) in managers.iter().enumerate() {
        let is_manager = user::Entity::find_by_id(*manager)
            .one(db.conn())
            .await?
            .is_some_and(|u| u.role == Role::Manager.as_str());
        if !is_manager {
            out.push(Violation::new(
                format!("manager_ids.{i}"),
                "not_a_manager",
                "no user with the manager role has this id",
            ));
        }
    }
    if !out.is_empty() {
        return Err(ApiError::invalid(out));
    }
    let _guard = db.write_guard().await;
    let txn = db.conn().begin().await?;
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
