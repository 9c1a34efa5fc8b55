//! What the server knows of each kind of synced record: its type, its row,
//! who may write it, the rules a new version must pass, and how its row is
//! materialized. Sync (`sync::push`) and the REST services are written once
//! against [`SyncedKind`]; [`with_kind!`](crate::with_kind) picks the
//! implementation for a [`RecordKind`] known only at run time.

use super::{Materialize, Refusal, Review};
use crate::auth::{AuthUser, Role};
use crate::config::Settings;
use crate::error::{ApiError, ApiResult};
use kam_sync_core::{Conflict, Record, RecordKind};
use sea_orm::{ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The row model of a kind.
pub type Row<K> = <<K as SyncedKind>::Entity as EntityTrait>::Model;

/// A kind of record held in an Automerge document and synced to devices.
pub trait SyncedKind {
    /// The record's type, as `kam-sync-core` defines it.
    type Record: Record;
    /// The table of materialized rows.
    type Entity: EntityTrait;
    /// The record as the API shows it.
    type View: Serialize;

    /// The kind's name in problems (`not_found("contact")`).
    const NAME: &'static str;

    /// Why a record of this kind may not move to another account: every
    /// kind under an account stays with it ([`review`] refuses the move).
    const STAYS_WITH_ACCOUNT: &'static str = "a record stays with its account";

    /// Whether reviews read records of this kind as pushed in the same sync
    /// request or imported in the same CSV batch (a ticket closing on a
    /// callback made with it, the cap on an account's key persons).
    const READ_BY_LATER_REVIEWS: bool = false;

    /// Whether records of this kind say something about their account's
    /// insight (its warnings, health and visit cadence, `crate::insight`):
    /// a write of one refreshes the account.
    const FEEDS_INSIGHT: bool = true;

    /// Whether `role` may create and change records of this kind (the
    /// service role reads records and works the after-sale ones).
    fn writable_by(role: Role) -> bool {
        role != Role::Service
    }

    /// What the server makes of a new version of record `id` written by
    /// `caller`, against the version before (`None`: a new record): the
    /// changes it refuses and
    /// the fields it keeps itself. REST answers the first refusal; sync
    /// undoes every refusal with a compensating change. `pending` holds the
    /// records of the same sync request (or CSV import batch) already
    /// merged, of the kinds [`SyncedKind::READ_BY_LATER_REVIEWS`] (empty for
    /// REST).
    fn review(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        id: Uuid,
        old: Option<&Self::Record>,
        new: &Self::Record,
        pending: &Pending,
    ) -> impl Future<Output = ApiResult<Review>>;

    /// Reads, before the change log's head is locked, what materializing this kind
    /// will wait for (the tiering settings' row lock, for accounts), so
    /// that the wait does not hold up every other writer.
    fn before_store(
        _conn: &impl ConnectionTrait,
        _settings: &Settings,
    ) -> impl Future<Output = ApiResult<()>> {
        async { Ok(()) }
    }

    /// Writes the rows of many records of this kind from their documents,
    /// with a constant number of look-ups; returns their views, in order.
    fn materialize_all(
        conn: &impl ConnectionTrait,
        settings: &Settings,
        items: &[Materialize<'_, Row<Self>>],
    ) -> impl Future<Output = ApiResult<Vec<Self::View>>>;

    /// The rows of `ids` that exist, in one query.
    fn rows_by_id(
        conn: &impl ConnectionTrait,
        ids: Vec<Uuid>,
    ) -> impl Future<Output = ApiResult<std::collections::HashMap<Uuid, Row<Self>>>>;

    /// The account record `id` belongs to: an account is its own; every
    /// other kind lives under the account it names, and stays there.
    fn account_of(id: Uuid, record: &Self::Record) -> Uuid;

    /// The account a view's record belongs to.
    fn account_of_view(view: &Self::View) -> Uuid;

    /// Puts an account's fresh insight into a view written before it was
    /// refreshed (only account views carry it).
    fn with_insight(_view: &mut Self::View, _insight: &crate::insight::refresh::AccountInsight) {}

    /// A row's id, version and API view (stored as JSON).
    fn row_parts(row: &Row<Self>) -> (Uuid, i64, &Value);

    /// Brings the parts of a view that depend on the day (days left to a
    /// date, overdue flags) up to `now`: a stored view keeps them as of its
    /// last write, so every view read from a row passes through here.
    fn as_of(_view: &mut Self::View, _now: chrono::DateTime<chrono::Utc>) {}

    /// The API view of a row.
    fn view_of(row: &Row<Self>) -> ApiResult<Self::View>
    where
        Self::View: serde::de::DeserializeOwned,
    {
        let (_, _, body) = Self::row_parts(row);
        let mut view = serde_json::from_value(body.clone()).map_err(ApiError::internal)?;
        Self::as_of(&mut view, chrono::Utc::now());
        Ok(view)
    }

    /// The row of record `id`, if `caller` may see its account (404 as if
    /// it did not exist otherwise): the one rule of who sees a record.
    fn visible(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        id: Uuid,
    ) -> impl Future<Output = ApiResult<Row<Self>>> {
        async move {
            let not_found = || ApiError::not_found(Self::NAME);
            let row = Self::rows_by_id(conn, vec![id])
                .await?
                .remove(&id)
                .ok_or_else(not_found)?;
            let account_id = {
                let (_, _, body) = Self::row_parts(&row);
                body.get("account_id")
                    .and_then(Value::as_str)
                    .and_then(|text| Uuid::parse_str(text).ok())
                    .ok_or_else(|| {
                        ApiError::internal(anyhow::anyhow!("{} {id} names no account", Self::NAME))
                    })?
            };
            super::accounts::visible_row(conn, caller, account_id)
                .await
                .map_err(|_| not_found())?;
            Ok(row)
        }
    }
}

/// What the server makes of a new version of record `id` of kind `K`: the
/// rules every kind shares (a record stays with its account), then the
/// kind's own ([`SyncedKind::review`]). Every write reviews through here.
pub async fn review<K: SyncedKind>(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
    old: Option<&K::Record>,
    new: &K::Record,
    pending: &Pending,
) -> ApiResult<Review> {
    let mut review = K::review(conn, caller, id, old, new, pending).await?;
    if let Some(old) = old {
        let (was, is) = (K::account_of(id, old), K::account_of(id, new));
        if was != is {
            review.refusals.insert(
                0,
                Refusal {
                    field: "account_id",
                    restore: Value::String(was.to_string()),
                    error: ApiError::invalid_field(
                        "account_id",
                        "immutable_field",
                        K::STAYS_WITH_ACCOUNT,
                    ),
                },
            );
        }
    }
    Ok(review)
}

/// Records merged earlier in the same sync request (or CSV import batch)
/// and not yet stored, which later reviews may read: kinds are applied in
/// [`RecordKind::ALL`] order, so a record's review sees the pending records
/// of earlier kinds, and of its own kind those before it.
#[derive(Debug, Default)]
pub struct Pending {
    records: Vec<(RecordKind, Uuid, Value)>,
}

impl Pending {
    /// Notes a merged record.
    pub fn add(&mut self, kind: RecordKind, id: Uuid, record: Value) {
        self.records.push((kind, id, record));
    }

    /// The pending records of `kind`, as JSON, with their ids.
    pub fn of(&self, kind: RecordKind) -> impl Iterator<Item = (Uuid, &Value)> {
        self.records
            .iter()
            .filter(move |(k, _, _)| *k == kind)
            .map(|(_, id, record)| (*id, record))
    }
}

/// Runs `$body` with `$K` standing for the [`SyncedKind`] of `$kind`: the
/// one place on the server that maps a run-time kind to its implementation.
#[macro_export]
macro_rules! with_kind {
    ($kind:expr, $K:ident => $body:expr) => {
        match $kind {
            kam_sync_core::RecordKind::Account => {
                type $K = $crate::records::accounts::Accounts;
                $body
            }
            kam_sync_core::RecordKind::Visit => {
                type $K = $crate::records::visits::Visits;
                $body
            }
            kam_sync_core::RecordKind::Contact => {
                type $K = $crate::records::contacts::Contacts;
                $body
            }
            kam_sync_core::RecordKind::Opportunity => {
                type $K = $crate::records::opportunities::Opportunities;
                $body
            }
            kam_sync_core::RecordKind::AccountPlan => {
                type $K = $crate::records::account_plans::AccountPlans;
                $body
            }
            kam_sync_core::RecordKind::Callback => {
                type $K = $crate::records::callbacks::Callbacks;
                $body
            }
            kam_sync_core::RecordKind::Ticket => {
                type $K = $crate::records::tickets::Tickets;
                $body
            }
        }
    };
}

/// What every synced record's view carries besides its fields.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Stamp {
    /// Fields that two writers set concurrently: the value shown and the others.
    pub conflicts: Vec<Conflict>,
    /// Who created it.
    pub created_by: Option<kam_sync_core::ids::UserId>,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Change-log position of its last change; its ETag.
    pub version: i64,
}

impl<Row> Materialize<'_, Row> {
    /// The item's stamp; `created` reads the creator and creation time off
    /// the row before.
    pub fn stamp(
        &self,
        created: impl Fn(&Row) -> (Option<Uuid>, chrono::DateTime<chrono::Utc>),
    ) -> Stamp {
        let (created_by, created_at) = match self.previous {
            Some(row) => {
                let (by, at) = created(row);
                (by.map(kam_sync_core::ids::UserId), at)
            }
            None => (self.meta.user, self.meta.time),
        };
        Stamp {
            conflicts: self.doc.conflicts(),
            created_by,
            created_at,
            updated_at: self.meta.time,
            version: self.version,
        }
    }
}
