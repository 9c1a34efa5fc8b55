//! Tickets (投诉/服务): complaints, service requests and questions, their
//! workflow and SLA, and the service summary report.
//!
//! The workflow: open → assigned → in_progress → resolved → closed, one
//! step at a time; a resolved ticket may be reopened (back to in_progress).
//! A ticket names its assignee while assigned, in progress or resolved, and
//! its resolution once resolved or closed. A question or service request
//! still open may be closed at once with a resolution (answered on the
//! spot, a duplicate), with no assignee; a complaint
//! is always resolved first, and closes only once a callback after it
//! (kind `after_ticket`) is done; it stays a complaint.
//!
//! The times are the server's: a ticket opens when its first version
//! reaches the server; its SLA runs out `service.sla_hours.<severity>` hours
//! later; `resolved_at` and `closed_at` are when those statuses were reached.

use super::child::{ChildKind, Columns, active_user, list_filter, sees_account};
use super::kind::{Pending, Stamp, SyncedKind};
use super::{Materialize, Review};
use crate::access::visible_account_ids;
use crate::auth::{AuthUser, Role};
use crate::config::{Settings, SlaHours};
use crate::db::upsert_each;
use crate::entities::{callback, contact, ticket};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use chrono::{DateTime, Duration, Utc};
use kam_sync_core::callback::{CallbackKind, CallbackStatus, LOW_SATISFACTION};
use kam_sync_core::ids::{AccountId, ContactId, TicketId, UserId};
use kam_sync_core::ticket::{Severity, TicketStatus, TicketType};
use kam_sync_core::{Callback, RecordKind, Ticket};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect,
    Set,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// A ticket as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TicketView {
    /// Id.
    pub id: TicketId,
    /// The record.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// When it opened: when it first reached the server.
    pub opened_at: DateTime<Utc>,
    /// When its SLA runs out: `opened_at` plus the configured hours for its severity.
    pub sla_due_at: DateTime<Utc>,
    /// When it was resolved (or closed straight from an open status).
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Whether it missed its SLA: resolved after `sla_due_at`, or still unresolved past it.
    pub sla_breached: bool,
    /// Hours from opening to resolution, once resolved.
    pub time_to_resolve_hours: Option<f64>,
    /// Bookkeeping.
    #[serde(flatten)]
    pub stamp: Stamp,
}

list_filter!(
    /// Filters for listing tickets; all combine with AND, within the caller's scope.
    TicketFilter {
        /// In this status.
        status: Option<TicketStatus>,
        /// Of this severity.
        severity: Option<Severity>,
        /// Of this type.
        #[serde(rename = "type")]
        #[param(rename = "type")]
        ticket_type: Option<TicketType>,
        /// Worked by this user.
        assignee_id: Option<Uuid>,
        /// Only tickets still to be worked (not resolved nor closed).
        open_only: Option<bool>,
        /// Only tickets that missed their SLA (true) or have not (false).
        sla_breached: Option<bool>,
    }
);

/// Tickets as a synced kind.
pub struct Tickets;

/// Hours from opening to the SLA due time for a severity.
pub fn sla_hours(hours: &SlaHours, severity: Severity) -> u32 {
    match severity {
        Severity::Critical => hours.critical,
        Severity::High => hours.high,
        Severity::Medium => hours.medium,
        Severity::Low => hours.low,
    }
}

/// Whether a ticket due at `due` and resolved at `resolved` (if it is)
/// missed its SLA as of `now`.
fn breached(due: DateTime<Utc>, resolved: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    resolved.unwrap_or(now) > due
}

/// The condition on `tickets` that [`breached`] states, as of `now`.
fn breached_condition(now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(
            Condition::all()
                .add(ticket::Column::ResolvedAt.is_null())
                .add(ticket::Column::SlaDueAt.lt(now)),
        )
        .add(Expr::col(ticket::Column::ResolvedAt).gt(Expr::col(ticket::Column::SlaDueAt)))
}

fn status_move_refused(
    kind: &str,
    from: impl std::fmt::Display,
    to: impl std::fmt::Display,
    why: &str,
) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidStatusMove,
        format!("a {kind} cannot move from {from} to {to}: {why}"),
    )
}

/// Why `contact` may not be named on a record of `account`, if it may not:
/// a key person of another account. One not known here yet is accepted, as
/// for reporting lines: a device may push both, made offline, in one request.
pub async fn contact_problem(
    conn: &impl ConnectionTrait,
    account: AccountId,
    contact: ContactId,
) -> ApiResult<Option<ApiError>> {
    let row = contact::Entity::find_by_id(contact.0).one(conn).await?;
    Ok(row.filter(|row| row.account_id != account.0).map(|_| {
        ApiError::invalid_field(
            "contact_id",
            "other_account",
            "the key person works at another account",
        )
    }))
}

/// Why `assignee` may not work a ticket at `account`, if they may not:
/// they must be active and see the account, or work in customer service.
async fn assignee_problem(
    conn: &impl ConnectionTrait,
    assignee: UserId,
    account: AccountId,
) -> ApiResult<Option<ApiError>> {
    let user = match active_user(conn, assignee, "assignee_id").await {
        Ok(user) => user,
        Err(err) => return Ok(Some(err)),
    };
    if user.role == Role::Service || sees_account(conn, &user, account).await? {
        return Ok(None);
    }
    Ok(Some(ApiError::invalid_field(
        "assignee_id",
        "assignee_cannot_see_account",
        "that user cannot see the ticket's account; share it with them or assign customer service",
    )))
}

/// Whether a callback follows up ticket `ticket` at `account` and is done.
fn closes(callback: &Callback, ticket: Uuid, account: AccountId) -> bool {
    callback.kind == CallbackKind::AfterTicket
        && callback.ticket_id.map(|t| t.0) == Some(ticket)
        && callback.account_id == account
        && callback.status == CallbackStatus::Done
        && !callback.deleted
}

/// Whether a done callback after ticket `id` exists, stored or pushed in
/// the same sync request (whose version wins over the stored one).
async fn callback_done(
    conn: &impl ConnectionTrait,
    id: Uuid,
    account: AccountId,
    pending: &Pending,
) -> ApiResult<bool> {
    let mut seen = HashSet::new();
    for (callback_id, record) in pending.of(RecordKind::Callback) {
        seen.insert(callback_id);
        let callback: Callback =
            serde_json::from_value(record.clone()).map_err(ApiError::internal)?;
        if closes(&callback, id, account) {
            return Ok(true);
        }
    }
    let stored: Vec<Uuid> = callback::Entity::find()
        .select_only()
        .column(callback::Column::Id)
        .filter(callback::Column::TicketId.eq(id))
        .filter(callback::Column::AccountId.eq(account.0))
        .filter(callback::Column::Kind.eq(CallbackKind::AfterTicket.as_str()))
        .filter(callback::Column::Status.eq(CallbackStatus::Done.as_str()))
        .filter(callback::Column::Deleted.eq(false))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(stored.iter().any(|callback| !seen.contains(callback)))
}

/// The rules of a ticket's status: its moves, and what each status needs.
async fn review_status(
    conn: &impl ConnectionTrait,
    id: Uuid,
    old: Option<&Ticket>,
    new: &Ticket,
    pending: &Pending,
    review: &mut Review,
) -> ApiResult<()> {
    let from = old.map_or(TicketStatus::Open, |o| o.status);
    let to = new.status;
    let moved = from != to;
    let refusal = if moved && !from.can_move_to(to) {
        Some(status_move_refused(
            "ticket",
            from,
            to,
            "tickets move open → assigned → in_progress → resolved → closed, and reopen from resolved",
        ))
    } else if moved
        && to == TicketStatus::Closed
        && from != TicketStatus::Resolved
        && new.ticket_type == TicketType::Complaint
    {
        Some(status_move_refused(
            "complaint",
            from,
            to,
            "a complaint is resolved first, then closed after its callback",
        ))
    } else if to.needs_assignee() && new.assignee_id.is_none() {
        Some(ApiError::invalid_field(
            "assignee_id",
            "required",
            format!("a ticket that is {to} names who works it"),
        ))
    } else if to.needs_resolution()
        && new
            .resolution
            .as_deref()
            .is_none_or(|r| r.trim().is_empty())
    {
        Some(ApiError::invalid_field(
            "resolution",
            "required",
            format!("a ticket that is {to} says how it was resolved"),
        ))
    } else if moved
        && to == TicketStatus::Closed
        && new.ticket_type == TicketType::Complaint
        && !callback_done(conn, id, new.account_id, pending).await?
    {
        Some(ApiError::new(
            ErrorCode::CallbackRequired,
            "a complaint closes once a callback after it (kind after_ticket) is done",
        ))
    } else {
        None
    };
    if let Some(error) = refusal {
        // What the status needs went missing while it stayed put: that
        // field's change is the one undone; otherwise the move is.
        let field = match error.specific_code() {
            "required" if !moved => {
                if new.assignee_id.is_none() && to.needs_assignee() {
                    "assignee_id"
                } else {
                    "resolution"
                }
            }
            _ => "status",
        };
        let restore = match (field, old) {
            ("assignee_id", Some(old)) => json!(old.assignee_id),
            ("resolution", Some(old)) => json!(old.resolution),
            _ => json!(from),
        };
        review.refuse(field, restore, error);
    }
    Ok(())
}

impl SyncedKind for Tickets {
    type Record = Ticket;
    type Entity = ticket::Entity;
    type View = TicketView;
    const NAME: &'static str = "ticket";
    const STAYS_WITH_ACCOUNT: &'static str = "a ticket stays with its account; open a new one";

    fn writable_by(_role: Role) -> bool {
        true
    }

    async fn review(
        conn: &impl ConnectionTrait,
        _caller: &AuthUser,
        id: Uuid,
        old: Option<&Ticket>,
        new: &Ticket,
        pending: &Pending,
    ) -> ApiResult<Review> {
        let mut review = Review::default();
        // The record as the status rules judge it: with the refused changes
        // undone, as sync will store it.
        let mut checked = new.clone();
        // Reclassifying a complaint would let it close without its callback.
        if let Some(old) = old
            && old.ticket_type == TicketType::Complaint
            && new.ticket_type != TicketType::Complaint
        {
            review.refuse(
                "type",
                json!(old.ticket_type),
                ApiError::invalid_field(
                    "type",
                    "immutable_field",
                    "a complaint stays a complaint, so that it closes after its callback",
                ),
            );
            checked.ticket_type = old.ticket_type;
        }
        let old_contact = old.and_then(|o| o.contact_id);
        if let Some(contact) = new.contact_id
            && Some(contact) != old_contact
            && let Some(error) = contact_problem(conn, new.account_id, contact).await?
        {
            review.refuse("contact_id", json!(old_contact), error);
        }
        let old_assignee = old.and_then(|o| o.assignee_id);
        if let Some(assignee) = new.assignee_id
            && Some(assignee) != old_assignee
            && let Some(error) = assignee_problem(conn, assignee, new.account_id).await?
        {
            review.refuse("assignee_id", json!(old_assignee), error);
            checked.assignee_id = old_assignee;
        }
        review_status(conn, id, old, &checked, pending, &mut review).await?;
        Ok(review)
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        settings: &Settings,
        items: &[Materialize<'_, ticket::Model>],
    ) -> ApiResult<Vec<TicketView>> {
        let now = Utc::now();
        let mut views = Vec::with_capacity(items.len());
        let mut models = Vec::with_capacity(items.len());
        for item in items {
            let ticket: Ticket = item.doc.read()?;
            let stamp = item.stamp(|row| (row.created_by, row.created_at));
            let opened_at = stamp.created_at;
            let hours = sla_hours(&settings.service.sla_hours, ticket.severity);
            let sla_due_at = opened_at + Duration::hours(i64::from(hours));
            let kept = |at: fn(&ticket::Model) -> Option<DateTime<Utc>>| {
                item.previous.and_then(at).unwrap_or(item.meta.time)
            };
            let resolved_at = ticket
                .status
                .needs_resolution()
                .then(|| kept(|row| row.resolved_at));
            let closed_at =
                (ticket.status == TicketStatus::Closed).then(|| kept(|row| row.closed_at));
            let resolution_secs = resolved_at.map(|at| (at - opened_at).num_seconds());
            let view = TicketView {
                id: TicketId(item.id),
                opened_at,
                sla_due_at,
                resolved_at,
                closed_at,
                sla_breached: breached(sla_due_at, resolved_at, now),
                time_to_resolve_hours: resolution_secs.map(|secs| secs as f64 / 3600.0),
                stamp,
                ticket,
            };
            let ticket = &view.ticket;
            models.push(ticket::ActiveModel {
                id: Set(item.id),
                account_id: Set(ticket.account_id.0),
                ticket_type: Set(ticket.ticket_type.as_str().to_owned()),
                severity: Set(ticket.severity.as_str().to_owned()),
                status: Set(ticket.status.as_str().to_owned()),
                assignee_id: Set(ticket.assignee_id.map(|u| u.0)),
                contact_id: Set(ticket.contact_id.map(|c| c.0)),
                sla_due_at: Set(sla_due_at),
                resolved_at: Set(resolved_at),
                closed_at: Set(closed_at),
                resolution_secs: Set(resolution_secs),
                deleted: Set(ticket.deleted),
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
            OnConflict::column(ticket::Column::Id)
                .update_columns([
                    ticket::Column::AccountId,
                    ticket::Column::TicketType,
                    ticket::Column::Severity,
                    ticket::Column::Status,
                    ticket::Column::AssigneeId,
                    ticket::Column::ContactId,
                    ticket::Column::SlaDueAt,
                    ticket::Column::ResolvedAt,
                    ticket::Column::ClosedAt,
                    ticket::Column::ResolutionSecs,
                    ticket::Column::Deleted,
                    ticket::Column::UpdatedAt,
                    ticket::Column::Version,
                    ticket::Column::Body,
                ])
                .to_owned(),
        )
        .await?;
        Ok(views)
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, ticket::Model>> {
        super::rows_by_id::<ticket::Entity>(conn, ticket::Column::Id, ids, |row| row.id).await
    }

    fn account_of(_id: Uuid, record: &Ticket) -> Uuid {
        record.account_id.0
    }

    fn account_of_view(view: &TicketView) -> Uuid {
        view.ticket.account_id.0
    }

    fn row_parts(row: &ticket::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }

    fn as_of(view: &mut TicketView, now: DateTime<Utc>) {
        view.sla_breached = breached(view.sla_due_at, view.resolved_at, now);
    }
}

impl ChildKind for Tickets {
    type Filter = TicketFilter;

    fn columns() -> Columns<ticket::Column> {
        Columns {
            id: ticket::Column::Id,
            account_id: ticket::Column::AccountId,
            deleted: ticket::Column::Deleted,
            updated_at: ticket::Column::UpdatedAt,
        }
    }

    fn filter(filter: &TicketFilter, mut condition: Condition) -> Condition {
        if let Some(status) = filter.status {
            condition = condition.add(ticket::Column::Status.eq(status.as_str()));
        }
        if let Some(severity) = filter.severity {
            condition = condition.add(ticket::Column::Severity.eq(severity.as_str()));
        }
        if let Some(ticket_type) = filter.ticket_type {
            condition = condition.add(ticket::Column::TicketType.eq(ticket_type.as_str()));
        }
        if let Some(assignee) = filter.assignee_id {
            condition = condition.add(ticket::Column::AssigneeId.eq(assignee));
        }
        if filter.open_only == Some(true) {
            condition = condition.add(open_condition());
        }
        match filter.sla_breached {
            Some(true) => condition = condition.add(breached_condition(Utc::now())),
            Some(false) => condition = condition.add(breached_condition(Utc::now()).not()),
            None => {}
        }
        condition
    }
}

/// Tickets still to work: neither resolved nor closed.
pub fn open_condition() -> Condition {
    Condition::all().add(ticket::Column::Status.is_not_in([
        TicketStatus::Resolved.as_str(),
        TicketStatus::Closed.as_str(),
    ]))
}

/// Open tickets by severity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct OpenBySeverity {
    /// Business stopped.
    pub critical: u64,
    /// Business hurt.
    pub high: u64,
    /// An inconvenience.
    pub medium: u64,
    /// When convenient.
    pub low: u64,
}

/// After-sale service at a glance, over the accounts in the caller's scope
/// (deleted tickets and callbacks left out).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceSummary {
    /// Tickets still to be worked (not resolved nor closed), by severity.
    pub open_tickets: OpenBySeverity,
    /// Tickets that missed their SLA: resolved late, or unresolved past it now.
    pub sla_breached: u64,
    /// Mean hours from opening to resolution of the resolved tickets (none resolved: null).
    pub average_resolution_hours: Option<f64>,
    /// Mean satisfaction (1-5) of the done callbacks (none: null).
    pub average_satisfaction: Option<f64>,
    /// Done callbacks with satisfaction at or below 2, a churn warning sign.
    pub low_satisfaction_callbacks: u64,
    /// Complaints, whatever their status.
    pub complaints: u64,
    /// Complaints still to be worked.
    pub open_complaints: u64,
}

fn average(sum: Option<i64>, count: i64) -> Option<f64> {
    (count > 0).then(|| sum.unwrap_or(0) as f64 / count as f64)
}

/// The service summary of the caller's scope.
pub async fn summary(state: &AppState, caller: &AuthUser) -> ApiResult<ServiceSummary> {
    let conn = state.db.conn();
    let mut tickets = Condition::all().add(ticket::Column::Deleted.eq(false));
    let mut callbacks = Condition::all().add(callback::Column::Deleted.eq(false));
    if let Some(visible) = visible_account_ids(caller) {
        tickets = tickets.add(ticket::Column::AccountId.in_subquery(visible.clone()));
        callbacks = callbacks.add(callback::Column::AccountId.in_subquery(visible));
    }
    let by_severity: Vec<(String, i64)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Severity)
        .column_as(ticket::Column::Id.count(), "tickets")
        .filter(tickets.clone().add(open_condition()))
        .group_by(ticket::Column::Severity)
        .into_tuple()
        .all(conn)
        .await?;
    let mut open_tickets = OpenBySeverity::default();
    for (severity, count) in by_severity {
        let count = u64::try_from(count).unwrap_or(0);
        match severity.parse::<Severity>() {
            Ok(Severity::Critical) => open_tickets.critical = count,
            Ok(Severity::High) => open_tickets.high = count,
            Ok(Severity::Medium) => open_tickets.medium = count,
            Ok(Severity::Low) => open_tickets.low = count,
            Err(err) => return Err(ApiError::internal(anyhow::anyhow!(err))),
        }
    }
    let count_tickets = |condition: Condition| {
        ticket::Entity::find()
            .filter(tickets.clone().add(condition))
            .count(conn)
    };
    let complaint =
        || Condition::all().add(ticket::Column::TicketType.eq(TicketType::Complaint.as_str()));
    let sla_breached = count_tickets(breached_condition(Utc::now())).await?;
    let complaints = count_tickets(complaint()).await?;
    let open_complaints = count_tickets(complaint().add(open_condition())).await?;
    // Sums are cast to BIGINT: PostgreSQL sums a BIGINT column as NUMERIC.
    let (resolved, resolution_secs): (i64, Option<i64>) = ticket::Entity::find()
        .select_only()
        .column_as(ticket::Column::ResolutionSecs.count(), "resolved")
        .column_as(Expr::cust("CAST(SUM(resolution_secs) AS BIGINT)"), "secs")
        .filter(
            tickets
                .clone()
                .add(ticket::Column::ResolutionSecs.is_not_null()),
        )
        .into_tuple()
        .one(conn)
        .await?
        .unwrap_or((0, None));
    let done = callbacks
        .add(callback::Column::Status.eq(CallbackStatus::Done.as_str()))
        .add(callback::Column::Satisfaction.is_not_null());
    let (rated, satisfaction): (i64, Option<i64>) = callback::Entity::find()
        .select_only()
        .column_as(callback::Column::Satisfaction.count(), "rated")
        .column_as(Expr::cust("CAST(SUM(satisfaction) AS BIGINT)"), "total")
        .filter(done.clone())
        .into_tuple()
        .one(conn)
        .await?
        .unwrap_or((0, None));
    let low_satisfaction_callbacks = callback::Entity::find()
        .filter(done.add(callback::Column::Satisfaction.lte(LOW_SATISFACTION)))
        .count(conn)
        .await?;
    Ok(ServiceSummary {
        open_tickets,
        sla_breached,
        average_resolution_hours: average(resolution_secs, resolved).map(|secs| secs / 3600.0),
        average_satisfaction: average(satisfaction, rated),
        low_satisfaction_callbacks,
        complaints,
        open_complaints,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_breaches_when_resolved_late_or_still_open_past_due() {
        let due = Utc::now();
        let early = due - Duration::hours(1);
        let late = due + Duration::hours(1);
        assert!(!breached(due, Some(early), late));
        assert!(breached(due, Some(late), late));
        assert!(breached(due, None, late));
        assert!(!breached(due, None, early));
    }

    #[test]
    fn the_sla_hours_follow_the_severity() {
        let hours = SlaHours {
            critical: 4,
            high: 24,
            medium: 72,
            low: 168,
        };
        assert_eq!(sla_hours(&hours, Severity::Critical), 4);
        assert_eq!(sla_hours(&hours, Severity::Low), 168);
    }
}
