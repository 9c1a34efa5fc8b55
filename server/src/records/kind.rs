//! What the server knows of each kind of synced record: its type, its row,
//! who may write it, the rules a new version must pass, and how its row is
//! materialized. Sync (`sync::push`) and the REST services are written once
//! against [`SyncedKind`]; [`with_kind!`](crate::with_kind) picks the
//! implementation for a [`RecordKind`] known only at run time.

use super::{Materialize, Review};
use crate::auth::{AuthUser, Role};
use crate::config::Settings;
use crate::error::ApiResult;
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

    /// Whether reviews read records of this kind as pushed in the same sync
    /// request or imported in the same CSV batch (a ticket closing on a
    /// callback made with it, the cap on an account's key persons).
    const READ_BY_LATER_REVIEWS: bool = false;

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

    /// Reads, before the feed lock is taken, what materializing this kind
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
