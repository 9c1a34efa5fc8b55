//! The unit of work: the one path by which synced records change. Every
//! write (a REST create or patch, a sync push, a CSV import batch, a change
//! the server makes itself) stages what each document gained in a
//! [`UnitOfWork`] inside a write transaction ([`crate::db::Db::begin_write`]);
//! [`UnitOfWork::store`] logs the changes and re-materializes the rows of
//! every kind in [`RecordKind::ALL`] order, and [`UnitOfWork::commit`]
//! commits and only then puts the documents in the cache. The entry points
//! here ([`create`], [`patch`], [`server_patch`]) and in `sync::push` and
//! `csv_io` are thin adapters around it: they differ in where the change
//! comes from and how a refusal is answered, never in how it is stored.

use super::kind::{Pending, Row, SyncedKind};
use super::{ChangeSet, Materialize, Precondition, Staged, check_precondition, with_fields};
use crate::auth::AuthUser;
use crate::cache::DocCache;
use crate::config::Settings;
use crate::db::WriteTxn;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::insight;
use crate::state::AppState;
use crate::store::{DocMeta, Loaded, find, load, log};
use crate::with_kind;
use kam_sync_core::{ChangeMeta, RecordDoc, RecordKind};
use sea_orm::ConnectionTrait;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// Documents staged in one write transaction, stored together.
#[derive(Default)]
pub struct UnitOfWork {
    staged: Vec<Staged>,
    /// Each staged document's new version, once stored.
    versions: Vec<i64>,
}

impl UnitOfWork {
    /// Stages a document and what it gained.
    pub fn stage(&mut self, staged: Staged) {
        self.staged.push(staged);
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Logs what every staged document gained, re-materializes the rows of
    /// every kind staged, in [`RecordKind::ALL`] order, and refreshes the
    /// insight of the accounts they belong to.
    pub async fn store(
        &mut self,
        txn: &impl ConnectionTrait,
        settings: &Settings,
    ) -> ApiResult<()> {
        self.store_returning::<crate::records::accounts::Accounts>(txn, settings)
            .await
            .map(drop)
    }

    /// [`UnitOfWork::store`], returning the views of the records of kind
    /// `K`, in the order they were staged, with their accounts' fresh insight.
    pub async fn store_returning<K: SyncedKind>(
        &mut self,
        txn: &impl ConnectionTrait,
        settings: &Settings,
    ) -> ApiResult<Vec<K::View>> {
        if self.staged.is_empty() {
            return Ok(Vec::new());
        }
        let feeds_insight = self
            .staged
            .iter()
            .any(|staged| with_kind!(staged.doc.kind(), J => J::FEEDS_INSIGHT));
        // Read before the change log's head is locked, like `before_store`.
        let insight_settings = if feeds_insight {
            Some(insight::settings::current(txn).await?.settings)
        } else {
            None
        };
        let mut views = Vec::new();
        let mut touched = Vec::new();
        for kind in self.log(txn, settings).await? {
            if kind == <K::Record as kam_sync_core::Record>::KIND {
                views = self.materialize::<K>(txn, settings).await?;
                if K::FEEDS_INSIGHT {
                    touched.extend(views.iter().map(K::account_of_view));
                }
            } else {
                with_kind!(kind, J => {
                    let written = self.materialize::<J>(txn, settings).await?;
                    if J::FEEDS_INSIGHT {
                        touched.extend(written.iter().map(J::account_of_view));
                    }
                });
            }
        }
        let Some(insight_settings) = insight_settings else {
            return Ok(views);
        };
        let (fresh, _) = insight::refresh::accounts(
            txn,
            &insight_settings,
            &touched,
            insight::refresh::Locking::Wait,
            chrono::Utc::now(),
        )
        .await?;
        for view in &mut views {
            if let Some(insight) = fresh.get(&K::account_of_view(view)) {
                K::with_insight(view, insight);
            }
        }
        Ok(views)
    }

    /// Appends what every staged document gained to the change log and
    /// keeps the documents' rows current; returns the kinds staged, in
    /// [`RecordKind::ALL`] order.
    async fn log(
        &mut self,
        txn: &impl ConnectionTrait,
        settings: &Settings,
    ) -> ApiResult<Vec<RecordKind>> {
        if self.staged.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: Vec<RecordKind> = RecordKind::ALL
            .iter()
            .copied()
            .filter(|kind| self.staged.iter().any(|s| s.doc.kind() == *kind))
            .collect();
        // What materializing waits for is taken before the change-log
        // position, so the wait does not hold up every other writer.
        for kind in &kinds {
            with_kind!(*kind, J => J::before_store(txn, settings).await?);
        }
        // Saving a long history is the heaviest step of storing it.
        let mut staged = std::mem::take(&mut self.staged);
        if staged
            .iter()
            .any(|s| log::needs_snapshot(s.existing.as_ref(), s.changes.len()))
        {
            staged = crate::cpu::run(move || {
                for write in &mut staged {
                    write.make_snapshot();
                }
                staged
            })
            .await?;
        }
        self.staged = staged;
        self.versions = super::store_all(txn, &mut self.staged).await?;
        Ok(kinds)
    }

    /// Re-materializes the rows of the stored documents of kind `K`, with
    /// one look-up of their rows before.
    async fn materialize<K: SyncedKind>(
        &self,
        txn: &impl ConnectionTrait,
        settings: &Settings,
    ) -> ApiResult<Vec<K::View>> {
        let kind = <K::Record as kam_sync_core::Record>::KIND;
        let of_kind = || {
            self.staged
                .iter()
                .zip(&self.versions)
                .filter(move |(s, _)| s.doc.kind() == kind)
        };
        let existing: Vec<Uuid> = of_kind()
            .filter(|(s, _)| s.existing.is_some())
            .map(|(s, _)| s.id)
            .collect();
        let previous: HashMap<Uuid, Row<K>> = if existing.is_empty() {
            HashMap::new()
        } else {
            K::rows_by_id(txn, existing).await?
        };
        let items = of_kind()
            .map(|(staged, version)| {
                let meta = staged.meta().ok_or_else(|| {
                    ApiError::internal(anyhow::anyhow!("record {} staged no change", staged.id))
                })?;
                Ok(Materialize {
                    id: staged.id,
                    doc: &staged.doc,
                    version: *version,
                    meta,
                    previous: previous.get(&staged.id),
                })
            })
            .collect::<ApiResult<Vec<_>>>()?;
        K::materialize_all(txn, settings, &items).await
    }

    /// Commits, then keeps the stored documents in the cache (never before:
    /// a failed commit leaves the cache as it was).
    pub async fn commit(self, txn: WriteTxn<'_>, cache: &DocCache) -> ApiResult<()> {
        txn.commit().await?;
        for (staged, version) in self.staged.into_iter().zip(self.versions) {
            cache.put(staged.id, staged.doc.into_automerge(), version);
        }
        Ok(())
    }
}

/// What a REST write changes: the caller's merge patch, and the fields the
/// server records of the action itself (a tier decision's author, say).
pub struct Change {
    /// The merge patch, held to the kind's review.
    pub patch: Map<String, Value>,
    /// Fields the server sets with it, past the review.
    pub kept_by_server: Map<String, Value>,
}

impl From<Map<String, Value>> for Change {
    fn from(patch: Map<String, Value>) -> Self {
        Self {
            patch,
            kept_by_server: Map::new(),
        }
    }
}

/// Refuses a caller whose role may not write records of kind `K`.
pub fn require_writer<K: SyncedKind>(caller: &AuthUser) -> ApiResult<()> {
    if K::writable_by(caller.role) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ReadOnlyRole,
            format!(
                "the {} role may not change {} records",
                caller.role.as_str(),
                K::NAME
            ),
        ))
    }
}

/// Creates record `id` through the API: under an account the caller sees,
/// held to the kind's review (its first refusal answers), stored with a new
/// id only (409 `already_exists` otherwise).
pub async fn create<K: SyncedKind>(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    record: K::Record,
) -> ApiResult<K::View> {
    require_writer::<K>(caller)?;
    let conn = state.db.conn();
    let account = K::account_of(id, &record);
    if account != id {
        super::accounts::visible_row(conn, caller, account)
            .await
            .map_err(|_| {
                ApiError::invalid_field("account_id", "unknown_account", "no such account")
            })?;
    }
    let derived =
        crate::records::kind::review::<K>(conn, caller, id, None, &record, &Pending::default())
            .await?
            .into_result()?;
    let record = if derived.is_empty() {
        record
    } else {
        with_fields(&record, &derived)?
    };
    let meta = state.change_meta(caller);
    let mut doc = RecordDoc::create(&record, state.actor.clone(), &meta)?;
    let change = ChangeSet::since(&mut doc, &[], &meta)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a new document made no change")))?;
    let txn = state.db.begin_write().await?;
    if find(&txn, id, true).await?.is_some() {
        return Err(ApiError::new(
            ErrorCode::AlreadyExists,
            "a record with this id exists",
        ));
    }
    store_one::<K>(txn, state, id, None, doc, change).await
}

/// Changes record `id` through the API with the change `make` builds from
/// the record as it stands: as one Automerge change on the caller's behalf,
/// under the same rules as sync (the kind's review answers its first
/// refusal), after `If-Match` when given. A change that changes nothing
/// answers the record as it is.
pub async fn patch<K: SyncedKind>(
    state: &AppState,
    caller: &AuthUser,
    id: Uuid,
    precondition: Option<&Precondition>,
    make: impl FnOnce(&K::Record) -> ApiResult<Change>,
) -> ApiResult<K::View>
where
    K::View: DeserializeOwned,
{
    crate::telemetry::record_id(id);
    let txn = state.db.begin_write().await?;
    let Some(Loaded {
        row: doc_row,
        mut doc,
        heads,
    }) = load(&txn, &state.cache, id, true).await?
    else {
        return Err(ApiError::not_found(K::NAME));
    };
    let row = K::visible(&txn, caller, id).await?;
    require_writer::<K>(caller)?;
    let current: K::Record = doc.read()?;
    let Change {
        patch,
        kept_by_server,
    } = make(&current)?;
    doc.automerge_mut().set_actor(state.actor.clone());
    let meta = state.change_meta(caller);
    // A body that is no valid patch is refused before the precondition is.
    let merged = doc.merge_patch::<K::Record>(&patch, &meta)?;
    check_precondition(precondition, K::row_parts(&row).1)?;
    let Some((patched, _)) = merged else {
        state.cache.put(id, doc.into_automerge(), doc_row.last_seq);
        return K::view_of(&row);
    };
    let mut derived = crate::records::kind::review::<K>(
        &txn,
        caller,
        id,
        Some(&current),
        &patched,
        &Pending::default(),
    )
    .await?
    .into_result()?;
    derived.extend(kept_by_server);
    if !derived.is_empty() {
        doc.merge_patch::<K::Record>(&derived, &meta)?;
    }
    let change = ChangeSet::since(&mut doc, &heads, &meta)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a patch made no change")))?;
    store_one::<K>(txn, state, id, Some(doc_row), doc, change).await
}

/// A change the server makes to record `id` itself (no session wrote it):
/// `patch` merged as the server, logged like any other change, so devices
/// receive it. Whether it changed anything.
pub async fn server_patch<K: SyncedKind>(
    state: &AppState,
    id: Uuid,
    patch: &Map<String, Value>,
) -> ApiResult<bool> {
    let meta = ChangeMeta {
        user: None,
        device: "server".into(),
        time: chrono::Utc::now(),
    };
    let txn = state.db.begin_write().await?;
    let Some(Loaded {
        row: doc_row,
        mut doc,
        heads,
    }) = load(&txn, &state.cache, id, true).await?
    else {
        return Ok(false);
    };
    doc.automerge_mut().set_actor(state.actor.clone());
    if doc.merge_patch::<K::Record>(patch, &meta)?.is_none() {
        state.cache.put(id, doc.into_automerge(), doc_row.last_seq);
        return Ok(false);
    }
    let Some(change) = ChangeSet::since(&mut doc, &heads, &meta) else {
        return Ok(false);
    };
    store_one::<K>(txn, state, id, Some(doc_row), doc, change).await?;
    Ok(true)
}

/// Stores one record's change as a unit of work of its own, commits, and
/// returns the record's view.
async fn store_one<K: SyncedKind>(
    txn: WriteTxn<'_>,
    state: &AppState,
    id: Uuid,
    existing: Option<DocMeta>,
    doc: RecordDoc,
    change: ChangeSet,
) -> ApiResult<K::View> {
    let mut work = UnitOfWork::default();
    work.stage(Staged {
        id,
        existing,
        doc,
        changes: vec![change],
        snapshot: None,
    });
    let mut views = work.store_returning::<K>(&txn, &state.settings).await?;
    work.commit(txn, &state.cache).await?;
    views
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("{} {id} was not materialized", K::NAME)))
}
