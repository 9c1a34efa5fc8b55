//! Accounts: creating, changing and reading them with the authority rules
//! (who may own, reassign, tier and share), and materializing their rows.

use super::{Loaded, check_if_match, load, store};
use crate::access::{account_scope, can_see_account, require_writer};
use crate::auth::{AuthUser, Role};
use crate::entities::{account, account_share, team, user};
use crate::error::{ApiError, ApiResult};
use crate::records::page::{Cursor, Page};
use crate::startup::AppState;
use chrono::{DateTime, Utc};
use kam_sync_core::account::{Segment, Stage, Tier};
use kam_sync_core::ids::{AccountId, TeamId, UserId};
use kam_sync_core::{Account, ChangeMeta, Conflict, Record, RecordDoc, parse_record};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An account as the API shows it: the merged record, its concurrent values,
/// and bookkeeping.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountView {
    /// Id (UUIDv7, possibly chosen by the creating device).
    pub id: AccountId,
    /// The record.
    #[serde(flatten)]
    pub account: Account,
    /// Fields that two writers set concurrently: the value shown and the others.
    pub conflicts: Vec<Conflict>,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Change-log position of its last change; its ETag.
    pub version: i64,
}

/// Filters for listing accounts; all combine with AND, within the caller's scope.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountFilter {
    /// Owned by this user.
    pub owner_id: Option<Uuid>,
    /// In this team.
    pub team_id: Option<Uuid>,
    /// With this confirmed tier.
    pub tier: Option<Tier>,
    /// In this segment.
    pub segment: Option<Segment>,
    /// In this lifecycle stage.
    pub stage: Option<Stage>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// Name contains this text (case-insensitive).
    pub q: Option<String>,
    /// Include soft-deleted accounts (default false).
    pub include_deleted: Option<bool>,
    /// Page size (default 50).
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn view_of(row: &account::Model) -> ApiResult<AccountView> {
    serde_json::from_value(row.body.clone()).map_err(ApiError::internal)
}

async fn shares_of(conn: &impl ConnectionTrait, id: Uuid) -> ApiResult<Vec<Uuid>> {
    Ok(account_share::Entity::find()
        .select_only()
        .column(account_share::Column::UserId)
        .filter(account_share::Column::AccountId.eq(id))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?)
}

/// The account row, if the caller may see it.
pub async fn visible_row(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<account::Model> {
    let row = account::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| ApiError::not_found("account"))?;
    let shares = shares_of(conn, id).await?;
    if can_see_account(caller, &row, &shares) {
        Ok(row)
    } else {
        Err(ApiError::not_found("account"))
    }
}

/// Reads one account.
pub async fn get(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<AccountView> {
    view_of(&visible_row(state.db.conn(), caller, id).await?)
}

/// Lists accounts in the caller's scope, most recently changed first.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    filter: AccountFilter,
) -> ApiResult<Page<AccountView>> {
    let limit = Page::<AccountView>::limit(filter.limit, state.settings.server.max_page_size)?;
    // The scope is an OR of grounds for access: it must be one AND-ed term.
    let mut condition = Condition::all();
    if let Some(scope) = account_scope(caller) {
        condition = condition.add(scope);
    }
    if let Some(owner) = filter.owner_id {
        condition = condition.add(account::Column::OwnerId.eq(owner));
    }
    if let Some(team) = filter.team_id {
        condition = condition.add(account::Column::TeamId.eq(team));
    }
    if let Some(tier) = filter.tier {
        condition = condition.add(account::Column::Tier.eq(tier.as_str()));
    }
    if let Some(segment) = filter.segment {
        condition = condition.add(account::Column::Segment.eq(segment.as_str()));
    }
    if let Some(stage) = filter.stage {
        condition = condition.add(account::Column::Stage.eq(stage.as_str()));
    }
    if let Some(since) = filter.updated_since {
        condition = condition.add(account::Column::UpdatedAt.gte(since));
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let escaped = q
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        condition = condition.add(
            Expr::col(account::Column::NameSearch)
                .like(LikeExpr::new(format!("%{escaped}%")).escape('\\')),
        );
    }
    if !filter.include_deleted.unwrap_or(false) {
        condition = condition.add(account::Column::Deleted.eq(false));
    }
    if let Some(cursor) = filter.cursor.as_deref().map(Cursor::parse).transpose()? {
        condition = condition.add(account::Column::Version.lt(cursor.before_version));
    }
    let rows = account::Entity::find()
        .filter(condition)
        .order_by_desc(account::Column::Version)
        .limit(limit + 1)
        .all(state.db.conn())
        .await?;
    let items = rows.iter().map(view_of).collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |view| view.version))
}

/// Who may own an account the caller assigns: an active rep, manager or
/// director within the caller's reach. Returns the owner's team.
async fn check_owner(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    owner: UserId,
) -> ApiResult<Option<TeamId>> {
    let row = user::Entity::find_by_id(owner.0)
        .one(conn)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| {
            ApiError::invalid_field("owner_id", "unknown_user", "no active user has this id")
        })?;
    let role = Role::parse(&row.role);
    if !matches!(role, Some(Role::Rep | Role::Manager | Role::Director)) {
        return Err(ApiError::invalid_field(
            "owner_id",
            "invalid_owner",
            "accounts are owned by reps, managers or directors",
        ));
    }
    let team_id = row.team_id.map(TeamId);
    let in_reach = match caller.role {
        Role::Admin => true,
        _ if owner == caller.id => true,
        Role::Manager => team_id.is_some_and(|t| caller.led_teams.contains(&t)),
        Role::Director => match caller.branch_id {
            None => true,
            Some(branch) => {
                let team_branch = match row.team_id {
                    Some(team_id) => team::Entity::find_by_id(team_id)
                        .one(conn)
                        .await?
                        .map(|t| t.branch_id),
                    None => None,
                };
                row.branch_id.or(team_branch) == Some(branch.0)
            }
        },
        Role::Rep | Role::Service => false,
    };
    if !in_reach {
        return Err(ApiError::forbidden(
            "owner_change_forbidden",
            match caller.role {
                Role::Rep => "a rep cannot assign an account to someone else".to_owned(),
                _ => "that user is outside the teams you manage".to_owned(),
            },
        ));
    }
    Ok(team_id)
}

async fn check_shares(conn: &impl ConnectionTrait, shares: &[UserId]) -> ApiResult<()> {
    let ids: Vec<Uuid> = shares.iter().map(|u| u.0).collect();
    let found = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::Id.is_in(ids.clone()))
        .filter(user::Column::Active.eq(true))
        .into_tuple::<Uuid>()
        .all(conn)
        .await?;
    let violations: Vec<_> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.contains(id))
        .map(|(i, _)| {
            kam_sync_core::Violation::new(
                format!("shared_with.{i}"),
                "unknown_user",
                "no active user has this id",
            )
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(violations))
    }
}

fn tier_forbidden() -> ApiError {
    ApiError::forbidden(
        "tier_confirmation_forbidden",
        "only a manager confirms a tier; propose one with proposed_tier",
    )
}

fn read_only(field: &str) -> ApiError {
    ApiError::invalid_field(field, "read_only_field", "kept by the server")
}

/// Creates an account.
pub async fn create(
    state: &AppState,
    caller: &AuthUser,
    mut body: Map<String, Value>,
) -> ApiResult<AccountView> {
    require_writer(caller)?;
    if body.contains_key("team_id") {
        return Err(read_only("team_id"));
    }
    body.entry("owner_id")
        .or_insert_with(|| Value::String(caller.id.to_string()));
    let id = crate::records::take_id(&mut body)?;
    let mut account: Account = parse_record(Value::Object(body))?;
    crate::telemetry::record_id(id);
    if account.tier.is_some() && !caller.role.supervises() {
        return Err(tier_forbidden());
    }
    let conn = state.db.conn();
    account.team_id = check_owner(conn, caller, account.owner_id).await?;
    check_shares(conn, &account.shared_with).await?;
    let meta = state.change_meta(caller);
    let mut doc = RecordDoc::create(&account, state.actor.clone(), &meta)?;
    let _guard = state.db.write_guard().await;
    let txn = conn.begin().await?;
    if load(&txn, id, true).await?.is_some() {
        return Err(ApiError::conflict(
            "already_exists",
            "a record with this id exists",
        ));
    }
    let seq = store(&txn, id, None, &mut doc, &[], &meta)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a new document made no change")))?;
    let view = materialize(&txn, id, &doc, seq, &meta, None).await?;
    txn.commit().await?;
    Ok(view)
}

/// Applies a merge patch to an account, with the authority rules.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    mut patch: Map<String, Value>,
    if_match: Option<&str>,
) -> ApiResult<AccountView> {
    crate::telemetry::record_id(id);
    let _guard = state.db.write_guard().await;
    let txn = state.db.conn().begin().await?;
    let Some(Loaded {
        row: doc_row,
        mut doc,
        heads,
    }) = load(&txn, id, true).await?
    else {
        return Err(ApiError::not_found("account"));
    };
    let row = visible_row(&txn, caller, id).await?;
    require_writer(caller)?;
    check_if_match(if_match, row.version)?;
    let current: Account = doc.read()?;
    for key in patch.keys() {
        if !Account::FIELDS.contains(&key.as_str()) {
            return Err(ApiError::invalid_field(
                key,
                "unknown_field",
                "no such field",
            ));
        }
    }
    if patch
        .get("team_id")
        .is_some_and(|t| *t != serde_json::to_value(current.team_id).unwrap_or_default())
    {
        return Err(read_only("team_id"));
    }
    if let Some(tier) = patch.get("tier") {
        if *tier != serde_json::to_value(current.tier).unwrap_or_default()
            && !caller.role.supervises()
        {
            return Err(tier_forbidden());
        }
        if caller.role.supervises() && !tier.is_null() {
            patch.entry("proposed_tier").or_insert(Value::Null);
        }
    }
    if let Some(owner) = patch.get("owner_id").cloned()
        && owner != serde_json::to_value(current.owner_id).unwrap_or_default()
    {
        let owner: UserId = serde_json::from_value(owner)
            .map_err(|err| ApiError::invalid_field("owner_id", "invalid_value", err.to_string()))?;
        if !caller.role.supervises() {
            return Err(ApiError::forbidden(
                "owner_change_forbidden",
                "a rep cannot reassign an account; ask a manager",
            ));
        }
        let team = check_owner(&txn, caller, owner).await?;
        patch.insert(
            "team_id".into(),
            serde_json::to_value(team).unwrap_or_default(),
        );
    }
    if let Some(shares) = patch.get("shared_with").cloned()
        && shares != serde_json::to_value(&current.shared_with).unwrap_or_default()
    {
        if caller.role == Role::Rep && current.owner_id != caller.id {
            return Err(ApiError::forbidden(
                "share_change_forbidden",
                "only the owner or a manager changes who an account is shared with",
            ));
        }
        let shares: Vec<UserId> = serde_json::from_value(shares).map_err(|err| {
            ApiError::invalid_field("shared_with", "invalid_value", err.to_string())
        })?;
        check_shares(&txn, &shares).await?;
    }
    doc.automerge_mut().set_actor(state.actor.clone());
    let meta = state.change_meta(caller);
    if doc.merge_patch::<Account>(&patch, &meta)?.is_none() {
        return view_of(&row);
    }
    let seq = store(&txn, id, Some(&doc_row), &mut doc, &heads, &meta)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a patch made no change")))?;
    let view = materialize(&txn, id, &doc, seq, &meta, Some(&row)).await?;
    txn.commit().await?;
    Ok(view)
}

/// Writes the account's row and shares from its document.
pub async fn materialize(
    conn: &impl ConnectionTrait,
    id: Uuid,
    doc: &RecordDoc,
    version: i64,
    meta: &ChangeMeta,
    previous: Option<&account::Model>,
) -> ApiResult<AccountView> {
    let account: Account = doc.read()?;
    let branch_id = match account.team_id {
        Some(team_id) => team::Entity::find_by_id(team_id.0)
            .one(conn)
            .await?
            .map(|t| t.branch_id),
        None => None,
    };
    let view = AccountView {
        id: AccountId(id),
        conflicts: doc.conflicts(),
        created_by: previous.map_or(meta.user, |p| p.created_by.map(UserId)),
        created_at: previous.map_or(meta.time, |p| p.created_at),
        updated_at: meta.time,
        version,
        account,
    };
    let account = &view.account;
    let model = account::ActiveModel {
        id: sea_orm::Set(id),
        name: sea_orm::Set(account.name.clone()),
        name_search: sea_orm::Set(account.name.to_lowercase()),
        segment: sea_orm::Set(account.segment.as_str().to_owned()),
        tier: sea_orm::Set(account.tier.map(|t| t.as_str().to_owned())),
        proposed_tier: sea_orm::Set(account.proposed_tier.map(|t| t.as_str().to_owned())),
        stage: sea_orm::Set(account.stage.as_str().to_owned()),
        owner_id: sea_orm::Set(account.owner_id.0),
        team_id: sea_orm::Set(account.team_id.map(|t| t.0)),
        branch_id: sea_orm::Set(branch_id),
        deleted: sea_orm::Set(account.deleted),
        created_by: sea_orm::Set(view.created_by.map(|u| u.0)),
        created_at: sea_orm::Set(view.created_at),
        updated_at: sea_orm::Set(view.updated_at),
        version: sea_orm::Set(version),
        body: sea_orm::Set(serde_json::to_value(&view).map_err(ApiError::internal)?),
    };
    account::Entity::insert(model)
        .on_conflict(
            OnConflict::column(account::Column::Id)
                .update_columns([
                    account::Column::Name,
                    account::Column::NameSearch,
                    account::Column::Segment,
                    account::Column::Tier,
                    account::Column::ProposedTier,
                    account::Column::Stage,
                    account::Column::OwnerId,
                    account::Column::TeamId,
                    account::Column::BranchId,
                    account::Column::Deleted,
                    account::Column::UpdatedAt,
                    account::Column::Version,
                    account::Column::Body,
                ])
                .to_owned(),
        )
        .exec(conn)
        .await?;
    account_share::Entity::delete_many()
        .filter(account_share::Column::AccountId.eq(id))
        .exec(conn)
        .await?;
    let mut shares: Vec<Uuid> = view.account.shared_with.iter().map(|u| u.0).collect();
    shares.sort();
    shares.dedup();
    if !shares.is_empty() {
        account_share::Entity::insert_many(shares.into_iter().map(|user_id| {
            account_share::ActiveModel {
                account_id: sea_orm::Set(id),
                user_id: sea_orm::Set(user_id),
            }
        }))
        .exec(conn)
        .await?;
    }
    Ok(view)
}
