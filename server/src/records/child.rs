//! The REST services of the synced records that live under an account (key
//! persons, opportunities, plans, tickets, callbacks, ...), written once:
//! read, list, create, change and delete, with the same scope, review and
//! storage as sync. A record is visible to whoever sees its account.

use super::kind::SyncedKind;
use super::page::{self, Page};
use super::{Precondition, write};
use crate::access::{manages, visible_account_ids};
use crate::auth::AuthUser;
use crate::entities::{account, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::accounts::visible_row;
use crate::state::AppState;
use chrono::{DateTime, Utc};
use kam_sync_core::ids::{AccountId, UserId};
use kam_sync_core::parse_record;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QuerySelect};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The columns every child kind's table has, by which the services filter.
pub struct Columns<C> {
    /// The record's id.
    pub id: C,
    /// Its account.
    pub account_id: C,
    /// Soft deletion.
    pub deleted: C,
    /// Last change.
    pub updated_at: C,
}

/// A synced kind that lives under an account.
pub trait ChildKind: SyncedKind<View: DeserializeOwned> {
    /// Its list filter.
    type Filter: ListFilter;

    /// Its table's common columns.
    fn columns() -> Columns<<Self::Entity as EntityTrait>::Column>;

    /// Top-level lists of objects whose items carry an `id`, so that they
    /// merge item by item; items a REST client sends without one get a
    /// new UUIDv7.
    const IDENTIFIED_LISTS: &'static [&'static str] = &[];

    /// Fills in what a new record may leave out, such as its owner.
    fn fill_defaults(_caller: &AuthUser, _body: &mut Map<String, Value>) {}

    /// The kind-specific filters, added to `condition`.
    fn filter(filter: &Self::Filter, condition: Condition) -> Condition;
}

/// What every child kind's list filter has.
pub trait ListFilter {
    /// Under this account.
    fn account_id(&self) -> Option<Uuid>;
    /// Changed at or after.
    fn updated_since(&self) -> Option<DateTime<Utc>>;
    /// Include soft-deleted records.
    fn include_deleted(&self) -> bool;
    /// Page size asked for.
    fn limit(&self) -> Option<u64>;
    /// The previous page's `next_cursor`.
    fn cursor(&self) -> Option<&str>;
}

/// Declares a child kind's list filter: the common filters (account,
/// change time, deleted, paging) around the kind's own.
macro_rules! list_filter {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
        #[serde(deny_unknown_fields)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            /// Under this account.
            pub account_id: Option<uuid::Uuid>,
            $($(#[$fmeta])* pub $field: $ty,)*
            /// Changed at or after this time (RFC 3339).
            pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
            /// Include soft-deleted records (default false).
            pub include_deleted: Option<bool>,
            /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
            #[param(minimum = 1, maximum = 500)]
            pub limit: Option<u64>,
            /// `next_cursor` of the previous page.
            pub cursor: Option<String>,
        }

        impl $crate::records::child::ListFilter for $name {
            fn account_id(&self) -> Option<uuid::Uuid> {
                self.account_id
            }
            fn updated_since(&self) -> Option<chrono::DateTime<chrono::Utc>> {
                self.updated_since
            }
            fn include_deleted(&self) -> bool {
                self.include_deleted.unwrap_or(false)
            }
            fn limit(&self) -> Option<u64> {
                self.limit
            }
            fn cursor(&self) -> Option<&str> {
                self.cursor.as_deref()
            }
        }
    };
}
pub(crate) use list_filter;

/// Gives the items of `K`'s identified lists in a body or patch that lack
/// an `id` a new one.
fn fill_item_ids<K: ChildKind>(body: &mut Map<String, Value>) {
    for field in K::IDENTIFIED_LISTS {
        if let Some(Value::Array(items)) = body.get_mut(*field) {
            for item in items.iter_mut() {
                if let Value::Object(members) = item {
                    members
                        .entry("id")
                        .or_insert_with(|| Value::String(Uuid::now_v7().to_string()));
                }
            }
        }
    }
}

/// Who may own a record the caller writes under `account`: a rep owns
/// their own (`rep_rule` says so when refused); the account's managers
/// ([`manages`]) may assign any active user who can see the account. A
/// manager the account is only shared with is held to the rep's rule.
pub async fn check_owner(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    owner: UserId,
    account: Uuid,
    rep_rule: &'static str,
) -> ApiResult<()> {
    if owner == caller.id {
        return Ok(());
    }
    if !caller.role.supervises() {
        return Err(ApiError::new(ErrorCode::OwnerChangeForbidden, rep_rule));
    }
    if !manages_account(conn, caller, account).await? {
        return Err(ApiError::new(
            ErrorCode::OwnerChangeForbidden,
            "only the account's managers give its records to someone else: a manager leading \
             its team, its branch's director or an admin",
        ));
    }
    check_assignable(conn, owner, account, "owner_id").await
}

/// Whether the caller manages `account` ([`manages`]): decides what only
/// its managers decide under it (who owns its records, resource requests,
/// reopening its deals). An account not stored yet (made offline in the
/// same request, so by the caller) is managed by a caller who supervises;
/// `check_assignable` still holds its records to people who can see it.
pub async fn manages_account(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    account: Uuid,
) -> ApiResult<bool> {
    if !caller.role.supervises() {
        return Ok(false);
    }
    let scope = account::Entity::find_by_id(account)
        .select_only()
        .column(account::Column::OwnerId)
        .column(account::Column::TeamId)
        .into_tuple::<(Uuid, Option<Uuid>)>()
        .one(conn)
        .await?;
    Ok(scope.is_none_or(|(owner, team)| manages(caller, owner, team)))
}

/// Whether `user` may be given work under `account`: an active user who
/// can see it (the problem names `field`).
pub async fn check_assignable(
    conn: &impl ConnectionTrait,
    user: UserId,
    account: Uuid,
    field: &str,
) -> ApiResult<()> {
    // A user who does not exist cannot see the account either: one answer
    // for both, so that it does not tell which users exist.
    let cannot_see = || {
        ApiError::invalid_field(
            field,
            "owner_cannot_see_account",
            "not an active user who can see the account; share the account with them first",
        )
    };
    let Some(row) = user::Entity::find_by_id(user.0)
        .one(conn)
        .await?
        .filter(|u| u.active)
    else {
        return Err(cannot_see());
    };
    let assignee = AuthUser::without_session(conn, &row).await?;
    if !sees_account(conn, &assignee, AccountId(account)).await? {
        return Err(cannot_see());
    }
    Ok(())
}

/// Reads one record.
pub async fn get<K: ChildKind>(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
) -> ApiResult<K::View> {
    K::view_of(&K::visible(state.db.conn(), caller, id).await?)
}

/// Lists records under the accounts in the caller's scope, newest first.
pub async fn list<K: ChildKind>(
    state: &AppState,
    caller: &AuthUser,
    filter: K::Filter,
) -> ApiResult<Page<K::View>> {
    let limit = Page::<K::View>::limit(filter.limit(), state.settings.server.max_page_size)?;
    let columns = K::columns();
    let mut condition = Condition::all();
    if let Some(visible) = visible_account_ids(caller) {
        condition = condition.add(columns.account_id.in_subquery(visible));
    }
    if let Some(account) = filter.account_id() {
        condition = condition.add(columns.account_id.eq(account));
    }
    if let Some(since) = filter.updated_since() {
        condition = condition.add(columns.updated_at.gte(since));
    }
    if !filter.include_deleted() {
        condition = condition.add(columns.deleted.eq(false));
    }
    let condition = K::filter(&filter, condition);
    let rows = page::rows_after::<K::Entity>(
        state.db.conn(),
        condition,
        columns.id,
        filter.cursor(),
        limit,
    )
    .await?;
    let items = rows
        .iter()
        .map(|row| Ok((K::row_parts(row).0, K::view_of(row)?)))
        .collect::<ApiResult<Vec<_>>>()?;
    let page = Page::from_overfetch(items, limit, |(id, _)| *id);
    Ok(Page {
        items: page.items.into_iter().map(|(_, view)| view).collect(),
        next_cursor: page.next_cursor,
    })
}

/// The active user `id`, as access rules see them; a problem naming
/// `field` when there is none.
pub async fn active_user(
    conn: &impl ConnectionTrait,
    id: UserId,
    field: &str,
) -> ApiResult<AuthUser> {
    let row = user::Entity::find_by_id(id.0)
        .one(conn)
        .await?
        .filter(|u| u.active)
        .ok_or_else(|| {
            ApiError::invalid_field(field, "unknown_user", "no active user has this id")
        })?;
    AuthUser::without_session(conn, &row).await
}

/// Whether `user` sees `account`.
pub async fn sees_account(
    conn: &impl ConnectionTrait,
    user: &AuthUser,
    account: AccountId,
) -> ApiResult<bool> {
    Ok(visible_row(conn, user, account.0).await.is_ok())
}

/// Creates a record under an account the caller can see.
pub async fn create<K: ChildKind>(
    state: &AppState,
    caller: &AuthUser,
    mut body: Map<String, Value>,
) -> ApiResult<K::View> {
    write::require_writer::<K>(caller)?;
    let id = super::take_id(&mut body)?;
    crate::telemetry::record_id(id);
    K::fill_defaults(caller, &mut body);
    fill_item_ids::<K>(&mut body);
    let record: K::Record = parse_record(Value::Object(body))?;
    write::create::<K>(state, caller, id, record).await
}

/// Changes a record with a JSON merge patch, under the same rules as sync.
pub async fn update<K: ChildKind>(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    mut patch: Map<String, Value>,
    precondition: Option<&Precondition>,
) -> ApiResult<K::View> {
    fill_item_ids::<K>(&mut patch);
    write::patch::<K>(state, caller, id, precondition, |_| Ok(patch.into())).await
}

/// Deletes a record: `deleted` becomes true, which merges like any edit.
pub async fn delete<K: ChildKind>(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    precondition: Option<&Precondition>,
) -> ApiResult<()> {
    let mut patch = Map::new();
    patch.insert("deleted".into(), Value::Bool(true));
    update::<K>(state, caller, id, patch, precondition)
        .await
        .map(drop)
}
