//! The worklist (`GET /api/v1/worklist`): what the caller should do next,
//! most urgent first. Each kind of item is one rule over the materialized
//! rows, asked at each call ([`find`]: one statement for its items, one for
//! its counts per person), so an item disappears the moment its record
//! stops matching; nothing is stored. Adding a kind is one [`ItemKind`]
//! variant, the roles it is for, and its query.
//!
//! Whose items a caller sees: a rep his own; a manager her own and those of
//! the users of the teams she leads; a director or an admin everyone's in
//! their scope; the service desk the ticket and callback queue of its
//! scope. Always within the accounts the caller sees
//! ([`visible_account_ids`]). docs/worklist.md tells the rules and windows.
//!
//! The one thing stored is when each user last looked ([`seen`],
//! `POST /api/v1/worklist/seen`): the warnings raised since are news.

use crate::access::{managed_scope, visible_account_ids};
use crate::auth::{AuthUser, Role};
use crate::config::WorklistSettings;
use crate::entities::{
    account, account_plan, account_warning, callback, contract, plan_action, plan_resource, ticket,
    user, visit, worklist_look,
};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::insight::signals::WarningSeverity;
use crate::records::accounts::decisions_condition;
use crate::records::contracts::ContractStatus;
use crate::records::tickets::open_condition;
use crate::state::AppState;
use chrono::{DateTime, Days, NaiveDate, NaiveTime, SubsecRound, TimeDelta, Utc};
use kam_sync_core::account_plan::{ActionStatus, PlanStatus, ResourceStatus};
use kam_sync_core::callback::CallbackStatus;
use kam_sync_core::visit::VisitStatus;
use sea_orm::sea_query::{Expr, OnConflict, Query, SelectStatement, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, JoinType, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Items returned when the caller names no `limit`.
pub const DEFAULT_LIMIT: u64 = 100;

/// Ids looked up per statement when naming accounts and people.
const NAMES_PER_LOOKUP: usize = 1000;

/// What an item asks of its person.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A planned visit whose time is within the window ahead.
    VisitDue,
    /// A visit still planned after its time.
    VisitOverdue,
    /// An account-plan action not done, due within the window or before.
    PlanActionDue,
    /// A planned callback scheduled within the window or before.
    CallbackDue,
    /// An open ticket whose SLA ends within the near-SLA window.
    TicketNearSla,
    /// An open ticket past its SLA.
    TicketPastSla,
    /// A tier proposed for an account, for its managers to decide.
    TierProposal,
    /// The server's proposal to move a slipping account to `at_risk`
    /// (docs/insight.md), for its managers to confirm or dismiss.
    AtRiskProposal,
    /// A resource request (资源支持) of an account plan, for the account's
    /// managers to decide.
    ResourceRequest,
    /// An active contract ending within the window, or past its end.
    ContractEnding,
    /// A warning (docs/insight.md) on an account, raised since the caller
    /// last looked (`POST /worklist/seen`).
    NewWarning,
}

impl ItemKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [ItemKind; 11] = [
        Self::VisitDue,
        Self::VisitOverdue,
        Self::PlanActionDue,
        Self::CallbackDue,
        Self::TicketNearSla,
        Self::TicketPastSla,
        Self::TierProposal,
        Self::AtRiskProposal,
        Self::ResourceRequest,
        Self::ContractEnding,
        Self::NewWarning,
    ];

    /// Stable code, as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VisitDue => "visit_due",
            Self::VisitOverdue => "visit_overdue",
            Self::PlanActionDue => "plan_action_due",
            Self::CallbackDue => "callback_due",
            Self::TicketNearSla => "ticket_near_sla",
            Self::TicketPastSla => "ticket_past_sla",
            Self::TierProposal => "tier_proposal",
            Self::AtRiskProposal => "at_risk_proposal",
            Self::ResourceRequest => "resource_request",
            Self::ContractEnding => "contract_ending",
            Self::NewWarning => "new_warning",
        }
    }

    fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == code)
    }

    /// Whether a caller of `role` gets items of this kind: the service desk
    /// works tickets and callbacks only; decisions go to managers and above.
    fn is_for(self, role: Role) -> bool {
        match self {
            Self::CallbackDue | Self::TicketNearSla | Self::TicketPastSla => true,
            Self::VisitDue
            | Self::VisitOverdue
            | Self::PlanActionDue
            | Self::ContractEnding
            | Self::NewWarning => role != Role::Service,
            Self::TierProposal | Self::AtRiskProposal | Self::ResourceRequest => role.supervises(),
        }
    }
}

/// The kind of record an item points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    /// `/accounts/{id}`.
    Account,
    /// `/visits/{id}`.
    Visit,
    /// `/account-plans/{id}`.
    AccountPlan,
    /// `/callbacks/{id}`.
    Callback,
    /// `/tickets/{id}`.
    Ticket,
    /// `/contracts/{id}`.
    Contract,
}

/// The record an item is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecordRef {
    /// Its kind.
    pub kind: RecordType,
    /// Its id.
    pub id: Uuid,
    /// The action or resource request inside an account plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub item_id: Option<Uuid>,
}

/// One thing to do.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkItem {
    /// What it asks.
    pub kind: ItemKind,
    /// The rule that put it here, in a short English sentence.
    pub reason: String,
    /// When it is due: the visit's time, the SLA's end, the start (UTC) of
    /// an action's, callback's or contract's day, the last day a decision
    /// may wait, the time a warning was raised.
    pub due_at: DateTime<Utc>,
    /// Whether it is late (a new critical warning, which needs action now,
    /// counts as late).
    pub overdue: bool,
    /// The record to open.
    pub record: RecordRef,
    /// The account.
    pub account_id: Uuid,
    /// The account's name.
    pub account_name: String,
    /// Whose item it is: the visit's, action's, callback's or contract's
    /// owner, the ticket's assignee (null: unassigned), the rep who asked
    /// for a decision (the account's or the plan's owner), a warned
    /// account's owner.
    pub assignee_id: Option<Uuid>,
    /// Their display name.
    pub assignee_name: Option<String>,
}

/// One person's share of the worklist.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AssigneeSummary {
    /// The person (null: tickets nobody is assigned).
    pub assignee_id: Option<Uuid>,
    /// Their display name.
    pub assignee_name: Option<String>,
    /// Their items, of every kind.
    pub total: u64,
    /// Their items by kind; kinds with none are left out.
    pub by_kind: BTreeMap<ItemKind, u64>,
}

/// The caller's worklist.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Worklist {
    /// The time the rules were applied at.
    pub as_of: DateTime<Utc>,
    /// The most urgent items, up to `limit`: overdue ones first, the latest
    /// first among them, then by due time.
    pub items: Vec<WorkItem>,
    /// Every item the rules found, `items` and beyond.
    pub total: u64,
    /// Every item counted per person, most items first.
    pub by_assignee: Vec<AssigneeSummary>,
}

/// What to look at.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WorklistQuery {
    /// Items to return (default 100), up to the server's `max_page_size`
    /// (500 unless configured); the counts cover them all.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Only these kinds, comma-separated (`visit_overdue,ticket_past_sla`);
    /// empty, every kind.
    pub kinds: Option<String>,
    /// Only this person's items as they see them (with the unassigned
    /// tickets at the accounts they own): a rep may name himself, a manager
    /// herself and the users of the teams she leads, others anyone.
    pub user_id: Option<Uuid>,
}

/// An item before its account and person are named.
struct Draft {
    kind: ItemKind,
    reason: String,
    due_at: DateTime<Utc>,
    overdue: bool,
    record: RecordRef,
    account_id: Uuid,
    assignee_id: Option<Uuid>,
}

/// What one kind found: its most urgent items, and its count per person.
struct Found {
    items: Vec<Draft>,
    counts: Vec<(Option<Uuid>, i64)>,
}

/// The rules' inputs for one call.
struct Ctx<'a, C> {
    conn: &'a C,
    caller: &'a AuthUser,
    user: Option<Uuid>,
    now: DateTime<Utc>,
    today: NaiveDate,
    /// The last day the due window covers.
    due_until: NaiveDate,
    windows: &'a WorklistSettings,
    fetch: u64,
}

/// The caller's worklist (see the module's documentation).
pub async fn worklist(
    state: &AppState,
    caller: &AuthUser,
    query: WorklistQuery,
) -> ApiResult<Worklist> {
    let limit = limit(query.limit, state.settings.server.max_page_size)?;
    let kinds = kinds(query.kinds.as_deref())?;
    let txn = state.db.begin_read().await?;
    if let Some(user) = query.user_id {
        check_user(&txn, caller, user).await?;
    }
    let now = Utc::now();
    let today = now.date_naive();
    let windows = &state.settings.worklist;
    let ctx = Ctx {
        conn: &txn,
        caller,
        user: query.user_id,
        now,
        today,
        due_until: add_days(today, windows.due_days),
        windows,
        fetch: limit,
    };
    let mut drafts = Vec::new();
    let mut counts: BTreeMap<Option<Uuid>, BTreeMap<ItemKind, u64>> = BTreeMap::new();
    for kind in kinds.into_iter().filter(|kind| kind.is_for(caller.role)) {
        let found = find(&ctx, kind).await?;
        drafts.extend(found.items);
        for (person, count) in found.counts {
            let count = u64::try_from(count).unwrap_or(0);
            if count > 0 {
                *counts.entry(person).or_default().entry(kind).or_default() += count;
            }
        }
    }
    drafts.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then(a.due_at.cmp(&b.due_at))
            .then(a.kind.cmp(&b.kind))
            .then(a.record.id.cmp(&b.record.id))
            .then(a.record.item_id.cmp(&b.record.item_id))
    });
    drafts.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let accounts = account_names(&txn, drafts.iter().map(|d| d.account_id).collect()).await?;
    let people = user_names(
        &txn,
        drafts
            .iter()
            .filter_map(|d| d.assignee_id)
            .chain(counts.keys().flatten().copied())
            .collect(),
    )
    .await?;
    let name_of = |person: Option<Uuid>| person.and_then(|p| people.get(&p).cloned());
    let items = drafts
        .into_iter()
        .map(|d| WorkItem {
            kind: d.kind,
            reason: d.reason,
            due_at: d.due_at,
            overdue: d.overdue,
            record: d.record,
            account_name: accounts.get(&d.account_id).cloned().unwrap_or_default(),
            account_id: d.account_id,
            assignee_name: name_of(d.assignee_id),
            assignee_id: d.assignee_id,
        })
        .collect();
    let mut by_assignee: Vec<AssigneeSummary> = counts
        .into_iter()
        .map(|(person, by_kind)| AssigneeSummary {
            assignee_id: person,
            assignee_name: name_of(person),
            total: by_kind.values().sum(),
            by_kind,
        })
        .collect();
    by_assignee.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.assignee_name.cmp(&b.assignee_name))
            .then(a.assignee_id.cmp(&b.assignee_id))
    });
    Ok(Worklist {
        as_of: now,
        total: by_assignee.iter().map(|s| s.total).sum(),
        items,
        by_assignee,
    })
}

fn limit(asked: Option<u64>, max: u64) -> ApiResult<u64> {
    match asked {
        None => Ok(DEFAULT_LIMIT.min(max)),
        Some(limit) if (1..=max).contains(&limit) => Ok(limit),
        Some(_) => Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("limit runs from 1 to {max}"),
        )),
    }
}

/// The kinds named in `kinds`, each once (all when absent or empty).
fn kinds(asked: Option<&str>) -> ApiResult<Vec<ItemKind>> {
    let Some(asked) = asked.filter(|asked| !asked.trim().is_empty()) else {
        return Ok(ItemKind::ALL.to_vec());
    };
    let mut kinds = Vec::new();
    for code in asked.split(',').map(str::trim) {
        let kind = ItemKind::parse(code).ok_or_else(|| {
            let known: Vec<&str> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::new(
                ErrorCode::InvalidQuery,
                format!(
                    "kinds: `{}` is not a kind; the kinds are {}",
                    code.chars().take(40).collect::<String>(),
                    known.join(", ")
                ),
            )
        })?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// A rep looks at his own items only, a manager at her own and those of
/// the users of the teams she leads; the others at anyone's.
async fn check_user(conn: &impl ConnectionTrait, caller: &AuthUser, user: Uuid) -> ApiResult<()> {
    let allowed = match caller.role {
        Role::Rep => user == caller.id.0,
        Role::Manager => {
            user == caller.id.0
                || user::Entity::find()
                    .filter(user::Column::Id.eq(user))
                    .filter(user::Column::TeamId.is_in(caller.led_teams.iter().map(|t| t.0)))
                    .count(conn)
                    .await?
                    > 0
        }
        Role::Director | Role::Admin | Role::Service => true,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::RoleForbidden,
            "user_id: a rep looks at his own items, a manager at hers and those of the users of the teams she leads",
        ))
    }
}

/// The items and counts of one kind.
async fn find<C: ConnectionTrait>(ctx: &Ctx<'_, C>, kind: ItemKind) -> ApiResult<Found> {
    match kind {
        ItemKind::VisitDue | ItemKind::VisitOverdue => visits(ctx, kind).await,
        ItemKind::PlanActionDue => plan_actions(ctx).await,
        ItemKind::CallbackDue => callbacks(ctx).await,
        ItemKind::TicketNearSla | ItemKind::TicketPastSla => tickets(ctx, kind).await,
        ItemKind::TierProposal => tier_proposals(ctx).await,
        ItemKind::AtRiskProposal => at_risk_proposals(ctx).await,
        ItemKind::ResourceRequest => resource_requests(ctx).await,
        ItemKind::ContractEnding => contracts(ctx).await,
        ItemKind::NewWarning => new_warnings(ctx).await,
    }
}

/// Whose items the caller sees, as a condition on the column naming an
/// item's person (`None`: everyone's): the `user_id` asked for, and for a
/// rep himself, for a manager herself and her teams' users.
fn person<Col: ColumnTrait>(ctx: &Ctx<'_, impl ConnectionTrait>, column: Col) -> Option<Condition> {
    let asked = ctx.user.map(|user| Condition::all().add(column.eq(user)));
    let me = ctx.caller.id.0;
    let role = match ctx.caller.role {
        Role::Rep => Some(Condition::all().add(column.eq(me))),
        Role::Manager => Some(
            Condition::any()
                .add(column.eq(me))
                .add(column.in_subquery(team_members(ctx.caller))),
        ),
        Role::Director | Role::Admin | Role::Service => None,
    };
    match (asked, role) {
        (None, None) => None,
        (asked, role) => {
            let mut condition = Condition::all();
            if let Some(asked) = asked {
                condition = condition.add(asked);
            }
            if let Some(role) = role {
                condition = condition.add(role);
            }
            Some(condition)
        }
    }
}

fn team_members(caller: &AuthUser) -> SelectStatement {
    Query::select()
        .column(user::Column::Id)
        .from(user::Entity)
        .and_where(user::Column::TeamId.is_in(caller.led_teams.iter().map(|t| t.0)))
        .to_owned()
}

/// Records of the accounts the caller sees, and of the people whose items
/// they see.
fn scoped<Col: ColumnTrait>(
    ctx: &Ctx<'_, impl ConnectionTrait>,
    account_id: Col,
    person_column: Col,
) -> Condition {
    let mut condition = Condition::all();
    if let Some(visible) = visible_account_ids(ctx.caller) {
        condition = condition.add(account_id.in_subquery(visible));
    }
    if let Some(person) = person(ctx, person_column) {
        condition = condition.add(person);
    }
    condition
}

/// Counts per person (`person`, a column of `rows` or of a table it joins)
/// of the rows matching `condition`.
async fn counts<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    rows: Select<E>,
    person: impl ColumnTrait,
    condition: Condition,
) -> ApiResult<Vec<(Option<Uuid>, i64)>> {
    Ok(rows
        .select_only()
        .column(person)
        .column_as(Expr::cust("COUNT(*)"), "items")
        .filter(condition)
        .group_by(person)
        .into_tuple()
        .all(conn)
        .await?)
}

async fn visits<C: ConnectionTrait>(ctx: &Ctx<'_, C>, kind: ItemKind) -> ApiResult<Found> {
    let mut condition = scoped(ctx, visit::Column::AccountId, visit::Column::OwnerId)
        .add(visit::Column::Deleted.eq(false))
        .add(visit::Column::Status.eq(VisitStatus::Planned.as_str()));
    condition = if kind == ItemKind::VisitOverdue {
        condition.add(visit::Column::PlannedAt.lt(ctx.now))
    } else {
        condition
            .add(visit::Column::PlannedAt.gte(ctx.now))
            .add(visit::Column::PlannedAt.lt(day_start(next_day(ctx.due_until))))
    };
    let rows: Vec<(Uuid, Uuid, Uuid, DateTime<Utc>, String)> = visit::Entity::find()
        .select_only()
        .columns([
            visit::Column::Id,
            visit::Column::AccountId,
            visit::Column::OwnerId,
            visit::Column::PlannedAt,
            visit::Column::VisitType,
        ])
        .filter(condition.clone())
        .order_by_asc(visit::Column::PlannedAt)
        .order_by_asc(visit::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(|(id, account_id, owner, planned_at, visit_type)| {
            let overdue = kind == ItemKind::VisitOverdue;
            let reason = format!(
                "{visit_type} visit planned for {}, {}{}",
                instant(planned_at),
                relative(planned_at, ctx.now),
                if overdue { ", still not done" } else { "" }
            );
            Draft {
                kind,
                reason,
                due_at: planned_at,
                overdue,
                record: record(RecordType::Visit, id),
                account_id,
                assignee_id: Some(owner),
            }
        })
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            visit::Entity::find(),
            visit::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

async fn plan_actions<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let open_plans = Query::select()
        .column(account_plan::Column::Id)
        .from(account_plan::Entity)
        .and_where(account_plan::Column::Deleted.eq(false))
        .and_where(account_plan::Column::Status.ne(PlanStatus::Closed.as_str()))
        .to_owned();
    let condition = scoped(
        ctx,
        plan_action::Column::AccountId,
        plan_action::Column::OwnerId,
    )
    .add(plan_action::Column::Status.ne(ActionStatus::Done.as_str()))
    .add(plan_action::Column::DueOn.lte(ctx.due_until))
    .add(plan_action::Column::PlanId.in_subquery(open_plans));
    let rows: Vec<(Uuid, Uuid, Uuid, Uuid, NaiveDate, String, String)> =
        plan_action::Entity::find()
            .select_only()
            .columns([
                plan_action::Column::PlanId,
                plan_action::Column::Id,
                plan_action::Column::AccountId,
                plan_action::Column::OwnerId,
                plan_action::Column::DueOn,
                plan_action::Column::Status,
                plan_action::Column::Text,
            ])
            .filter(condition.clone())
            .order_by_asc(plan_action::Column::DueOn)
            .order_by_asc(plan_action::Column::PlanId)
            .order_by_asc(plan_action::Column::Id)
            .limit(ctx.fetch)
            .into_tuple()
            .all(ctx.conn)
            .await?;
    let items = rows
        .into_iter()
        .map(
            |(plan, id, account_id, owner, due_on, status, text)| Draft {
                kind: ItemKind::PlanActionDue,
                reason: format!(
                    "plan action \"{}\" ({}) due {due_on}, {}",
                    short(&text),
                    status.replace('_', " "),
                    relative_day(due_on, ctx.today)
                ),
                due_at: day_start(due_on),
                overdue: due_on < ctx.today,
                record: RecordRef {
                    kind: RecordType::AccountPlan,
                    id: plan,
                    item_id: Some(id),
                },
                account_id,
                assignee_id: Some(owner),
            },
        )
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            plan_action::Entity::find(),
            plan_action::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

async fn callbacks<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let condition = scoped(ctx, callback::Column::AccountId, callback::Column::OwnerId)
        .add(callback::Column::Deleted.eq(false))
        .add(callback::Column::Status.eq(CallbackStatus::Planned.as_str()))
        .add(callback::Column::ScheduledOn.lte(ctx.due_until));
    let rows: Vec<(Uuid, Uuid, Uuid, NaiveDate, String)> = callback::Entity::find()
        .select_only()
        .columns([
            callback::Column::Id,
            callback::Column::AccountId,
            callback::Column::OwnerId,
            callback::Column::ScheduledOn,
            callback::Column::Kind,
        ])
        .filter(condition.clone())
        .order_by_asc(callback::Column::ScheduledOn)
        .order_by_asc(callback::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(|(id, account_id, owner, scheduled_on, kind)| Draft {
            kind: ItemKind::CallbackDue,
            reason: format!(
                "{} callback scheduled for {scheduled_on}, {}",
                kind.replace('_', " "),
                relative_day(scheduled_on, ctx.today)
            ),
            due_at: day_start(scheduled_on),
            overdue: scheduled_on < ctx.today,
            record: record(RecordType::Callback, id),
            account_id,
            assignee_id: Some(owner),
        })
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            callback::Entity::find(),
            callback::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

/// Tickets are their assignee's; an unassigned one is the account owner's
/// to chase (and the service desk's, which sees the whole queue).
async fn tickets<C: ConnectionTrait>(ctx: &Ctx<'_, C>, kind: ItemKind) -> ApiResult<Found> {
    let mut condition = Condition::all()
        .add(ticket::Column::Deleted.eq(false))
        .add(open_condition());
    if let Some(visible) = visible_account_ids(ctx.caller) {
        condition = condition.add(ticket::Column::AccountId.in_subquery(visible));
    }
    if let Some(assigned) = person(ctx, ticket::Column::AssigneeId) {
        let mut owned = Query::select()
            .column(account::Column::Id)
            .from(account::Entity)
            .to_owned();
        if let Some(owner) = person(ctx, account::Column::OwnerId) {
            owned.cond_where(owner);
        }
        condition = condition.add(
            Condition::any().add(assigned).add(
                Condition::all()
                    .add(ticket::Column::AssigneeId.is_null())
                    .add(ticket::Column::AccountId.in_subquery(owned)),
            ),
        );
    }
    condition = if kind == ItemKind::TicketPastSla {
        condition.add(ticket::Column::SlaDueAt.lt(ctx.now))
    } else {
        let near = ctx
            .now
            .checked_add_signed(TimeDelta::hours(i64::from(ctx.windows.near_sla_hours)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        condition
            .add(ticket::Column::SlaDueAt.gte(ctx.now))
            .add(ticket::Column::SlaDueAt.lt(near))
    };
    type Row = (Uuid, Uuid, Option<Uuid>, DateTime<Utc>, String, String);
    let rows: Vec<Row> = ticket::Entity::find()
        .select_only()
        .columns([
            ticket::Column::Id,
            ticket::Column::AccountId,
            ticket::Column::AssigneeId,
            ticket::Column::SlaDueAt,
            ticket::Column::Severity,
            ticket::Column::TicketType,
        ])
        .filter(condition.clone())
        .order_by_asc(ticket::Column::SlaDueAt)
        .order_by_asc(ticket::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(
            |(id, account_id, assignee, sla_due_at, severity, ticket_type)| {
                let overdue = kind == ItemKind::TicketPastSla;
                let reason = format!(
                    "{severity} {} {} {}, {}{}",
                    ticket_type.replace('_', " "),
                    if overdue {
                        "past its SLA of"
                    } else {
                        "SLA ends"
                    },
                    instant(sla_due_at),
                    relative(sla_due_at, ctx.now),
                    if assignee.is_none() {
                        ", unassigned"
                    } else {
                        ""
                    }
                );
                Draft {
                    kind,
                    reason,
                    due_at: sla_due_at,
                    overdue,
                    record: record(RecordType::Ticket, id),
                    account_id,
                    assignee_id: assignee,
                }
            },
        )
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            ticket::Entity::find(),
            ticket::Column::AssigneeId,
            condition,
        )
        .await?,
    })
}

/// The accounts matching `waiting` that the caller decides on, by the rule
/// of the proposals' own lists ([`decisions_condition`]), of the person
/// asked for if any: each decision is the account owner's item.
fn decisions<C: ConnectionTrait>(ctx: &Ctx<'_, C>, waiting: SimpleExpr) -> Condition {
    let condition = decisions_condition(ctx.caller, waiting);
    match ctx.user {
        Some(user) => condition.add(account::Column::OwnerId.eq(user)),
        None => condition,
    }
}

/// The tier proposals the caller decides ([`decisions`]); each is the
/// proposing owner's.
async fn tier_proposals<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let condition = decisions(ctx, account::Column::ProposedTier.is_not_null());
    type Row = (
        Uuid,
        Uuid,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = account::Entity::find()
        .select_only()
        .columns([
            account::Column::Id,
            account::Column::OwnerId,
            account::Column::Tier,
            account::Column::ProposedTier,
            account::Column::SuggestedTier,
            account::Column::Score,
            account::Column::UpdatedAt,
        ])
        .filter(condition.clone())
        .order_by_asc(account::Column::UpdatedAt)
        .order_by_asc(account::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(
            |(id, owner, tier, proposed, suggested, score, updated_at)| {
                let due_at = decide_by(ctx, updated_at);
                let suggestion = match (score, suggested) {
                    (Some(score), Some(suggested)) => {
                        format!("; score {score} suggests {suggested}")
                    }
                    _ => String::new(),
                };
                Draft {
                    kind: ItemKind::TierProposal,
                    reason: format!(
                        "tier {} proposed (now {}{suggestion}), waiting since {} or before",
                        proposed.as_deref().unwrap_or("unknown"),
                        tier.as_deref().unwrap_or("none"),
                        updated_at.date_naive()
                    ),
                    due_at,
                    overdue: due_at < ctx.now,
                    record: record(RecordType::Account, id),
                    account_id: id,
                    assignee_id: Some(owner),
                }
            },
        )
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            account::Entity::find(),
            account::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

/// The accounts the caller decides on that the server proposes moving to
/// `at_risk`; each is its owner's. Due a few days (`decision_days`) after
/// the proposal was made.
async fn at_risk_proposals<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let condition = decisions(ctx, account::Column::AtRiskProposedAt.is_not_null());
    type Row = (Uuid, Uuid, Option<i64>, Option<DateTime<Utc>>);
    let rows: Vec<Row> = account::Entity::find()
        .select_only()
        .columns([
            account::Column::Id,
            account::Column::OwnerId,
            account::Column::Health,
            account::Column::AtRiskProposedAt,
        ])
        .filter(condition.clone())
        .order_by_asc(account::Column::AtRiskProposedAt)
        .order_by_asc(account::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(|(id, owner, health, proposed_at)| {
            let proposed_at = proposed_at.unwrap_or(ctx.now);
            let due_at = decide_by(ctx, proposed_at);
            Draft {
                kind: ItemKind::AtRiskProposal,
                reason: format!(
                    "health {} fell into the at-risk band on {}: confirm the move to at_risk or dismiss it",
                    health.map_or_else(|| "unknown".to_owned(), |h| h.to_string()),
                    proposed_at.date_naive()
                ),
                due_at,
                overdue: due_at < ctx.now,
                record: record(RecordType::Account, id),
                account_id: id,
                assignee_id: Some(owner),
            }
        })
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            account::Entity::find(),
            account::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

/// The resource requests of the open plans of the accounts the caller
/// manages (who decides them: see `records::account_plans`); each is the
/// plan owner's, who asked.
async fn resource_requests<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let mut managed = Query::select()
        .column(account::Column::Id)
        .from(account::Entity)
        .to_owned();
    if let Some(scope) = managed_scope(ctx.caller) {
        managed.cond_where(scope);
    }
    let open_plans = Query::select()
        .column(account_plan::Column::Id)
        .from(account_plan::Entity)
        .and_where(account_plan::Column::Deleted.eq(false))
        .and_where(account_plan::Column::Status.ne(PlanStatus::Closed.as_str()))
        .to_owned();
    let mut condition = Condition::all()
        .add(plan_resource::Column::Status.eq(ResourceStatus::Requested.as_str()))
        .add(plan_resource::Column::AccountId.in_subquery(managed))
        .add(plan_resource::Column::PlanId.in_subquery(open_plans));
    if let Some(user) = ctx.user {
        condition = condition.add(plan_resource::Column::OwnerId.eq(user));
    }
    type Row = (
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        String,
        String,
        Option<i64>,
        String,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = plan_resource::Entity::find()
        .select_only()
        .columns([
            plan_resource::Column::PlanId,
            plan_resource::Column::Id,
            plan_resource::Column::AccountId,
            plan_resource::Column::OwnerId,
            plan_resource::Column::Kind,
            plan_resource::Column::Description,
            plan_resource::Column::AmountMinor,
            plan_resource::Column::Currency,
            plan_resource::Column::UpdatedAt,
        ])
        .filter(condition.clone())
        .order_by_asc(plan_resource::Column::UpdatedAt)
        .order_by_asc(plan_resource::Column::PlanId)
        .order_by_asc(plan_resource::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(
            |(plan, id, account_id, owner, kind, description, amount, currency, updated_at)| {
                let due_at = decide_by(ctx, updated_at);
                let amount = amount
                    .map(|minor| format!(" for {} {currency}", major(minor)))
                    .unwrap_or_default();
                Draft {
                    kind: ItemKind::ResourceRequest,
                    reason: format!(
                        "{} request \"{}\"{amount} waiting for a decision since {} or before",
                        kind.replace('_', " "),
                        short(&description),
                        updated_at.date_naive()
                    ),
                    due_at,
                    overdue: due_at < ctx.now,
                    record: RecordRef {
                        kind: RecordType::AccountPlan,
                        id: plan,
                        item_id: Some(id),
                    },
                    account_id,
                    assignee_id: Some(owner),
                }
            },
        )
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            plan_resource::Entity::find(),
            plan_resource::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

async fn contracts<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let condition = scoped(ctx, contract::Column::AccountId, contract::Column::OwnerId)
        .add(contract::Column::Status.eq(ContractStatus::Active.as_str()))
        .add(contract::Column::EndOn.lte(add_days(ctx.today, ctx.windows.contract_ending_days)));
    let rows: Vec<(Uuid, Uuid, Uuid, String, NaiveDate)> = contract::Entity::find()
        .select_only()
        .columns([
            contract::Column::Id,
            contract::Column::AccountId,
            contract::Column::OwnerId,
            contract::Column::Number,
            contract::Column::EndOn,
        ])
        .filter(condition.clone())
        .order_by_asc(contract::Column::EndOn)
        .order_by_asc(contract::Column::Id)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(|(id, account_id, owner, number, end_on)| {
            let overdue = end_on < ctx.today;
            Draft {
                kind: ItemKind::ContractEnding,
                reason: format!(
                    "contract {number} {} {end_on}, {}{}",
                    if overdue { "ended" } else { "ends" },
                    relative_day(end_on, ctx.today),
                    if overdue {
                        ", still active: renew, complete or terminate it"
                    } else {
                        ""
                    }
                ),
                due_at: day_start(end_on),
                overdue,
                record: record(RecordType::Contract, id),
                account_id,
                assignee_id: Some(owner),
            }
        })
        .collect();
    Ok(Found {
        items,
        counts: counts(
            ctx.conn,
            contract::Entity::find(),
            contract::Column::OwnerId,
            condition,
        )
        .await?,
    })
}

/// The warnings raised since the caller last looked ([`seen`]; every
/// warning if they never did) on the accounts whose owners' items they
/// see; each is the account owner's. A critical warning needs action now,
/// so it counts as overdue; all are due when raised, the oldest first.
async fn new_warnings<C: ConnectionTrait>(ctx: &Ctx<'_, C>) -> ApiResult<Found> {
    let looked_at = worklist_look::Entity::find_by_id(ctx.caller.id.0)
        .one(ctx.conn)
        .await?
        .map(|look| look.looked_at);
    let mut condition = scoped(ctx, account::Column::Id, account::Column::OwnerId)
        .add(account::Column::Deleted.eq(false));
    if let Some(looked_at) = looked_at {
        condition = condition.add(account_warning::Column::RaisedAt.gt(looked_at));
    }
    let warned = || {
        account_warning::Entity::find().join(
            JoinType::InnerJoin,
            account_warning::Entity::belongs_to(account::Entity)
                .from(account_warning::Column::AccountId)
                .to(account::Column::Id)
                .into(),
        )
    };
    let critical = || account_warning::Column::Severity.eq(WarningSeverity::Critical.as_str());
    type Row = (Uuid, String, String, DateTime<Utc>, String, Uuid, String);
    let rows: Vec<Row> = warned()
        .select_only()
        .columns([
            account_warning::Column::AccountId,
            account_warning::Column::Code,
            account_warning::Column::Severity,
            account_warning::Column::RaisedAt,
            account_warning::Column::Detail,
        ])
        .columns([account::Column::OwnerId, account::Column::Name])
        .filter(condition.clone())
        .order_by_desc(critical())
        .order_by_asc(account_warning::Column::RaisedAt)
        .order_by_asc(account_warning::Column::AccountId)
        .order_by_asc(account_warning::Column::Code)
        .limit(ctx.fetch)
        .into_tuple()
        .all(ctx.conn)
        .await?;
    let items = rows
        .into_iter()
        .map(
            |(account_id, code, severity, raised_at, detail, owner, name)| Draft {
                kind: ItemKind::NewWarning,
                reason: format!(
                    "{code} ({severity}) at {name}: {detail}; raised {}, {}",
                    instant(raised_at),
                    relative(raised_at, ctx.now)
                ),
                due_at: raised_at,
                overdue: WarningSeverity::parse(&severity) == Some(WarningSeverity::Critical),
                record: record(RecordType::Account, account_id),
                account_id,
                assignee_id: Some(owner),
            },
        )
        .collect();
    Ok(Found {
        items,
        counts: counts(ctx.conn, warned(), account::Column::OwnerId, condition).await?,
    })
}

/// What `POST /worklist/seen` may say: how far the caller has looked.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    /// The warnings raised up to this time are seen (default: now; a time
    /// to come counts as now).
    pub through: Option<DateTime<Utc>>,
}

/// When the caller last looked at their worklist.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Look {
    /// The warnings raised up to this time are no longer new to them.
    pub looked_at: DateTime<Utc>,
}

/// Records that the caller has looked at their worklist through `through`
/// (now when absent or to come); a look never moves back, so an older
/// time leaves the later look in place. Answers the look stored.
pub async fn seen(state: &AppState, caller: &AuthUser, seen: Seen) -> ApiResult<Look> {
    // Microseconds, as PostgreSQL keeps them: the look answered is the one stored.
    let now = Utc::now().trunc_subsecs(6);
    let through = seen
        .through
        .map_or(now, |through| through.trunc_subsecs(6).min(now));
    let txn = state.db.begin_write().await?;
    worklist_look::Entity::insert(worklist_look::ActiveModel {
        user_id: Set(caller.id.0),
        looked_at: Set(through),
    })
    .on_conflict(
        OnConflict::column(worklist_look::Column::UserId)
            .update_column(worklist_look::Column::LookedAt)
            .action_and_where(worklist_look::Column::LookedAt.lt(through))
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    let looked_at = worklist_look::Entity::find_by_id(caller.id.0)
        .one(&txn)
        .await?
        .map_or(through, |look| look.looked_at);
    txn.commit().await?;
    Ok(Look { looked_at })
}

async fn account_names(
    conn: &impl ConnectionTrait,
    ids: HashSet<Uuid>,
) -> ApiResult<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut names = HashMap::new();
    for chunk in ids.chunks(NAMES_PER_LOOKUP) {
        let rows: Vec<(Uuid, String)> = account::Entity::find()
            .select_only()
            .columns([account::Column::Id, account::Column::Name])
            .filter(account::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        names.extend(rows);
    }
    Ok(names)
}

async fn user_names(
    conn: &impl ConnectionTrait,
    ids: HashSet<Uuid>,
) -> ApiResult<HashMap<Uuid, String>> {
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut names = HashMap::new();
    for chunk in ids.chunks(NAMES_PER_LOOKUP) {
        let rows: Vec<(Uuid, String)> = user::Entity::find()
            .select_only()
            .columns([user::Column::Id, user::Column::DisplayName])
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(conn)
            .await?;
        names.extend(rows);
    }
    Ok(names)
}

fn record(kind: RecordType, id: Uuid) -> RecordRef {
    RecordRef {
        kind,
        id,
        item_id: None,
    }
}

/// The last moment a decision waiting since `since` may wait.
fn decide_by(ctx: &Ctx<'_, impl ConnectionTrait>, since: DateTime<Utc>) -> DateTime<Utc> {
    since
        .checked_add_signed(TimeDelta::days(i64::from(ctx.windows.decision_days)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn add_days(day: NaiveDate, days: u32) -> NaiveDate {
    day.checked_add_days(Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MAX)
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(NaiveDate::MAX)
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn instant(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How far `at` is from `now`, in the largest whole unit up to days.
fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (at - now).num_seconds();
    let span = seconds.unsigned_abs();
    let amount = if span < 3600 {
        plural(span.div_ceil(60).max(1), "minute")
    } else if span < 48 * 3600 {
        plural(span / 3600, "hour")
    } else {
        plural(span / 86_400, "day")
    };
    if seconds >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// How far `day` is from `today`, in days.
fn relative_day(day: NaiveDate, today: NaiveDate) -> String {
    match (day - today).num_days() {
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        -1 => "yesterday".to_owned(),
        days if days > 0 => format!("in {}", plural(days.unsigned_abs(), "day")),
        days => format!("{} ago", plural(days.unsigned_abs(), "day")),
    }
}

fn plural(count: u64, unit: &str) -> String {
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// Free text cut to fit a reason.
fn short(text: &str) -> String {
    const MAX: usize = 60;
    let text = text.trim();
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX - 1).collect::<String>())
    }
}

/// Minor units (never negative here) as major units with two decimals.
fn major(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap_or_else(|err| panic!("{err}"))
            .with_timezone(&Utc)
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn times_read_in_their_largest_whole_unit() {
        let now = at("2026-12-05T12:00:00Z");
        assert_eq!(relative(at("2026-12-05T12:00:30Z"), now), "in 1 minute");
        assert_eq!(relative(at("2026-12-05T11:15:00Z"), now), "45 minutes ago");
        assert_eq!(relative(at("2026-12-05T15:00:00Z"), now), "in 3 hours");
        assert_eq!(relative(at("2026-12-04T11:00:00Z"), now), "25 hours ago");
        assert_eq!(relative(at("2026-12-01T12:00:00Z"), now), "4 days ago");
        let today = day("2026-12-05");
        assert_eq!(relative_day(day("2026-12-05"), today), "today");
        assert_eq!(relative_day(day("2026-12-06"), today), "tomorrow");
        assert_eq!(relative_day(day("2026-12-04"), today), "yesterday");
        assert_eq!(relative_day(day("2026-12-09"), today), "in 4 days");
        assert_eq!(relative_day(day("2026-11-25"), today), "10 days ago");
    }

    #[test]
    fn kinds_are_parsed_once_each_and_unknown_ones_refused() {
        assert_eq!(
            kinds(Some("visit_due, ticket_past_sla,visit_due")).ok(),
            Some(vec![ItemKind::VisitDue, ItemKind::TicketPastSla])
        );
        assert_eq!(kinds(None).ok(), Some(ItemKind::ALL.to_vec()));
        assert_eq!(kinds(Some("")).ok(), Some(ItemKind::ALL.to_vec()));
        let refused = kinds(Some("visit_due,lunch")).err();
        assert_eq!(refused.map(|e| e.code()), Some(ErrorCode::InvalidQuery));
        assert_eq!(limit(None, 500).ok(), Some(100));
        assert_eq!(limit(None, 50).ok(), Some(50));
        assert!(limit(Some(0), 500).is_err());
        assert!(limit(Some(501), 500).is_err());
    }

    #[test]
    fn long_text_is_cut_and_amounts_keep_their_cents() {
        assert_eq!(short("  Call the CIO "), "Call the CIO");
        assert_eq!(short(&"x".repeat(100)).chars().count(), 60);
        assert_eq!(major(100_005), "1000.05");
        assert_eq!(major(7), "0.07");
    }

    #[test]
    fn every_kind_reads_back_from_its_code() {
        for kind in ItemKind::ALL {
            assert_eq!(ItemKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::String(kind.as_str().to_owned()))
            );
        }
    }
}
