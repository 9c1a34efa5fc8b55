//! Visits: planning, check-in and check-out with GPS, the effective-visit
//! steps, and their materialized rows. A visit is visible to whoever sees its
//! account.

use super::{Materialize, Precondition, Review, write};
use crate::access::visible_account_ids;
use crate::auth::AuthUser;
use crate::config::Settings;
use crate::db::upsert_each;
use crate::db::values;
use crate::entities::{account, visit};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::accounts::AccountView;
use crate::records::kind::{Pending, SyncedKind};
use crate::records::page::{self, Page};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kam_sync_core::geo::GeoPoint;
use kam_sync_core::ids::{UserId, VisitId};
use kam_sync_core::visit::{CheckPoint, VisitStatus, VisitType};
use kam_sync_core::{Conflict, Visit, parse_record};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A visit as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VisitView {
    /// Id.
    pub id: VisitId,
    /// The record.
    #[serde(flatten)]
    pub visit: Visit,
    /// Distance from the check-in to the account's location, in metres, when both are known.
    pub check_in_distance_m: Option<f64>,
    /// True when that distance is over the configured limit.
    pub check_in_too_far: bool,
    /// Whether it is an effective visit (有效拜访): completed, checked in
    /// (not too far) and out, and each of the five steps recorded (done, or
    /// with notes). Only effective visits count toward the tier's cadence,
    /// and toward `visits` targets unless an admin says otherwise.
    #[serde(default)]
    #[schema(required = true)]
    pub effective: bool,
    /// Minutes from check-in to check-out, when both are known.
    #[serde(default)]
    #[schema(required = true)]
    pub visit_minutes: Option<i64>,
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

/// Filters for listing visits; all combine with AND, within the caller's scope.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VisitFilter {
    /// Of this account.
    pub account_id: Option<Uuid>,
    /// Made by this user.
    pub owner_id: Option<Uuid>,
    /// In this status.
    pub status: Option<VisitStatus>,
    /// Of this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub visit_type: Option<VisitType>,
    /// Planned at or after this time (RFC 3339).
    pub planned_from: Option<DateTime<Utc>>,
    /// Planned before this time (RFC 3339).
    pub planned_to: Option<DateTime<Utc>>,
    /// Changed at or after this time (RFC 3339).
    pub updated_since: Option<DateTime<Utc>>,
    /// Include soft-deleted visits (default false).
    pub include_deleted: Option<bool>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A check-in or check-out as the device reports it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// Where the device is.
    pub location: GeoPoint,
    /// When it happened on the device (default: now). Offline devices send the real time.
    pub at: Option<DateTime<Utc>>,
    /// GPS accuracy, metres.
    pub accuracy_m: Option<f64>,
}

/// Reads one visit.
pub async fn get(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<VisitView> {
    Visits::view_of(&Visits::visible(state.db.conn(), caller, id).await?)
}

/// Lists visits in the caller's scope, newest first.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    filter: VisitFilter,
) -> ApiResult<Page<VisitView>> {
    let limit = Page::<VisitView>::limit(filter.limit, state.settings.server.max_page_size)?;
    let mut condition = Condition::all();
    if let Some(visible) = visible_account_ids(caller) {
        condition = condition.add(visit::Column::AccountId.in_subquery(visible));
    }
    if let Some(account) = filter.account_id {
        condition = condition.add(visit::Column::AccountId.eq(account));
    }
    if let Some(owner) = filter.owner_id {
        condition = condition.add(visit::Column::OwnerId.eq(owner));
    }
    if let Some(status) = filter.status {
        condition = condition.add(visit::Column::Status.eq(status.as_str()));
    }
    if let Some(visit_type) = filter.visit_type {
        condition = condition.add(visit::Column::VisitType.eq(visit_type.as_str()));
    }
    if let Some(from) = filter.planned_from {
        condition = condition.add(visit::Column::PlannedAt.gte(from));
    }
    if let Some(to) = filter.planned_to {
        condition = condition.add(visit::Column::PlannedAt.lt(to));
    }
    if let Some(since) = filter.updated_since {
        condition = condition.add(visit::Column::UpdatedAt.gte(since));
    }
    if !filter.include_deleted.unwrap_or(false) {
        condition = condition.add(visit::Column::Deleted.eq(false));
    }
    let rows = page::rows_after::<visit::Entity>(
        state.db.conn(),
        condition,
        visit::Column::Id,
        filter.cursor.as_deref(),
        limit,
    )
    .await?;
    let items = rows
        .iter()
        .map(Visits::view_of)
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(Page::from_overfetch(items, limit, |view| view.id.0))
}

/// What the server makes of a new version of a visit written by `caller`,
/// against the version before (`None` for a new visit).
pub async fn review(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    old: Option<&Visit>,
    new: &Visit,
) -> ApiResult<Review> {
    let mut review = Review::default();
    let completing = new.status == VisitStatus::Completed
        && old.is_none_or(|o| o.status != VisitStatus::Completed);
    if completing
        && new.visit_type == VisitType::Onsite
        && (new.check_in.is_none() || new.check_out.is_none())
        && crate::insight::settings::current(conn)
            .await?
            .settings
            .visits
            .onsite_completion_requires_check
    {
        review.refuse(
            "status",
            json!(old.map_or(VisitStatus::Planned, |o| o.status)),
            ApiError::new(
                ErrorCode::VisitNotCheckedOut,
                "an onsite visit is completed by checking in and out on site \
                 (rule visits.onsite_completion_requires_check)",
            ),
        );
    }
    let old_owner = old.map(|o| o.owner_id);
    if old_owner != Some(new.owner_id)
        && let Err(err) = super::child::check_owner(
            conn,
            caller,
            new.owner_id,
            new.account_id.0,
            "a rep plans and logs their own visits",
        )
        .await
    {
        review.refuse("owner_id", json!(old_owner.unwrap_or(caller.id)), err);
    }
    Ok(review)
}

/// Plans (or logs) a visit.
pub async fn create(
    state: &AppState,
    caller: &AuthUser,
    mut body: Map<String, Value>,
) -> ApiResult<VisitView> {
    write::require_writer::<Visits>(caller)?;
    let id = super::take_id(&mut body)?;
    crate::telemetry::record_id(id);
    body.entry("owner_id")
        .or_insert_with(|| Value::String(caller.id.to_string()));
    let visit: Visit = parse_record(Value::Object(body))?;
    write::create::<Visits>(state, caller, id, visit).await
}

/// What a change to a visit is, beyond a plain merge patch.
pub enum VisitChange {
    /// A merge patch from the API.
    Patch(Map<String, Value>),
    /// Arrival on site.
    CheckIn(CheckRequest),
    /// Departure from site.
    CheckOut(CheckRequest),
}

fn checkpoint(request: CheckRequest) -> ApiResult<Value> {
    let point = CheckPoint {
        at: request.at.unwrap_or_else(Utc::now),
        location: request.location,
        accuracy_m: request.accuracy_m,
    };
    serde_json::to_value(point).map_err(ApiError::internal)
}

/// Turns a change into the merge patch it makes, checking the visit's state.
fn patch_for(current: &Visit, change: VisitChange) -> ApiResult<Map<String, Value>> {
    let closed = matches!(
        current.status,
        VisitStatus::Cancelled | VisitStatus::Completed
    );
    let patch = match change {
        VisitChange::Patch(patch) => return Ok(patch),
        VisitChange::CheckIn(_) if current.check_in.is_some() => {
            return Err(ApiError::new(
                ErrorCode::AlreadyCheckedIn,
                "the visit is already checked in",
            ));
        }
        VisitChange::CheckIn(_) if closed => {
            return Err(ApiError::new(
                ErrorCode::VisitClosed,
                "the visit is completed or cancelled",
            ));
        }
        VisitChange::CheckIn(request) => {
            json!({"check_in": checkpoint(request)?, "status": "in_progress"})
        }
        VisitChange::CheckOut(_) if current.check_in.is_none() => {
            return Err(ApiError::new(
                ErrorCode::NotCheckedIn,
                "check in before checking out",
            ));
        }
        VisitChange::CheckOut(_) if current.status == VisitStatus::Cancelled => {
            return Err(ApiError::new(
                ErrorCode::VisitClosed,
                "the visit is cancelled",
            ));
        }
        VisitChange::CheckOut(_) if current.check_out.is_some() => {
            return Err(ApiError::new(
                ErrorCode::AlreadyCheckedOut,
                "the visit is already checked out",
            ));
        }
        VisitChange::CheckOut(request) => {
            json!({"check_out": checkpoint(request)?, "status": "completed"})
        }
    };
    match patch {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "a check patch is an object"
        ))),
    }
}

/// Changes a visit, with the authority rules.
pub async fn update(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    change: VisitChange,
    precondition: Option<&Precondition>,
) -> ApiResult<VisitView> {
    write::patch::<Visits>(state, caller, id, precondition, |current| {
        patch_for(current, change).map(write::Change::from)
    })
    .await
}

/// Minutes from a visit's check-in to its check-out, when both are known.
fn minutes_on_site(visit: &Visit) -> Option<i64> {
    match (&visit.check_in, &visit.check_out) {
        (Some(check_in), Some(check_out)) if check_out.at >= check_in.at => {
            Some((check_out.at - check_in.at).num_minutes())
        }
        _ => None,
    }
}

/// Whether a visit is effective (see [`VisitView::effective`]); `too_far`
/// says its check-in was flagged too far from the account.
pub fn is_effective(visit: &Visit, too_far: bool) -> bool {
    let steps = &visit.steps;
    visit.status == VisitStatus::Completed
        && !visit.deleted
        && visit.check_in.is_some()
        && visit.check_out.is_some()
        && !too_far
        && [
            &steps.identify,
            &steps.probe,
            &steps.recommend,
            &steps.close,
            &steps.follow_up,
        ]
        .iter()
        .all(|step| step.done || !step.notes.trim().is_empty())
}

/// Writes the rows of many visits: one look-up of their accounts'
/// locations (to judge check-in distances), then the upserts. Returns the
/// views, in order.
pub async fn materialize_all(
    conn: &impl ConnectionTrait,
    items: &[Materialize<'_, visit::Model>],
    max_distance_m: f64,
) -> ApiResult<Vec<VisitView>> {
    let visits: Vec<Visit> = items
        .iter()
        .map(|item| item.doc.read())
        .collect::<Result<_, _>>()?;
    let checked_in: HashSet<Uuid> = visits
        .iter()
        .filter(|v| v.check_in.is_some())
        .map(|v| v.account_id.0)
        .collect();
    let mut locations: HashMap<Uuid, GeoPoint> = HashMap::new();
    if !checked_in.is_empty() {
        let bodies: Vec<Value> = account::Entity::find()
            .select_only()
            .column(account::Column::Body)
            .filter(account::Column::Id.is_in(checked_in))
            .into_tuple()
            .all(conn)
            .await?;
        for body in bodies {
            let view: AccountView = serde_json::from_value(body).map_err(ApiError::internal)?;
            if let Some(location) = view.account.location {
                locations.insert(view.id.0, location);
            }
        }
    }
    let mut views = Vec::with_capacity(items.len());
    let mut models = Vec::with_capacity(items.len());
    for (item, visit) in items.iter().zip(visits) {
        let distance = match (&visit.check_in, locations.get(&visit.account_id.0)) {
            (Some(check_in), Some(location)) => Some(check_in.location.distance_m(location)),
            _ => None,
        };
        let too_far = distance.is_some_and(|d| d > max_distance_m);
        let visit_minutes = minutes_on_site(&visit);
        let view = VisitView {
            id: VisitId(item.id),
            check_in_distance_m: distance,
            check_in_too_far: too_far,
            effective: is_effective(&visit, too_far),
            visit_minutes,
            conflicts: item.doc.conflicts(),
            created_by: item
                .previous
                .map_or(item.meta.user, |p| p.created_by.map(UserId)),
            created_at: item.previous.map_or(item.meta.time, |p| p.created_at),
            updated_at: item.meta.time,
            version: item.version,
            visit,
        };
        let visit = &view.visit;
        models.push(visit::ActiveModel {
            id: Set(item.id),
            account_id: Set(visit.account_id.0),
            owner_id: Set(visit.owner_id.0),
            planned_at: Set(visit.planned_at),
            visit_type: Set(visit.visit_type.as_str().to_owned()),
            status: Set(visit.status.as_str().to_owned()),
            outcome: Set(visit.outcome.map(|o| o.as_str().to_owned())),
            checked_in_at: Set(visit.check_in.as_ref().map(|c| c.at)),
            checked_out_at: Set(visit.check_out.as_ref().map(|c| c.at)),
            visit_minutes: Set(view.visit_minutes),
            effective: Set(view.effective),
            deleted: Set(visit.deleted),
            created_by: Set(view.created_by.map(|u| u.0)),
            created_at: Set(view.created_at),
            updated_at: Set(view.updated_at),
            version: Set(item.version),
            body: Set(serde_json::to_value(&view).map_err(ApiError::internal)?),
        });
        views.push(view);
    }
    upsert_each(
        conn,
        models,
        OnConflict::column(visit::Column::Id)
            .update_columns([
                visit::Column::AccountId,
                visit::Column::OwnerId,
                visit::Column::PlannedAt,
                visit::Column::VisitType,
                visit::Column::Status,
                visit::Column::Outcome,
                visit::Column::CheckedInAt,
                visit::Column::CheckedOutAt,
                visit::Column::VisitMinutes,
                visit::Column::Effective,
                visit::Column::Deleted,
                visit::Column::UpdatedAt,
                visit::Column::Version,
                visit::Column::Body,
            ])
            .to_owned(),
    )
    .await?;
    Ok(views)
}

/// The `server_values` row noting that the visits written before visits
/// carried their insight columns have them.
const INSIGHT_BACKFILLED: &str = "visit_insight_backfilled";

/// Visits re-read per batch by [`backfill_insight_once`].
const BACKFILL_BATCH: u64 = 1_000;

/// Fills the insight columns of the visit rows written before they existed
/// (check-in and check-out times, minutes on site, effective) from their
/// stored views, then refreshes every account, once per database: at the
/// first start after the migration that added them. Servers starting
/// together may both do it; it is idempotent.
pub async fn backfill_insight_once(db: &crate::db::Db) -> ApiResult<()> {
    let conn = db.conn();
    if values::is_done(conn, INSIGHT_BACKFILLED).await? {
        return Ok(());
    }
    let mut after: Option<Uuid> = None;
    loop {
        let mut query = visit::Entity::find()
            .select_only()
            .column(visit::Column::Id)
            .column(visit::Column::Body)
            .order_by_asc(visit::Column::Id)
            .limit(BACKFILL_BATCH);
        if let Some(last) = after {
            query = query.filter(visit::Column::Id.gt(last));
        }
        let rows: Vec<(Uuid, Value)> = query.into_tuple().all(conn).await?;
        let Some((last, _)) = rows.last() else {
            break;
        };
        after = Some(*last);
        let txn = db.begin_write().await?;
        for (id, body) in rows {
            let mut view: VisitView = serde_json::from_value(body).map_err(ApiError::internal)?;
            let visit = &view.visit;
            view.effective = is_effective(visit, view.check_in_too_far);
            view.visit_minutes = minutes_on_site(visit);
            visit::Entity::update_many()
                .col_expr(
                    visit::Column::CheckedInAt,
                    Expr::value(visit.check_in.as_ref().map(|c| c.at)),
                )
                .col_expr(
                    visit::Column::CheckedOutAt,
                    Expr::value(visit.check_out.as_ref().map(|c| c.at)),
                )
                .col_expr(visit::Column::VisitMinutes, Expr::value(view.visit_minutes))
                .col_expr(visit::Column::Effective, Expr::value(view.effective))
                .col_expr(
                    visit::Column::Body,
                    Expr::value(serde_json::to_value(&view).map_err(ApiError::internal)?),
                )
                .filter(visit::Column::Id.eq(id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
    }
    let (accounts, changed) = crate::insight::sweep::refresh_all(db, Utc::now()).await?;
    values::mark_done(conn, INSIGHT_BACKFILLED).await?;
    if changed > 0 {
        tracing::info!(
            accounts,
            changed,
            "gave the existing visits and accounts their insight"
        );
    }
    Ok(())
}

/// Visits as a synced kind.
pub struct Visits;

impl SyncedKind for Visits {
    type Record = Visit;
    type Entity = visit::Entity;
    type View = VisitView;
    const NAME: &'static str = "visit";
    const STAYS_WITH_ACCOUNT: &'static str = "a visit stays with its account; plan a new one";

    async fn review(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        _id: Uuid,
        old: Option<&Visit>,
        new: &Visit,
        _pending: &Pending,
    ) -> ApiResult<Review> {
        review(conn, caller, old, new).await
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        settings: &Settings,
        items: &[Materialize<'_, visit::Model>],
    ) -> ApiResult<Vec<VisitView>> {
        materialize_all(conn, items, settings.visits.check_in_max_distance_m).await
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, visit::Model>> {
        super::rows_by_id::<visit::Entity>(conn, visit::Column::Id, ids, |row| row.id).await
    }

    fn account_of(_id: Uuid, visit: &Visit) -> Uuid {
        visit.account_id.0
    }

    fn account_of_view(view: &VisitView) -> Uuid {
        view.visit.account_id.0
    }

    fn row_parts(row: &visit::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }
}
