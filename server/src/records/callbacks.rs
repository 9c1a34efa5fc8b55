//! Callbacks (回访): calls back to customers, routine, after a sale or
//! after a ticket, with the satisfaction they report.
//!
//! The workflow: planned → done or missed; a missed callback may be planned
//! again; a done one is final and records the satisfaction (1-5). A
//! callback after a ticket names a ticket of the same account; its being
//! done is what lets a complaint close, so tickets' reviews read callbacks
//! pushed in the same sync request ([`SyncedKind::READ_BY_LATER_REVIEWS`]).

use super::child::{ChildKind, Columns, check_owner, list_filter};
use super::kind::{Pending, Stamp, SyncedKind};
use super::tickets::contact_problem;
use super::{Materialize, Review};
use crate::auth::{AuthUser, Role};
use crate::config::Settings;
use crate::db::upsert_each;
use crate::entities::{callback, ticket};
use crate::error::{ApiError, ApiResult, ErrorCode};
use chrono::{DateTime, Utc};
use kam_sync_core::Callback;
use kam_sync_core::callback::{CallbackKind, CallbackStatus, LOW_SATISFACTION};
use kam_sync_core::ids::{CallbackId, TicketId};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, Set};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A callback as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallbackView {
    /// Id.
    pub id: CallbackId,
    /// The record.
    #[serde(flatten)]
    pub callback: Callback,
    /// When it was marked done (the server's time).
    pub done_at: Option<DateTime<Utc>>,
    /// Whether the customer rated us 2 or less, a churn warning sign.
    pub low_satisfaction: bool,
    /// Bookkeeping.
    #[serde(flatten)]
    pub stamp: Stamp,
}

list_filter!(
    /// Filters for listing callbacks; all combine with AND, within the caller's scope.
    CallbackFilter {
        /// In this status.
        status: Option<CallbackStatus>,
        /// Of this kind.
        kind: Option<CallbackKind>,
        /// Following up this ticket.
        ticket_id: Option<Uuid>,
        /// Made by this user.
        owner_id: Option<Uuid>,
        /// Only those rated 2 or less (true) or not (false).
        low_satisfaction: Option<bool>,
    }
);

/// Callbacks as a synced kind.
pub struct Callbacks;

/// Why a callback at `callback`'s account may not follow up `ticket`, if
/// it may not: a ticket of another account. A ticket not known here yet is
/// accepted: a device may push a ticket and its callback, both made offline,
/// in one request, and callbacks are applied first.
async fn ticket_problem(
    conn: &impl ConnectionTrait,
    callback: &Callback,
    ticket: TicketId,
) -> ApiResult<Option<ApiError>> {
    let row = ticket::Entity::find_by_id(ticket.0).one(conn).await?;
    Ok(row
        .filter(|row| row.account_id != callback.account_id.0)
        .map(|_| {
            ApiError::invalid_field(
                "ticket_id",
                "other_account",
                "the ticket belongs to another account",
            )
        }))
}

fn review_status(old: Option<&Callback>, new: &Callback, review: &mut Review) {
    let from = old.map_or(CallbackStatus::Planned, |o| o.status);
    let to = new.status;
    if from != to && !from.can_move_to(to) {
        review.refuse(
            "status",
            json!(from),
            ApiError::new(
                ErrorCode::InvalidStatusMove,
                format!(
                    "a callback cannot move from {from} to {to}: it is planned, then done or missed; a missed one may be planned again"
                ),
            ),
        );
    } else if to == CallbackStatus::Done && new.satisfaction.is_none() {
        let error = ApiError::invalid_field(
            "satisfaction",
            "required",
            "a done callback records the customer's satisfaction (1-5)",
        );
        match old {
            Some(old) if from == to => {
                review.refuse("satisfaction", json!(old.satisfaction), error)
            }
            _ => review.refuse("status", json!(from), error),
        }
    }
}

impl SyncedKind for Callbacks {
    type Record = Callback;
    type Entity = callback::Entity;
    type View = CallbackView;
    const NAME: &'static str = "callback";
    const STAYS_WITH_ACCOUNT: &'static str = "a callback stays with its account; plan a new one";
    const READ_BY_LATER_REVIEWS: bool = true;

    fn writable_by(_role: Role) -> bool {
        true
    }

    async fn review(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        _id: Uuid,
        old: Option<&Callback>,
        new: &Callback,
        _pending: &Pending,
    ) -> ApiResult<Review> {
        let mut review = Review::default();
        let old_ticket = old.and_then(|o| o.ticket_id);
        if let Some(ticket) = new.ticket_id
            && Some(ticket) != old_ticket
            && let Some(error) = ticket_problem(conn, new, ticket).await?
        {
            review.refuse("ticket_id", json!(old_ticket), error);
        }
        let old_contact = old.and_then(|o| o.contact_id);
        if let Some(contact) = new.contact_id
            && Some(contact) != old_contact
            && let Some(error) = contact_problem(conn, new.account_id, contact).await?
        {
            review.refuse("contact_id", json!(old_contact), error);
        }
        let old_owner = old.map(|o| o.owner_id);
        if old_owner != Some(new.owner_id)
            && let Err(error) = check_owner(
                conn,
                caller,
                new.owner_id,
                new.account_id.0,
                "a rep makes their own callbacks; ask a manager to give one to someone else",
            )
            .await
        {
            review.refuse("owner_id", json!(old_owner.unwrap_or(caller.id)), error);
        }
        review_status(old, new, &mut review);
        Ok(review)
    }

    async fn materialize_all(
        conn: &impl ConnectionTrait,
        _settings: &Settings,
        items: &[Materialize<'_, callback::Model>],
    ) -> ApiResult<Vec<CallbackView>> {
        let mut views = Vec::with_capacity(items.len());
        let mut models = Vec::with_capacity(items.len());
        for item in items {
            let callback: Callback = item.doc.read()?;
            let done_at = (callback.status == CallbackStatus::Done).then(|| {
                item.previous
                    .and_then(|row| row.done_at)
                    .unwrap_or(item.meta.time)
            });
            let view = CallbackView {
                id: CallbackId(item.id),
                done_at,
                low_satisfaction: callback.satisfaction.is_some_and(|s| s <= LOW_SATISFACTION),
                stamp: item.stamp(|row| (row.created_by, row.created_at)),
                callback,
            };
            let callback = &view.callback;
            models.push(callback::ActiveModel {
                id: Set(item.id),
                account_id: Set(callback.account_id.0),
                kind: Set(callback.kind.as_str().to_owned()),
                ticket_id: Set(callback.ticket_id.map(|t| t.0)),
                owner_id: Set(callback.owner_id.0),
                scheduled_on: Set(callback.scheduled_on),
                status: Set(callback.status.as_str().to_owned()),
                done_at: Set(done_at),
                satisfaction: Set(callback.satisfaction),
                deleted: Set(callback.deleted),
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
            OnConflict::column(callback::Column::Id)
                .update_columns([
                    callback::Column::AccountId,
                    callback::Column::Kind,
                    callback::Column::TicketId,
                    callback::Column::OwnerId,
                    callback::Column::ScheduledOn,
                    callback::Column::Status,
                    callback::Column::DoneAt,
                    callback::Column::Satisfaction,
                    callback::Column::Deleted,
                    callback::Column::UpdatedAt,
                    callback::Column::Version,
                    callback::Column::Body,
                ])
                .to_owned(),
        )
        .await?;
        Ok(views)
    }

    async fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> ApiResult<HashMap<Uuid, callback::Model>> {
        super::rows_by_id::<callback::Entity>(conn, callback::Column::Id, ids, |row| row.id).await
    }

    fn account_of(_id: Uuid, record: &Callback) -> Uuid {
        record.account_id.0
    }

    fn account_of_view(view: &CallbackView) -> Uuid {
        view.callback.account_id.0
    }

    fn row_parts(row: &callback::Model) -> (Uuid, i64, &Value) {
        (row.id, row.version, &row.body)
    }
}

impl ChildKind for Callbacks {
    type Filter = CallbackFilter;

    fn columns() -> Columns<callback::Column> {
        Columns {
            id: callback::Column::Id,
            account_id: callback::Column::AccountId,
            deleted: callback::Column::Deleted,
            updated_at: callback::Column::UpdatedAt,
        }
    }

    fn fill_defaults(caller: &AuthUser, body: &mut Map<String, Value>) {
        body.entry("owner_id")
            .or_insert_with(|| Value::String(caller.id.to_string()));
    }

    fn filter(filter: &CallbackFilter, mut condition: Condition) -> Condition {
        if let Some(status) = filter.status {
            condition = condition.add(callback::Column::Status.eq(status.as_str()));
        }
        if let Some(kind) = filter.kind {
            condition = condition.add(callback::Column::Kind.eq(kind.as_str()));
        }
        if let Some(ticket) = filter.ticket_id {
            condition = condition.add(callback::Column::TicketId.eq(ticket));
        }
        if let Some(owner) = filter.owner_id {
            condition = condition.add(callback::Column::OwnerId.eq(owner));
        }
        match filter.low_satisfaction {
            Some(true) => {
                condition = condition.add(callback::Column::Satisfaction.lte(LOW_SATISFACTION))
            }
            Some(false) => {
                condition = condition.add(
                    Condition::any()
                        .add(callback::Column::Satisfaction.is_null())
                        .add(callback::Column::Satisfaction.gt(LOW_SATISFACTION)),
                )
            }
            None => {}
        }
        condition
    }
}
