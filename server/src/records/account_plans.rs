//! Account plans (大客户计划): their rows, the rules a change must pass (one
//! active plan per account and period, status moves, who decides resource
//! requests, who may own an action), and the figures the view shows
//! (overdue actions, progress, resource totals by decision).

use super::child::{
    ChildKind, Columns, check_assignable, check_owner, list_filter, manages_account,
};
use super::kind::{Pending, Stamp, SyncedKind};
use super::{Materialize, Review};
use crate::auth::AuthUser;
use crate::config::Settings;
use crate::db::upsert_each;
use crate::db::values;
use crate::entities::{account_plan, plan_action, plan_resource};
use crate::error::{ApiError, ApiResult, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use kam_sync_core::account_plan::{
    ActionStatus, PeriodKind, PlanStatus, ResourceRequest, ResourceStatus, amount_minor,
};
use kam_sync_core::ids::{AccountPlanId, UserId};
use kam_sync_core::money::Total;
use kam_sync_core::{AccountPlan, RecordKind};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// The amounts of a plan's resource requests by decision, in the plan's
/// currency's major unit, exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourceTotals {
    /// Asked for, not decided.
    pub requested: Total,
    /// Granted.
    pub approved: Total,
    /// Refused.
    pub rejected: Total,
}

/// An account plan as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountPlanView {
    /// Id.
    pub id: AccountPlanId,
    /// The record.
    #[serde(flatten)]
    pub plan: AccountPlan,
    /// Actions not done whose due date is before today (UTC), as of reading.
    pub overdue_actions: usize,
    /// Done actions over all actions, from 0 to 1; null when there are none.
    pub progress: Option<f64>,
    /// The resource amounts by decision.
    pub resource_totals: ResourceTotals,
    /// Bookkeeping.
    #[serde(flatten)]
    pub stamp: Stamp,
}

list_filter!(
    /// Filters for listing account plans; all combine with AND, within the caller's scope.
    AccountPlanFilter {
        /// For periods of this kind.
        period_kind: Option<PeriodKind>,
        /// For the period starting on this day.
        period_start: Option<NaiveDate>,
        /// In this status.
        status: Option<PlanStatus>,
        /// Owned by this user.
        owner_id: Option<Uuid>,
    }
);

/// Resource amounts by decision, in minor units, as stored: a plan holds
/// at most `MAX_ITEMS` (200) requests of at most a trillion each, 2 × 10^16
/// cents, far inside an `i64`.
#[derive(Debug, Default, Clone, Copy)]
struct MinorTotals {
    requested: i64,
    approved: i64,
    rejected: i64,
}

impl MinorTotals {
    fn of(resources: &[ResourceRequest]) -> Self {
        let mut totals = Self::default();
        for resource in resources {
            let minor = resource.amount.and_then(amount_minor).unwrap_or(0);
            let slot = match resource.status {
                ResourceStatus::Requested => &mut totals.requested,
                ResourceStatus::Approved => &mut totals.approved,
                ResourceStatus::Rejected => &mut totals.rejected,
            };
            *slot = slot.saturating_add(minor);
        }
        totals
    }

    fn view(self) -> ResourceTotals {
        let total = |minor: i64| Total::from_minor(i128::from(minor));
        ResourceTotals {
            requested: total(self.requested),
            approved: total(self.approved),
            rejected: total(self.rejected),
        }
    }
}

fn overdue_actions(plan: &AccountPlan, today: NaiveDate) -> usize {
    plan.actions
        .iter()
        .filter(|a| a.status != ActionStatus::Done && a.due_on.is_some_and(|due| due < today))
        .count()
}

fn progress(plan: &AccountPlan) -> Option<f64> {
    let done = plan
        .actions
        .iter()
        .filter(|a| a.status == ActionStatus::Done)
        .count();
    (!plan.actions.is_empty()).then(|| done as f64 / plan.actions.len() as f64)
}

/// Account plans as a synced kind.
pub struct AccountPlans;

impl SyncedKind for AccountPlans {
    type Record = AccountPlan;
    type Entity = account_plan::Entity;
    type View = AccountPlanView;
    const NAME: &'static str = "account plan";
    // No warning reads a plan (its actions reach the worklist, not insight).
    const FEEDS_INSIGHT: bool = false;
    const STAYS_WITH_ACCOUNT: &'static str =
        "a plan stays with its account; write one for the other account";

    // A device may push two plans of one period made offline; the second
    // one's review must see the first.
    const READ_BY_LATER_REVIEWS: bool = true;

    async fn review(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        _id: Uuid,
        old: Option<&AccountPlan>,
        new: &AccountPlan,
        pending: &Pending,
    ) -> ApiResult<Review> {
        let mut review = Review::default();
        let old_owner = old.map(|o| o.owner_id);
        if old_owner != Some(new.owner_id)
            && let Err(err) = check_owner(
                conn,
                caller,
                new.owner_id,
                new.account_id.0,
                "a rep owns their own plans",
            )
            .await
        {
            review.refuse("owner_id", json!(old_owner.unwrap_or(caller.id)), err);
        }
        review_status(conn, old, new, pending, &mut review).await?;
        let decides = manages_account(conn, caller, new.account_id.0).await?;
        review_resources(decides, caller, old, new, &mut review)?;
        review_action_owners(conn, old, new, &mut review).await?;
        Ok(review)
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        _settings: &Settings,
        items: &[Materialize<'_, account_plan::Model>],
    ) -> ApiResult<Vec<AccountPlanView>> {
        let today = Utc::now().date_naive();
        let mut views = Vec::with_capacity(items.len());
        let mut models = Vec::with_capacity(items.len());
        for item in items {
            let plan: AccountPlan = item.doc.read()?;
            let totals = MinorTotals::of(&plan.resources);
            let view = AccountPlanView {
                id: AccountPlanId(item.id),
                overdue_actions: overdue_actions(&plan, today),
                progress: progress(&plan),
                resource_totals: totals.view(),
                stamp: item.stamp(|row| (row.created_by, row.created_at)),
                plan,
            };
            let plan = &view.plan;
            models.push(account_plan::ActiveModel {
                id: Set(item.id),
                account_id: Set(plan.account_id.0),
                owner_id: Set(plan.owner_id.0),
                period_kind: Set(plan.period_kind.as_str().to_owned()),
                period_start: Set(plan.period_start),
                status: Set(plan.status.as_str().to_owned()),
                title: Set(plan.title.clone()),
                currency: Set(plan.currency.clone()),
                requested_minor: Set(totals.requested),
                approved_minor: Set(totals.approved),
                rejected_minor: Set(totals.rejected),
                deleted: Set(plan.deleted),
                created_by: Set(view.stamp.created_by.map(|u| u.0)),
                created_at: Set(view.stamp.created_at),
                updated_at: Set(view.stamp.updated_at),
                version: Set(view.stamp.version),
                body: Set(serde_json::to_value(&view).map_err(ApiError::internal)?),
            });
            views.push(view);
        }
        upsert_each(
            conn,
            models,
            OnConflict::column(account_plan::Column::Id)
                .update_columns([
                    account_plan::Column::AccountId,
                    account_plan::Column::OwnerId,
                    account_plan::Column::PeriodKind,
                    account_plan::Column::PeriodStart,
                    account_plan::Column::Status,
                    account_plan::Column::Title,
                    account_plan::Column::Currency,
                    account_plan::Column::RequestedMinor,
                    account_plan::Column::ApprovedMinor,
                    account_plan::Column::RejectedMinor,
                    account_plan::Column::Deleted,
                    account_plan::Column::UpdatedAt,
                    account_plan::Column::Version,
                    account_plan::Column::Body,
                ])
                .to_owned(),
        )
        .await?;
        replace_items(conn, &views).await?;
        Ok(views)
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, account_plan::Model>> {
        super::rows_by_id::<account_plan::Entity>(conn, account_plan::Column::Id, ids, |row| row.id)
            .await
    }

    fn account_of(_id: Uuid, record: &AccountPlan) -> Uuid {
        record.account_id.0
    }

    fn account_of_view(view: &AccountPlanView) -> Uuid {
        view.plan.account_id.0
    }

    fn row_parts(row: &account_plan::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }

    fn as_of(view: &mut AccountPlanView, now: DateTime<Utc>) {
        view.overdue_actions = overdue_actions(&view.plan, now.date_naive());
    }
}

impl ChildKind for AccountPlans {
    type Filter = AccountPlanFilter;

    const IDENTIFIED_LISTS: &'static [&'static str] = &["goals", "actions", "resources"];

    fn columns() -> Columns<account_plan::Column> {
        Columns {
            id: account_plan::Column::Id,
            account_id: account_plan::Column::AccountId,
            deleted: account_plan::Column::Deleted,
            updated_at: account_plan::Column::UpdatedAt,
        }
    }

    fn fill_defaults(caller: &AuthUser, body: &mut Map<String, Value>) {
        body.entry("owner_id")
            .or_insert_with(|| Value::String(caller.id.to_string()));
    }

    fn filter(filter: &AccountPlanFilter, mut condition: Condition) -> Condition {
        if let Some(kind) = filter.period_kind {
            condition = condition.add(account_plan::Column::PeriodKind.eq(kind.as_str()));
        }
        if let Some(start) = filter.period_start {
            condition = condition.add(account_plan::Column::PeriodStart.eq(start));
        }
        if let Some(status) = filter.status {
            condition = condition.add(account_plan::Column::Status.eq(status.as_str()));
        }
        if let Some(owner) = filter.owner_id {
            condition = condition.add(account_plan::Column::OwnerId.eq(owner));
        }
        condition
    }
}

/// Writes the actions and resource requests of `views`' plans as rows
/// (`plan_actions`, `plan_resources`), replacing those their plans had: one
/// delete per table for all the plans, then one insert per item. A
/// deleted plan keeps none. The worklist reads them.
async fn replace_items(conn: &impl ConnectionTrait, views: &[AccountPlanView]) -> ApiResult<()> {
    if views.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = views.iter().map(|view| view.id.0).collect();
    plan_action::Entity::delete_many()
        .filter(plan_action::Column::PlanId.is_in(ids.clone()))
        .exec(conn)
        .await?;
    plan_resource::Entity::delete_many()
        .filter(plan_resource::Column::PlanId.is_in(ids))
        .exec(conn)
        .await?;
    let mut actions = Vec::new();
    let mut resources = Vec::new();
    for view in views.iter().filter(|view| !view.plan.deleted) {
        let plan = &view.plan;
        for action in &plan.actions {
            actions.push(plan_action::ActiveModel {
                plan_id: Set(view.id.0),
                id: Set(action.id),
                account_id: Set(plan.account_id.0),
                owner_id: Set(action.owner_id.unwrap_or(plan.owner_id).0),
                due_on: Set(action.due_on),
                status: Set(action.status.as_str().to_owned()),
                text: Set(action.text.clone()),
            });
        }
        for resource in &plan.resources {
            resources.push(plan_resource::ActiveModel {
                plan_id: Set(view.id.0),
                id: Set(resource.id),
                account_id: Set(plan.account_id.0),
                owner_id: Set(plan.owner_id.0),
                kind: Set(resource.kind.as_str().to_owned()),
                description: Set(resource.description.clone()),
                amount_minor: Set(resource.amount.and_then(amount_minor)),
                currency: Set(plan.currency.clone()),
                status: Set(resource.status.as_str().to_owned()),
                updated_at: Set(view.stamp.updated_at),
            });
        }
    }
    // An item id given twice in a plan, or a backfill from another server
    // writing the same plan, keeps the first row rather than failing.
    upsert_each(
        conn,
        actions,
        OnConflict::columns([plan_action::Column::PlanId, plan_action::Column::Id])
            .do_nothing()
            .to_owned(),
    )
    .await?;
    upsert_each(
        conn,
        resources,
        OnConflict::columns([plan_resource::Column::PlanId, plan_resource::Column::Id])
            .do_nothing()
            .to_owned(),
    )
    .await?;
    Ok(())
}

/// The name under which [`backfill_items_once`] notes that it ran.
const ITEMS_BACKFILLED: &str = "plan_items_backfilled";

/// Writes the action and resource rows of the plans stored before they
/// were written with each change, once per database, from the plans' rows
/// (their bodies hold the whole plan; no document is loaded). Safe to run
/// from several servers at once: each replaces a plan's items whole.
pub async fn backfill_items_once(conn: &impl ConnectionTrait) -> ApiResult<()> {
    if values::is_done(conn, ITEMS_BACKFILLED).await? {
        return Ok(());
    }
    let mut last = None;
    loop {
        let mut query = account_plan::Entity::find()
            .select_only()
            .column(account_plan::Column::Id)
            .column(account_plan::Column::Body);
        if let Some(last) = last {
            query = query.filter(account_plan::Column::Id.gt(last));
        }
        let rows: Vec<(Uuid, Value)> = query
            .order_by_asc(account_plan::Column::Id)
            .limit(BACKFILL_BATCH)
            .into_tuple()
            .all(conn)
            .await?;
        let Some((id, _)) = rows.last() else {
            break;
        };
        last = Some(*id);
        let views = rows
            .into_iter()
            .map(|(_, body)| serde_json::from_value(body).map_err(ApiError::internal))
            .collect::<ApiResult<Vec<AccountPlanView>>>()?;
        replace_items(conn, &views).await?;
    }
    values::mark_done(conn, ITEMS_BACKFILLED).await?;
    Ok(())
}

/// Plans read per step of [`backfill_items_once`].
const BACKFILL_BATCH: u64 = 500;

/// The status move, and the one-active-plan rule: a plan that becomes
/// active for its account and period (by its status, a new period, or
/// being restored) is refused while another one is.
async fn review_status(
    conn: &impl ConnectionTrait,
    old: Option<&AccountPlan>,
    new: &AccountPlan,
    pending: &Pending,
    review: &mut Review,
) -> ApiResult<()> {
    let from = old.map(|o| o.status);
    let allowed = match from {
        Some(from) => from.can_move_to(new.status),
        None => new.status != PlanStatus::Closed,
    };
    if !allowed {
        let from_name = from.map_or("new", PlanStatus::as_str);
        review.refuse(
            "status",
            json!(from.unwrap_or(PlanStatus::Draft)),
            ApiError::invalid_field(
                "status",
                "invalid_status_move",
                format!(
                    "a plan moves draft → active → closed; {from_name} → {} is not a move",
                    new.status.as_str()
                ),
            ),
        );
        return Ok(());
    }
    if new.status != PlanStatus::Active || new.deleted {
        return Ok(());
    }
    let was_active_here = old.is_some_and(|o| {
        o.status == PlanStatus::Active
            && !o.deleted
            && o.period_kind == new.period_kind
            && o.period_start == new.period_start
    });
    if was_active_here {
        return Ok(());
    }
    let Some(other) = active_plan(conn, new, pending).await? else {
        return Ok(());
    };
    let error = || {
        ApiError::new(
            ErrorCode::PlanExists,
            format!(
                "plan {other} is already active for this account and {} starting {}; close it first",
                new.period_kind.as_str(),
                new.period_start
            ),
        )
    };
    match old {
        Some(old) if old.status == PlanStatus::Active && old.deleted => {
            review.refuse("deleted", json!(true), error());
        }
        Some(old) if old.status == PlanStatus::Active => {
            review.refuse("period_kind", json!(old.period_kind), error());
            review.refuse("period_start", json!(old.period_start), error());
        }
        _ => review.refuse("status", json!(from.unwrap_or(PlanStatus::Draft)), error()),
    }
    Ok(())
}

/// Another plan active for `plan`'s account and period: among the plans of
/// the same sync request merged before it, else among the stored ones
/// (those of the request read as the request leaves them).
async fn active_plan(
    conn: &impl ConnectionTrait,
    plan: &AccountPlan,
    pending: &Pending,
) -> ApiResult<Option<Uuid>> {
    let mut pushed = HashSet::new();
    for (id, record) in pending.of(RecordKind::AccountPlan) {
        pushed.insert(id);
        let Ok(other) = serde_json::from_value::<AccountPlan>(record.clone()) else {
            continue;
        };
        if other.status == PlanStatus::Active
            && !other.deleted
            && other.account_id == plan.account_id
            && other.period_kind == plan.period_kind
            && other.period_start == plan.period_start
        {
            return Ok(Some(id));
        }
    }
    let stored = account_plan::Entity::find()
        .filter(account_plan::Column::AccountId.eq(plan.account_id.0))
        .filter(account_plan::Column::PeriodKind.eq(plan.period_kind.as_str()))
        .filter(account_plan::Column::PeriodStart.eq(plan.period_start))
        .filter(account_plan::Column::Status.eq(PlanStatus::Active.as_str()))
        .filter(account_plan::Column::Deleted.eq(false))
        .all(conn)
        .await?;
    Ok(stored
        .into_iter()
        .map(|row| row.id)
        .find(|id| !pushed.contains(id)))
}

/// Only the account's managers (`may_decide`: a manager leading its team,
/// its branch's director, an admin) decide a resource request (approve it,
/// reject it, or take a decision back); the server records who decided. A
/// refused decision keeps the request's previous status, and only that:
/// the caller's other edits of the list stand.
fn review_resources(
    may_decide: bool,
    caller: &AuthUser,
    old: Option<&AccountPlan>,
    new: &AccountPlan,
    review: &mut Review,
) -> ApiResult<()> {
    let before: HashMap<Uuid, &ResourceRequest> = old
        .map(|o| o.resources.iter().map(|r| (r.id, r)).collect())
        .unwrap_or_default();
    let mut refused = None;
    let mut corrected = new.resources.clone();
    for (index, resource) in corrected.iter_mut().enumerate() {
        let previous = before.get(&resource.id);
        let old_status = previous.map_or(ResourceStatus::Requested, |r| r.status);
        let decides = resource.status != old_status
            && (resource.status.is_decision() || old_status.is_decision());
        if decides && !may_decide {
            refused.get_or_insert_with(|| {
                ApiError::new(
                    ErrorCode::ApprovalForbidden,
                    format!(
                        "resources.{index}: only the account's managers (a manager leading its team, its branch's director, an admin) approve or reject resource requests"
                    ),
                )
            });
            resource.status = old_status;
        }
        resource.decided_by = if !resource.status.is_decision() {
            None
        } else if resource.status == old_status {
            previous.and_then(|r| r.decided_by)
        } else {
            Some(caller.id)
        };
    }
    let value = serde_json::to_value(&corrected).map_err(ApiError::internal)?;
    match refused {
        Some(error) => review.refuse("resources", value, error),
        None if corrected != new.resources => review.derive("resources", value),
        None => {}
    }
    Ok(())
}

/// Action owners are active users who can see the account; an owner
/// refused keeps the action's previous one.
async fn review_action_owners(
    conn: &impl ConnectionTrait,
    old: Option<&AccountPlan>,
    new: &AccountPlan,
    review: &mut Review,
) -> ApiResult<()> {
    let before: HashMap<Uuid, Option<UserId>> = old
        .map(|o| o.actions.iter().map(|a| (a.id, a.owner_id)).collect())
        .unwrap_or_default();
    let mut verdicts: HashMap<UserId, bool> = HashMap::new();
    let mut refused = None;
    let mut corrected = new.actions.clone();
    for (index, action) in corrected.iter_mut().enumerate() {
        let previous = before.get(&action.id).copied().flatten();
        let Some(owner) = action.owner_id.filter(|owner| Some(*owner) != previous) else {
            continue;
        };
        let allowed = match verdicts.get(&owner) {
            Some(allowed) => *allowed,
            None => {
                let field = format!("actions.{index}.owner_id");
                let allowed = match check_assignable(conn, owner, new.account_id.0, &field).await {
                    Ok(()) => true,
                    Err(error) if error.code() == ErrorCode::ValidationFailed => {
                        refused.get_or_insert(error);
                        false
                    }
                    Err(error) => return Err(error),
                };
                verdicts.insert(owner, allowed);
                allowed
            }
        };
        if !allowed {
            action.owner_id = previous;
        }
    }
    if let Some(error) = refused {
        review.refuse(
            "actions",
            serde_json::to_value(&corrected).map_err(ApiError::internal)?,
            error,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kam_sync_core::account_plan::{PlanAction, ResourceKind};

    fn plan(actions: Vec<(ActionStatus, Option<NaiveDate>)>) -> AccountPlan {
        let mut plan: AccountPlan = serde_json::from_value(json!({
            "account_id": Uuid::now_v7(),
            "period_kind": "year",
            "period_start": "2026-01-01",
            "title": "2026",
            "owner_id": Uuid::now_v7(),
        }))
        .unwrap_or_else(|err| panic!("{err}"));
        plan.actions = actions
            .into_iter()
            .map(|(status, due_on)| PlanAction {
                id: Uuid::now_v7(),
                text: "Do it".into(),
                owner_id: None,
                due_on,
                status,
            })
            .collect();
        plan
    }

    fn day(d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(2026, 6, d)
    }

    #[test]
    fn actions_not_done_and_due_before_today_are_overdue() {
        let plan = plan(vec![
            (ActionStatus::Todo, day(1)),
            (ActionStatus::Blocked, day(9)),
            (ActionStatus::Done, day(1)),
            (ActionStatus::InProgress, day(10)),
            (ActionStatus::Todo, None),
        ]);
        assert_eq!(overdue_actions(&plan, day(10).unwrap_or_default()), 2);
        assert_eq!(progress(&plan), Some(0.2));
        assert_eq!(progress(&self::plan(vec![])), None);
    }

    #[test]
    fn resource_totals_are_summed_in_cents() {
        let resource = |amount: f64, status| ResourceRequest {
            id: Uuid::now_v7(),
            kind: ResourceKind::Budget,
            description: "Dinner".into(),
            amount: Some(amount),
            status,
            decided_by: None,
        };
        let totals = MinorTotals::of(&[
            resource(0.1, ResourceStatus::Approved),
            resource(0.2, ResourceStatus::Approved),
            resource(1_000.05, ResourceStatus::Requested),
            resource(7.0, ResourceStatus::Rejected),
        ]);
        assert_eq!(
            totals.view(),
            ResourceTotals {
                requested: Total::from_minor(100_005),
                approved: Total::from_minor(30),
                rejected: Total::from_minor(700),
            }
        );
    }
}
