//! Accounts: creating, changing and reading them with the authority rules
//! (who may own, reassign, tier and share), and materializing their rows.

use super::{Materialize, Precondition, Review, write};
use crate::access::{account_scope, can_see_account, managed_scope, manages};
use crate::auth::{AuthUser, Role};
use crate::config::{Settings, TieringSettings};
use crate::db::{insert_each, upsert_each};
use crate::entities::{account, account_share, account_warning, team, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::insight::refresh::AccountInsight;
use crate::insight::signals::{HealthBand, WarningCode};
use crate::records::kind::{Pending, SyncedKind};
use crate::records::page::{self, Page};
use crate::records::stage_moves;
use crate::state::AppState;
use crate::store::scope::{self, AccountScope};
use crate::tiering;
use chrono::{DateTime, Utc};
use kam_sync_core::account::{Segment, Stage, Tier, TierRejection};
use kam_sync_core::ids::{AccountId, TeamId, UserId};
use kam_sync_core::{Account, Conflict, parse_record};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
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
    /// The weighted score of its scores, 0-100, under the tiering settings
    /// in force; null when it has no scores.
    #[serde(default)]
    pub score: Option<i64>,
    /// The tier the score suggests; null when it has no score.
    #[serde(default)]
    pub suggested_tier: Option<Tier>,
    /// Health, warnings and visit cadence, as the server last refreshed them.
    #[serde(flatten)]
    pub insight: AccountInsight,
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
    /// Whose score suggests this tier.
    pub suggested_tier: Option<Tier>,
    /// With a score of at least this.
    #[param(minimum = 0, maximum = 100)]
    pub min_score: Option<i64>,
    /// In this segment.
    pub segment: Option<Segment>,
    /// In this lifecycle stage.
    pub stage: Option<Stage>,
    /// In this health band.
    pub health_band: Option<HealthBand>,
    /// With a health of at most this.
    #[param(minimum = 0, maximum = 100)]
    pub max_health: Option<i64>,
    /// With this warning holding.
    pub warning: Option<WarningCode>,
    /// Whose next visit is overdue (true) or not (false).
    pub visit_overdue: Option<bool>,
    /// With an at-risk proposal waiting (true) or not (false).
    pub at_risk_proposed: Option<bool>,
    /// The order: `newest` (the default), `health` (the least healthy
    /// first) or `next_visit_due` (the visit due soonest first); accounts
    /// insight does not follow (no health, no visit due) come last.
    #[param(inline)]
    pub sort: Option<AccountSort>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// Name contains this text (case-insensitive).
    pub q: Option<String>,
    /// Include soft-deleted accounts (default false).
    pub include_deleted: Option<bool>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// The orders of an account list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountSort {
    /// Newest first.
    #[default]
    Newest,
    /// The least healthy first.
    Health,
    /// The visit due soonest (or most overdue) first.
    NextVisitDue,
}

/// The prefix of the cursors of account lists in an insight order.
const SORTED_CURSOR: &str = "as:";

impl AccountSort {
    /// The column ordered by, for an insight order.
    fn column(self) -> Option<account::Column> {
        match self {
            Self::Newest => None,
            Self::Health => Some(account::Column::Health),
            Self::NextVisitDue => Some(account::Column::NextVisitDue),
        }
    }

    /// The row's value in this order, as a cursor keeps it.
    fn key_of(self, row: &account::Model) -> Option<String> {
        match self {
            Self::Newest => None,
            Self::Health => row.health.map(|h| h.to_string()),
            Self::NextVisitDue => row.next_visit_due.map(|due| due.to_rfc3339()),
        }
    }

    /// A key a cursor kept, as the value to compare with.
    fn parse_key(self, text: &str) -> Option<sea_orm::Value> {
        match self {
            Self::Newest => None,
            Self::Health => text.parse::<i64>().ok().map(Into::into),
            Self::NextVisitDue => DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.with_timezone(&Utc).into()),
        }
    }
}

/// One page of the rows matching `condition` in an insight `sort` (its key
/// ascending, accounts without one last, then newest first), after `cursor`.
async fn sorted_rows(
    conn: &impl ConnectionTrait,
    mut condition: Condition,
    sort: AccountSort,
    column: account::Column,
    cursor: Option<&str>,
    limit: u64,
) -> ApiResult<Page<account::Model>> {
    if let Some(cursor) = cursor {
        let invalid = || ApiError::from(kam_sync_core::cursor::invalid_cursor());
        let position = kam_sync_core::cursor::decode_opaque(SORTED_CURSOR, cursor)?;
        let (key, id) = position.rsplit_once('/').ok_or_else(invalid)?;
        let id = Uuid::parse_str(id).map_err(|_| invalid())?;
        condition = condition.add(match key {
            "" => Condition::all()
                .add(column.is_null())
                .add(account::Column::Id.lt(id)),
            key => {
                let value = sort.parse_key(key).ok_or_else(invalid)?;
                Condition::any()
                    .add(Expr::col(column).gt(value.clone()))
                    .add(
                        Condition::all()
                            .add(Expr::col(column).eq(value))
                            .add(account::Column::Id.lt(id)),
                    )
                    .add(column.is_null())
            }
        });
    }
    let rows = account::Entity::find()
        .filter(condition)
        .order_by_asc(Expr::col(column).is_null())
        .order_by_asc(column)
        .order_by_desc(account::Column::Id)
        .limit(limit.saturating_add(1))
        .all(conn)
        .await?;
    Ok(Page::from_overfetch_by(rows, limit, |row| {
        let key = sort.key_of(row).unwrap_or_default();
        kam_sync_core::cursor::encode_opaque(SORTED_CURSOR, &format!("{key}/{}", row.id))
    }))
}

/// The view kept in the row, with the rating from the row's columns: those
/// are re-scored in place when the tiering settings change.
fn view_of(row: &account::Model) -> ApiResult<AccountView> {
    let mut view: AccountView =
        serde_json::from_value(row.body.clone()).map_err(ApiError::internal)?;
    view.score = row.score;
    view.suggested_tier = row
        .suggested_tier
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|err: String| ApiError::internal(anyhow::anyhow!(err)))?;
    view.insight.as_of(Utc::now());
    Ok(view)
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

/// Those of `ids` that are accounts the caller may see, in one query.
pub async fn visible_among(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    ids: &[Uuid],
) -> ApiResult<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let mut query = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .filter(account::Column::Id.is_in(ids.iter().copied()));
    if let Some(scope) = account_scope(caller) {
        query = query.filter(scope);
    }
    Ok(query
        .into_tuple::<Uuid>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// Reads one account.
pub async fn get(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<AccountView> {
    view_of(&visible_row(state.db.conn(), caller, id).await?)
}

/// Lists accounts in the caller's scope, newest first.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    filter: AccountFilter,
) -> ApiResult<Page<AccountView>> {
    let limit = Page::<AccountView>::limit(filter.limit, state.settings.server.max_page_size)?;
    let mut condition = account_scope(caller).unwrap_or_else(Condition::all);
    if let Some(owner) = filter.owner_id {
        condition = condition.add(account::Column::OwnerId.eq(owner));
    }
    if let Some(team) = filter.team_id {
        condition = condition.add(account::Column::TeamId.eq(team));
    }
    if let Some(tier) = filter.tier {
        condition = condition.add(account::Column::Tier.eq(tier.as_str()));
    }
    if let Some(suggested) = filter.suggested_tier {
        condition = condition.add(account::Column::SuggestedTier.eq(suggested.as_str()));
    }
    if let Some(min_score) = filter.min_score {
        if !(0..=100).contains(&min_score) {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "min_score runs from 0 to 100",
            ));
        }
        condition = condition.add(account::Column::Score.gte(min_score));
    }
    if let Some(segment) = filter.segment {
        condition = condition.add(account::Column::Segment.eq(segment.as_str()));
    }
    if let Some(stage) = filter.stage {
        condition = condition.add(account::Column::Stage.eq(stage.as_str()));
    }
    condition = insight_filters(condition, &filter)?;
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
    let sort = filter.sort.unwrap_or_default();
    if let Some(column) = sort.column() {
        let page = sorted_rows(
            state.db.conn(),
            condition,
            sort,
            column,
            filter.cursor.as_deref(),
            limit,
        )
        .await?;
        return Ok(Page {
            items: page.items.iter().map(view_of).collect::<ApiResult<_>>()?,
            next_cursor: page.next_cursor,
        });
    }
    let rows = page::rows_after::<account::Entity>(
        state.db.conn(),
        condition,
        account::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let items = rows.iter().map(view_of).collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |view| view.id.0))
}

/// The filters on an account's insight: health, warnings, visits due,
/// proposals.
fn insight_filters(mut condition: Condition, filter: &AccountFilter) -> ApiResult<Condition> {
    if let Some(band) = filter.health_band {
        condition = condition.add(account::Column::HealthBand.eq(band.as_str()));
    }
    if let Some(max_health) = filter.max_health {
        if !(0..=100).contains(&max_health) {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "max_health runs from 0 to 100",
            ));
        }
        condition = condition.add(account::Column::Health.lte(max_health));
    }
    if let Some(code) = filter.warning {
        condition = condition.add(
            account::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(account_warning::Column::AccountId)
                    .from(account_warning::Entity)
                    .and_where(account_warning::Column::Code.eq(code.as_str()))
                    .to_owned(),
            ),
        );
    }
    let now = Utc::now();
    match filter.visit_overdue {
        Some(true) => condition = condition.add(account::Column::NextVisitDue.lt(now)),
        Some(false) => {
            condition = condition.add(
                Condition::any()
                    .add(account::Column::NextVisitDue.is_null())
                    .add(account::Column::NextVisitDue.gte(now)),
            );
        }
        None => {}
    }
    match filter.at_risk_proposed {
        Some(true) => condition = condition.add(account::Column::AtRiskProposedAt.is_not_null()),
        Some(false) => condition = condition.add(account::Column::AtRiskProposedAt.is_null()),
        None => {}
    }
    Ok(condition)
}

/// Who may own an account the caller assigns: an active rep, manager or
/// director within the caller's reach. Returns the owner's team.
///
/// A caller who may assign nobody else is refused before any look-up, and a
/// user who does not exist is refused like one out of the caller's reach,
/// so the answer does not tell which users exist. Only a caller who reaches
/// everyone (an admin, a director of no branch) hears `unknown_user`.
async fn check_owner(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    owner: UserId,
) -> ApiResult<Option<TeamId>> {
    // The caller was read from the database for this request (active, with
    // their role and team): owning their own account needs no look-up.
    if owner == caller.id && matches!(caller.role, Role::Rep | Role::Manager | Role::Director) {
        return Ok(caller.team_id);
    }
    if matches!(caller.role, Role::Rep | Role::Service) {
        return Err(owner_forbidden(caller));
    }
    let reaches_everyone = match caller.role {
        Role::Admin => true,
        Role::Director => caller.branch_id.is_none(),
        Role::Manager | Role::Rep | Role::Service => false,
    };
    let Some(row) = user::Entity::find_by_id(owner.0)
        .one(conn)
        .await?
        .filter(|u| u.active)
    else {
        return Err(if reaches_everyone {
            ApiError::invalid_field("owner_id", "unknown_user", "no active user has this id")
        } else {
            owner_forbidden(caller)
        });
    };
    let team_id = row.team_id.map(TeamId);
    let in_reach = match caller.role {
        _ if reaches_everyone || owner == caller.id => true,
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
        Role::Admin | Role::Rep | Role::Service => false,
    };
    if !in_reach {
        return Err(owner_forbidden(caller));
    }
    if !matches!(
        Role::parse(&row.role),
        Some(Role::Rep | Role::Manager | Role::Director)
    ) {
        return Err(ApiError::invalid_field(
            "owner_id",
            "invalid_owner",
            "accounts are owned by reps, managers or directors",
        ));
    }
    Ok(team_id)
}

fn owner_forbidden(caller: &AuthUser) -> ApiError {
    ApiError::new(
        ErrorCode::OwnerChangeForbidden,
        match caller.role {
            Role::Rep => "a rep cannot assign an account to someone else; ask a manager",
            _ => "that user is outside the teams you manage",
        },
    )
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

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_default()
}

/// What the server makes of a new version of an account written by
/// `caller`, against the version before (`None` for a new account): who
/// may own, reassign, tier and share it, and the fields the server keeps.
///
/// Reassigning an account and changing who it is shared with belong to
/// the managers of the account as it stood ([`manages`]); its owner may
/// share it too. Whoever creates an account may set both, within their
/// reach.
pub async fn review(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    old: Option<&Account>,
    new: &Account,
) -> ApiResult<Review> {
    let mut review = Review::default();
    let managed = old.is_none_or(|o| manages_account(caller, o.owner_id, o.team_id));
    let old_owner = old.map(|o| o.owner_id);
    let mut owner = new.owner_id;
    let mut team = old.and_then(|o| o.team_id);
    if old_owner != Some(new.owner_id) {
        let kept = old_owner.unwrap_or(caller.id);
        let verdict = if managed {
            check_owner(conn, caller, new.owner_id).await
        } else {
            Err(not_managed(
                ErrorCode::OwnerChangeForbidden,
                "only the account's managers reassign it",
            ))
        };
        match verdict {
            Ok(owner_team) => team = owner_team,
            Err(err) => {
                review.refuse("owner_id", json(&kept), err);
                owner = kept;
            }
        }
    }
    if new.team_id != team {
        let untouched = old.is_some_and(|o| o.team_id == new.team_id) || new.team_id.is_none();
        if untouched {
            review.derive("team_id", json(&team));
        } else {
            review.refuse(
                "team_id",
                json(&team),
                ApiError::invalid_field(
                    "team_id",
                    "read_only_field",
                    "kept by the server: the owner's team",
                ),
            );
        }
    }
    let corrects = manages_account(caller, owner, team);
    let old_tier = old.and_then(|o| o.tier);
    if new.tier != old_tier {
        if !corrects {
            review.refuse("tier", json(&old_tier), tier_forbidden());
        } else if new.tier.is_some() && new.proposed_tier.is_some() {
            review.derive("proposed_tier", Value::Null);
        }
    }
    review_stage(corrects, old, new, &mut review);
    let old_shares = old.map(|o| o.shared_with.clone()).unwrap_or_default();
    if new.shared_with != old_shares {
        if !managed && old.is_some_and(|o| o.owner_id != caller.id) {
            review.refuse(
                "shared_with",
                json(&old_shares),
                not_managed(
                    ErrorCode::ShareChangeForbidden,
                    "only the account's owner or managers change who it is shared with",
                ),
            );
        } else if let Err(err) = check_shares(conn, &new.shared_with).await {
            review.refuse("shared_with", json(&old_shares), err);
        }
    }
    Ok(review)
}

/// The 403 for a change only an account's managers make.
fn not_managed(code: ErrorCode, rule: &str) -> ApiError {
    ApiError::new(
        code,
        format!("{rule}: a manager leading its team, its branch's director or an admin"),
    )
}

/// Whether the caller manages an account owned by `owner` in `team` (see
/// [`manages`]). They confirm its tier and correct its stage; a manager it
/// is merely shared with does not.
fn manages_account(caller: &AuthUser, owner: UserId, team: Option<TeamId>) -> bool {
    manages(caller, owner.0, team.map(|t| t.0))
}

/// The lifecycle rules (大客户全生命周期) on a new version of an account;
/// `corrects` when the caller [`manages`] it.
///
/// A new account may start at any stage: it is being recorded, not moved.
/// A move is allowed along the lifecycle's edges ([`Stage::moves_to`]) to
/// anyone who may write the account; its managers may also correct a stage
/// (skip one, step back). Either way, moving to at_risk needs reasons
/// and moving to lost a lost reason. Winning an account back (at_risk or lost
/// to maintaining) is counted by the server, and leaving the churn stages
/// clears their reasons. The won-back record and a tier rejection are kept
/// by the server: a writer changing them is refused.
fn review_stage(corrects: bool, old: Option<&Account>, new: &Account, review: &mut Review) {
    let (from, to) = (old.map(|o| o.stage), new.stage);
    let won_back = from.is_some_and(|from| from.wins_back(to));
    let old_count = old.map_or(0, |o| o.won_back_count);
    let old_won_back_at = old.and_then(|o| o.won_back_at);
    if won_back {
        review.derive("won_back_count", json(&(old_count + 1)));
        review.derive("won_back_at", json(&Utc::now()));
    } else {
        if new.won_back_count != old_count {
            review.refuse(
                "won_back_count",
                json(&old_count),
                read_only("won_back_count"),
            );
        }
        if new.won_back_at != old_won_back_at {
            review.refuse(
                "won_back_at",
                json(&old_won_back_at),
                read_only("won_back_at"),
            );
        }
    }
    let old_rejection = old.and_then(|o| o.tier_rejection.clone());
    if new.tier_rejection != old_rejection {
        review.refuse(
            "tier_rejection",
            json(&old_rejection),
            read_only("tier_rejection"),
        );
    }
    let Some(from) = from.filter(|from| *from != to) else {
        return;
    };
    let restore = json(&from);
    if !from.moves_to(to) && !corrects {
        review.refuse(
            "stage",
            restore,
            ApiError::new(
                ErrorCode::InvalidStageMove,
                format!(
                    "an account does not move from {from} to {to}: it moves one stage \
                     forward, to at_risk, from at_risk to lost, or back to maintaining; \
                     a manager corrects other moves"
                ),
            ),
        );
        return;
    }
    if to == Stage::AtRisk && new.risk_reasons.is_empty() {
        review.refuse(
            "stage",
            restore,
            ApiError::invalid_field(
                "risk_reasons",
                "required",
                format!("moving from {from} to at_risk needs at least one reason"),
            ),
        );
    } else if to == Stage::Lost
        && new
            .lost_reason
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        review.refuse(
            "stage",
            restore,
            ApiError::invalid_field(
                "lost_reason",
                "required",
                format!("moving from {from} to lost needs a lost_reason"),
            ),
        );
    } else if !to.is_churning() {
        if !new.risk_reasons.is_empty() {
            review.derive("risk_reasons", json(&Vec::<String>::new()));
        }
        if new.lost_reason.is_some() {
            review.derive("lost_reason", Value::Null);
        }
    }
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
    write::require_writer::<Accounts>(caller)?;
    let id = crate::records::take_id(&mut body)?;
    crate::telemetry::record_id(id);
    body.entry("owner_id")
        .or_insert_with(|| Value::String(caller.id.to_string()));
    let account: Account = parse_record(Value::Object(body))?;
    write::create::<Accounts>(state, caller, id, account).await
}

/// Applies a merge patch to an account, with the authority rules.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    patch: Map<String, Value>,
    precondition: Option<&Precondition>,
) -> ApiResult<AccountView> {
    write::patch::<Accounts>(state, caller, id, precondition, |_| Ok(patch.into())).await
}

/// Why a manager turns a tier proposal down.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRejectionRequest {
    /// The reason, recorded on the account for the rep to read.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// The proposal a tier decision is about, if the caller [`manages`] the account.
fn pending_proposal(caller: &AuthUser, account: &Account) -> ApiResult<Tier> {
    if !manages_account(caller, account.owner_id, account.team_id) {
        return Err(tier_forbidden());
    }
    account.proposed_tier.ok_or_else(|| {
        ApiError::new(
            ErrorCode::NoTierProposal,
            "the account has no tier proposal waiting",
        )
    })
}

fn tier_forbidden() -> ApiError {
    ApiError::new(
        ErrorCode::TierConfirmationForbidden,
        "only a manager confirms a tier; propose one with proposed_tier",
    )
}

/// Confirms the tier proposed for an account: the proposal becomes its tier.
pub async fn confirm_tier(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    precondition: Option<&Precondition>,
) -> ApiResult<AccountView> {
    write::patch::<Accounts>(state, caller, id, precondition, |account| {
        let proposed = pending_proposal(caller, account)?;
        let mut patch = Map::new();
        patch.insert("tier".into(), json(&proposed));
        patch.insert("proposed_tier".into(), Value::Null);
        Ok(patch.into())
    })
    .await
}

/// Turns down the tier proposed for an account, recording why.
pub async fn reject_tier(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    request: TierRejectionRequest,
    precondition: Option<&Precondition>,
) -> ApiResult<AccountView> {
    let reason = request.reason.trim().to_owned();
    if reason.is_empty() {
        return Err(ApiError::invalid_field(
            "reason",
            "required",
            "say why the proposal is turned down",
        ));
    }
    if reason.chars().count() > kam_sync_core::account::MAX_REASON_LEN {
        return Err(ApiError::invalid_field(
            "reason",
            "too_long",
            format!(
                "at most {} characters",
                kam_sync_core::account::MAX_REASON_LEN
            ),
        ));
    }
    write::patch::<Accounts>(state, caller, id, precondition, |account| {
        let proposed = pending_proposal(caller, account)?;
        let mut patch = Map::new();
        patch.insert("proposed_tier".into(), Value::Null);
        let rejection = TierRejection {
            tier: proposed,
            reason,
            by: Some(caller.id),
            at: Utc::now(),
        };
        let mut kept_by_server = Map::new();
        kept_by_server.insert("tier_rejection".into(), json(&rejection));
        Ok(write::Change {
            patch,
            kept_by_server,
        })
    })
    .await
}

/// Paging through the tier proposals waiting for a decision.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TierProposalFilter {
    /// Only accounts of this team.
    pub team_id: Option<Uuid>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// The accounts the caller [`manages`] with a tier proposal waiting, newest
/// first, each with its score and suggested tier; for managers and above.
pub async fn tier_proposals(
    state: &AppState,
    caller: &AuthUser,
    filter: TierProposalFilter,
) -> ApiResult<Page<AccountView>> {
    if !caller.role.supervises() {
        return Err(tier_forbidden());
    }
    decisions_waiting(
        state,
        caller,
        filter,
        account::Column::ProposedTier.is_not_null(),
    )
    .await
}

/// The accounts the caller decides on (an account's managers: see
/// [`manages`]; a manager not on the accounts only shared with her) that
/// match `waiting`, newest first.
async fn decisions_waiting(
    state: &AppState,
    caller: &AuthUser,
    filter: TierProposalFilter,
    waiting: sea_orm::sea_query::SimpleExpr,
) -> ApiResult<Page<AccountView>> {
    let limit = Page::<AccountView>::limit(filter.limit, state.settings.server.max_page_size)?;
    let mut condition = decisions_condition(caller, waiting);
    if let Some(team) = filter.team_id {
        condition = condition.add(account::Column::TeamId.eq(team));
    }
    let rows = page::rows_after::<account::Entity>(
        state.db.conn(),
        condition,
        account::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let items = rows.iter().map(view_of).collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |view| view.id.0))
}

/// The accounts matching `waiting` that `caller` decides on: those they
/// [`manages`] (a manager: not the accounts merely shared with them), not
/// deleted. The lists of decisions waiting and the worklist ask this.
pub fn decisions_condition(
    caller: &AuthUser,
    waiting: sea_orm::sea_query::SimpleExpr,
) -> Condition {
    managed_scope(caller)
        .unwrap_or_else(Condition::all)
        .add(waiting)
        .add(account::Column::Deleted.eq(false))
}

/// The accounts the caller [`manages`] that the server proposes moving to
/// `at_risk`, newest first, each with its health and warnings; for
/// managers and above.
pub async fn at_risk_proposals(
    state: &AppState,
    caller: &AuthUser,
    filter: TierProposalFilter,
) -> ApiResult<Page<AccountView>> {
    if !caller.role.supervises() {
        return Err(at_risk_forbidden());
    }
    decisions_waiting(
        state,
        caller,
        filter,
        account::Column::AtRiskProposedAt.is_not_null(),
    )
    .await
}

fn at_risk_forbidden() -> ApiError {
    ApiError::new(
        ErrorCode::AtRiskDecisionForbidden,
        "only the account's managers decide on an at-risk proposal",
    )
}

/// The warning codes of the at-risk proposal waiting on account `id`, if
/// the caller [`manages`] it.
async fn pending_at_risk(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<(account::Model, Vec<String>)> {
    let row = visible_row(conn, caller, id).await?;
    if !manages(caller, row.owner_id, row.team_id) {
        return Err(at_risk_forbidden());
    }
    if row.at_risk_proposed_at.is_none() {
        return Err(ApiError::new(
            ErrorCode::NoAtRiskProposal,
            "the account has no at-risk proposal waiting",
        ));
    }
    let insight = AccountInsight::deserialize(&row.body).map_err(ApiError::internal)?;
    let codes = insight
        .warnings
        .iter()
        .map(|w| w.code.as_str().to_owned())
        .collect();
    Ok((row, codes))
}

/// Confirms the server's proposal: the account moves to `at_risk` with its
/// warning codes as the reasons, as one change devices receive (the
/// proposal clears with the move).
pub async fn confirm_at_risk(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    precondition: Option<&Precondition>,
) -> ApiResult<AccountView> {
    let (_, codes) = pending_at_risk(state.db.conn(), caller, id).await?;
    write::patch::<Accounts>(state, caller, id, precondition, |_| {
        let mut patch = Map::new();
        patch.insert("stage".into(), json(&Stage::AtRisk));
        patch.insert("risk_reasons".into(), json(&codes));
        Ok(patch.into())
    })
    .await
}

/// Turns the server's proposal down: it is not made again for the same
/// warnings while the account stays in the at-risk band.
pub async fn dismiss_at_risk(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    precondition: Option<&Precondition>,
) -> ApiResult<AccountView> {
    let txn = state.db.begin_write().await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        // The row's body is written back whole: no write may land between
        // reading it and writing it (SQLite's writer turn does the same).
        account::Entity::find_by_id(id)
            .lock_exclusive()
            .one(&txn)
            .await?;
    }
    let (row, codes) = pending_at_risk(&txn, caller, id).await?;
    super::check_precondition(precondition, row.version)?;
    let mut view = view_of(&row)?;
    view.insight.at_risk_proposed_at = None;
    account::Entity::update_many()
        .col_expr(
            account::Column::AtRiskProposedAt,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .col_expr(
            account::Column::AtRiskDismissed,
            Expr::value(codes.join(",")),
        )
        .col_expr(
            account::Column::Body,
            Expr::value(serde_json::to_value(&view).map_err(ApiError::internal)?),
        )
        .filter(account::Column::Id.eq(id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(view)
}

/// Writes the rows, shares and scope history of many accounts: one look-up
/// of their teams' branches and one of their shares before, whatever their
/// number, then the writes. Each row is rated with `tiering` (read in the
/// same transaction, see [`tiering::current`]). Returns the views, in order.
pub async fn materialize_all(
    conn: &impl ConnectionTrait,
    items: &[Materialize<'_, account::Model>],
    tiering: &TieringSettings,
) -> ApiResult<Vec<AccountView>> {
    let accounts: Vec<Account> = items
        .iter()
        .map(|item| item.doc.read())
        .collect::<Result<_, _>>()?;
    let team_ids: HashSet<Uuid> = accounts
        .iter()
        .filter_map(|a| a.team_id.map(|t| t.0))
        .collect();
    let branches: HashMap<Uuid, Option<Uuid>> = if team_ids.is_empty() {
        HashMap::new()
    } else {
        team::Entity::find()
            .select_only()
            .column(team::Column::Id)
            .column(team::Column::BranchId)
            .filter(team::Column::Id.is_in(team_ids))
            .into_tuple::<(Uuid, Option<Uuid>)>()
            .all(conn)
            .await?
            .into_iter()
            .collect()
    };
    let previous_ids: Vec<Uuid> = items
        .iter()
        .filter_map(|item| item.previous.map(|p| p.id))
        .collect();
    let mut old_shares: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    if !previous_ids.is_empty() {
        let rows: Vec<(Uuid, Uuid)> = account_share::Entity::find()
            .select_only()
            .column(account_share::Column::AccountId)
            .column(account_share::Column::UserId)
            .filter(account_share::Column::AccountId.is_in(previous_ids))
            .into_tuple()
            .all(conn)
            .await?;
        for (account_id, user_id) in rows {
            old_shares.entry(account_id).or_default().push(user_id);
        }
    }
    let mut views = Vec::with_capacity(items.len());
    let mut models = Vec::with_capacity(items.len());
    let mut rescoped_before = Vec::new();
    let mut new_shares = Vec::new();
    let mut scope_changes = Vec::new();
    let mut moves = Vec::new();
    for (item, account) in items.iter().zip(accounts) {
        let id = item.id;
        let branch_id = account
            .team_id
            .and_then(|t| branches.get(&t.0).copied().flatten());
        let mut shares: Vec<Uuid> = account.shared_with.iter().map(|u| u.0).collect();
        shares.sort();
        shares.dedup();
        let mut before = old_shares.remove(&id).unwrap_or_default();
        before.sort();
        let rating = tiering::rate(tiering, &account.scores);
        let scope_changed = item.previous.is_none_or(|p| {
            p.owner_id != account.owner_id.0
                || p.team_id != account.team_id.map(|t| t.0)
                || p.branch_id != branch_id
                || before != shares
        });
        let view = AccountView {
            id: AccountId(id),
            conflicts: item.doc.conflicts(),
            created_by: item
                .previous
                .map_or(item.meta.user, |p| p.created_by.map(UserId)),
            created_at: item.previous.map_or(item.meta.time, |p| p.created_at),
            updated_at: item.meta.time,
            version: item.version,
            score: rating.score,
            suggested_tier: rating.suggested_tier,
            // Kept as last refreshed; the unit of work refreshes it next.
            insight: item
                .previous
                .map(|p| AccountInsight::deserialize(&p.body))
                .transpose()
                .map_err(ApiError::internal)?
                .unwrap_or_default(),
            account,
        };
        let account = &view.account;
        moves.extend(stage_moves::Move::between(
            id,
            id,
            item.previous.map(|p| p.stage.as_str()),
            account.stage.as_str(),
            item.meta.time,
            item.meta.user.map(|u| u.0),
        ));
        models.push(account::ActiveModel {
            id: Set(id),
            name: Set(account.name.clone()),
            name_search: Set(account.name.to_lowercase()),
            segment: Set(account.segment.as_str().to_owned()),
            tier: Set(account.tier.map(|t| t.as_str().to_owned())),
            proposed_tier: Set(account.proposed_tier.map(|t| t.as_str().to_owned())),
            stage: Set(account.stage.as_str().to_owned()),
            score: Set(view.score),
            suggested_tier: Set(view.suggested_tier.map(|t| t.as_str().to_owned())),
            owner_id: Set(account.owner_id.0),
            team_id: Set(account.team_id.map(|t| t.0)),
            branch_id: Set(branch_id),
            deleted: Set(account.deleted),
            created_by: Set(view.created_by.map(|u| u.0)),
            created_at: Set(view.created_at),
            updated_at: Set(view.updated_at),
            version: Set(item.version),
            body: Set(serde_json::to_value(&view).map_err(ApiError::internal)?),
            ..Default::default()
        });
        if scope_changed {
            if item.previous.is_some() {
                rescoped_before.push(id);
            }
            new_shares.extend(shares.iter().map(|user_id| account_share::ActiveModel {
                account_id: Set(id),
                user_id: Set(*user_id),
            }));
            scope_changes.push(AccountScope {
                account_id: id,
                seq: item.version,
                owner_id: account.owner_id.0,
                team_id: account.team_id.map(|t| t.0),
                branch_id,
                shared_with: shares,
            });
        }
        views.push(view);
    }
    upsert_each(
        conn,
        models,
        OnConflict::column(account::Column::Id)
            .update_columns([
                account::Column::Name,
                account::Column::NameSearch,
                account::Column::Segment,
                account::Column::Tier,
                account::Column::ProposedTier,
                account::Column::Stage,
                account::Column::Score,
                account::Column::SuggestedTier,
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
    .await?;
    if !rescoped_before.is_empty() {
        account_share::Entity::delete_many()
            .filter(account_share::Column::AccountId.is_in(rescoped_before))
            .exec(conn)
            .await?;
    }
    insert_each(conn, new_shares).await?;
    scope::record(conn, scope_changes).await?;
    stage_moves::record(conn, stage_moves::ACCOUNT, moves).await?;
    Ok(views)
}

/// Moves the accounts `owner` owns to the team the owner is in now: an
/// account's team is its owner's, and who may see it follows. Each move is a
/// server change, logged like any other, so devices drop or receive the
/// account. Returns how many accounts moved.
pub async fn follow_owner_team(state: &AppState, owner: Uuid) -> ApiResult<usize> {
    let conn = state.db.conn();
    let Some(user) = user::Entity::find_by_id(owner).one(conn).await? else {
        return Ok(0);
    };
    let team = json(&user.team_id.map(TeamId));
    let owned: Vec<(Uuid, Option<Uuid>)> = account::Entity::find()
        .select_only()
        .column(account::Column::Id)
        .column(account::Column::TeamId)
        .filter(account::Column::OwnerId.eq(owner))
        .into_tuple()
        .all(conn)
        .await?;
    let mut patch = Map::new();
    patch.insert("team_id".into(), team);
    let mut moved = 0;
    for (id, _) in owned.into_iter().filter(|(_, t)| *t != user.team_id) {
        if write::server_patch::<Accounts>(state, id, &patch).await? {
            moved += 1;
        }
    }
    Ok(moved)
}

/// Accounts as a synced kind.
pub struct Accounts;

impl SyncedKind for Accounts {
    type Record = Account;
    type Entity = account::Entity;
    type View = AccountView;
    const NAME: &'static str = "account";

    async fn review(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        _id: Uuid,
        old: Option<&Account>,
        new: &Account,
        _pending: &Pending,
    ) -> ApiResult<Review> {
        review(conn, caller, old, new).await
    }

    async fn before_store(conn: &impl ConnectionTrait, settings: &Settings) -> ApiResult<()> {
        tiering::current(conn, &settings.tiering).await.map(drop)
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        settings: &Settings,
        items: &[Materialize<'_, account::Model>],
    ) -> ApiResult<Vec<AccountView>> {
        let tiering = tiering::current(conn, &settings.tiering).await?;
        materialize_all(conn, items, &tiering).await
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, account::Model>> {
        super::rows_by_id::<account::Entity>(conn, account::Column::Id, ids, |row| row.id).await
    }

    fn account_of(id: Uuid, _record: &Account) -> Uuid {
        id
    }

    fn account_of_view(view: &AccountView) -> Uuid {
        view.id.0
    }

    fn with_insight(view: &mut AccountView, insight: &AccountInsight) {
        view.insight = insight.clone();
    }

    fn row_parts(row: &account::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }

    fn view_of(row: &account::Model) -> ApiResult<AccountView> {
        view_of(row)
    }

    async fn visible(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        id: Uuid,
    ) -> ApiResult<account::Model> {
        visible_row(conn, caller, id).await
    }
}
