//! Applying a device's pushed changes. Per document: merge the device's
//! Automerge changes, then hold the result to the same rules as a REST
//! write; what breaks them is undone by a compensating server change, which
//! the device receives like any other. Everything is checked before anything
//! is written, and a request is one transaction: a bad document fails the
//! whole request and changes nothing.

use crate::auth::AuthUser;
use crate::entities::{account, visit};
use crate::error::{ApiError, ApiResult};
use crate::records::{
    self, Chunk, DocMeta, DocWrite, Loaded, Materialize, Review, accounts, rows_by_id, visits,
};
use crate::startup::AppState;
use automerge::{AutoCommit, AutomergeError, ChangeHash, LoadOptions, OnPartialLoad};
use chrono::Utc;
use kam_sync_core::doc::decode_untrusted;
use kam_sync_core::protocol::{MISSING_DEPENDENCIES, Notice, PushDoc, PushResult, PushStatus};
use kam_sync_core::{
    Account, ChangeMeta, RecordDoc, RecordError, RecordKind, Violation, Visit, diff_patch,
    parse_record,
};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// Most documents one request may push.
pub const MAX_PUSH_DOCS: usize = 1_000;

/// Most changes one request may bring to one document (a long offline
/// stretch of typing stays far below; more is a runaway client).
pub const MAX_PUSH_CHANGES: usize = 20_000;

/// Checks that `bytes` are whole, well-formed Automerge changes or documents
/// (they may depend on changes the server has; that is checked on merge).
/// Returns the document they make when they need nothing else, so a new
/// document is parsed once.
pub fn check_bytes(id: Uuid, bytes: &[u8]) -> ApiResult<Option<AutoCommit>> {
    match decode_untrusted(|| {
        AutoCommit::load_with_options(
            bytes,
            LoadOptions::new().on_partial_load(OnPartialLoad::Error),
        )
    }) {
        Ok(doc) => Ok(Some(doc)),
        Err(AutomergeError::MissingDeps) => Ok(None),
        Err(err) => Err(ApiError::bad_request(
            "invalid_automerge",
            format!("document {id}: the changes are not valid Automerge bytes ({err})"),
        )),
    }
}

/// A pushed document, and what its bytes make on their own (`None` when
/// they depend on changes the server should have).
struct Incoming {
    push: PushDoc,
    whole: Option<AutoCommit>,
}

/// Applies every pushed document, in one transaction.
pub async fn apply(
    state: &AppState,
    caller: &AuthUser,
    pushes: Vec<PushDoc>,
) -> ApiResult<(Vec<PushResult>, Vec<Notice>)> {
    if pushes.len() > MAX_PUSH_DOCS {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_documents",
            format!("push at most {MAX_PUSH_DOCS} documents per request"),
        ));
    }
    let mut seen = HashSet::new();
    let mut incoming = Vec::with_capacity(pushes.len());
    for (index, push) in pushes.into_iter().enumerate() {
        if !seen.insert(push.id) {
            return Err(ApiError::invalid_field(
                &format!("push.{index}"),
                "duplicate_document",
                format!("document {} is pushed twice", push.id),
            ));
        }
        let whole = check_bytes(push.id, &push.changes.0)?;
        incoming.push(Incoming { push, whole });
    }
    if incoming.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let _guard = state.db.write_guard().await;
    let txn = state.db.conn().begin().await?;
    let ids: Vec<Uuid> = incoming.iter().map(|i| i.push.id).collect();
    let mut loaded = records::load_many(&txn, &state.cache, &ids, true).await?;
    let mut visibility = Visibility::of_existing(&txn, caller, loaded.values()).await?;
    // Accounts first: a visit made offline under a new account needs the
    // account in place to be in scope, whatever order the device sent them in.
    let mut order: Vec<usize> = (0..incoming.len()).collect();
    order.sort_by_key(|&index| (incoming[index].push.kind != RecordKind::Account, index));
    let mut pending: Vec<Option<Incoming>> = incoming.into_iter().map(Some).collect();
    let mut results: Vec<Option<PushResult>> = vec![None; pending.len()];
    let mut notices = Vec::new();
    let mut writes = Vec::new();
    for index in order {
        let Some(incoming) = pending[index].take() else {
            continue;
        };
        let existing = loaded.remove(&incoming.push.id);
        let mut outcome = apply_one(
            &txn,
            state,
            caller,
            incoming,
            existing,
            index,
            &mut visibility,
        )
        .await?;
        results[index] = Some(outcome.result);
        notices.append(&mut outcome.notices);
        if let Some(write) = outcome.write {
            if write.doc.kind() == RecordKind::Account {
                visibility.pushed_account(write.id);
            }
            writes.push(write);
        }
    }
    // Everything is merged and checked before anything is written: the feed
    // lock (taken by the first write) is held only for the writes.
    let versions = store_writes(&txn, state, caller, &mut writes).await?;
    txn.commit().await?;
    for (write, version) in writes.into_iter().zip(versions) {
        state
            .cache
            .put(write.id, write.doc.into_automerge(), version);
    }
    Ok((results.into_iter().flatten().collect(), notices))
}

fn notice(id: Uuid, code: &str, field: Option<&str>, message: impl Into<String>) -> Notice {
    Notice {
        id,
        code: code.to_owned(),
        field: field.map(str::to_owned),
        message: message.into(),
    }
}

/// What pushing one document came to, and what it writes.
struct Outcome {
    result: PushResult,
    notices: Vec<Notice>,
    write: Option<Write>,
}

/// A merged document waiting to be stored: the device's changes, then the
/// server's compensation, if any.
struct Write {
    id: Uuid,
    existing: Option<DocMeta>,
    doc: RecordDoc,
    device: (Vec<u8>, ChangeMeta),
    server: Option<(Vec<u8>, ChangeMeta)>,
}

fn refused(id: Uuid, heads: Vec<String>, notices: Vec<Notice>) -> Outcome {
    Outcome {
        result: PushResult {
            id,
            status: PushStatus::Refused,
            heads,
        },
        notices,
        write: None,
    }
}

fn hex_heads(heads: &[ChangeHash]) -> Vec<String> {
    heads.iter().map(ToString::to_string).collect()
}

fn validate(kind: RecordKind, value: Value) -> Result<(), RecordError> {
    match kind {
        RecordKind::Account => parse_record::<Account>(value).map(drop),
        RecordKind::Visit => parse_record::<Visit>(value).map(drop),
    }
}

async fn review(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    kind: RecordKind,
    old: Option<&Value>,
    new: &Value,
) -> ApiResult<Review> {
    match kind {
        RecordKind::Account => {
            let old: Option<Account> = old.map(|o| parse_record(o.clone())).transpose()?;
            let new: Account = parse_record(new.clone())?;
            accounts::review(conn, caller, old.as_ref(), &new).await
        }
        RecordKind::Visit => {
            let old: Option<Visit> = old.map(|o| parse_record(o.clone())).transpose()?;
            let new: Visit = parse_record(new.clone())?;
            visits::review(conn, caller, old.as_ref(), &new).await
        }
    }
}

fn merge_patch(
    doc: &mut RecordDoc,
    patch: &Map<String, Value>,
    meta: &ChangeMeta,
) -> Result<(), RecordError> {
    match doc.kind() {
        RecordKind::Account => doc.merge_patch::<Account>(patch, meta).map(drop),
        RecordKind::Visit => doc.merge_patch::<Visit>(patch, meta).map(drop),
    }
}

/// Keeps the device's value of each changed top-level field where the
/// record stays valid, and the previous value where it would not; returns
/// the resulting record and what was kept back.
fn keep_valid_fields(
    kind: RecordKind,
    id: Uuid,
    old: &Value,
    merged: &Value,
) -> (Value, Vec<Notice>) {
    let (Some(old), Some(merged)) = (old.as_object(), merged.as_object()) else {
        return (old.clone(), Vec::new());
    };
    let mut candidate = old.clone();
    let mut notices = Vec::new();
    let keys: Vec<&String> = old
        .keys()
        .chain(merged.keys().filter(|k| !old.contains_key(*k)))
        .collect();
    for key in keys {
        if old.get(key) == merged.get(key) {
            continue;
        }
        let mut trial = candidate.clone();
        match merged.get(key) {
            Some(value) => trial.insert(key.clone(), value.clone()),
            None => trial.remove(key),
        };
        match validate(kind, Value::Object(trial.clone())) {
            Ok(()) => candidate = trial,
            Err(RecordError::Invalid(violations)) => {
                let first = violations
                    .first()
                    .cloned()
                    .unwrap_or_else(|| Violation::new(key.as_str(), "invalid_value", "invalid"));
                notices.push(notice(
                    id,
                    &first.code,
                    Some(key),
                    format!(
                        "{}: {}; the previous value was restored",
                        first.field, first.message
                    ),
                ));
            }
            Err(RecordError::Automerge(err)) => {
                notices.push(notice(id, "invalid_value", Some(key), err.to_string()));
            }
        }
    }
    (Value::Object(candidate), notices)
}

/// Whether a change set brings a second root (a change with no
/// dependencies) into a document: the bytes belong to another document.
pub fn foreign_roots(doc: &mut RecordDoc, since: &[ChangeHash], existed: bool) -> bool {
    let changes = doc.automerge_mut().get_changes(since);
    let roots = changes.iter().filter(|c| c.deps().is_empty()).count();
    if existed { roots > 0 } else { roots != 1 }
}

/// Which accounts the caller may see, asked once per account: the accounts
/// of the documents that exist are looked up together before merging, an
/// account a new visit names is looked up when met, and an account the
/// request itself creates counts as seen (a visit made offline under a new
/// account comes in the same push).
struct Visibility {
    known: HashMap<Uuid, bool>,
}

impl Visibility {
    async fn of_existing<'a>(
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        loaded: impl Iterator<Item = &'a Loaded>,
    ) -> ApiResult<Self> {
        let accounts: Vec<Uuid> = loaded.map(|l| l.row.account_id).collect();
        let visible = accounts::visible_among(conn, caller, &accounts).await?;
        Ok(Self {
            known: accounts
                .into_iter()
                .map(|id| (id, visible.contains(&id)))
                .collect(),
        })
    }

    fn pushed_account(&mut self, id: Uuid) {
        self.known.insert(id, true);
    }

    async fn account(
        &mut self,
        conn: &impl ConnectionTrait,
        caller: &AuthUser,
        account_id: Uuid,
    ) -> ApiResult<bool> {
        if let Some(known) = self.known.get(&account_id) {
            return Ok(*known);
        }
        let visible = accounts::visible_among(conn, caller, &[account_id])
            .await?
            .contains(&account_id);
        self.known.insert(account_id, visible);
        Ok(visible)
    }
}

async fn apply_one(
    conn: &impl ConnectionTrait,
    state: &AppState,
    caller: &AuthUser,
    incoming: Incoming,
    existing: Option<Loaded>,
    index: usize,
    visibility: &mut Visibility,
) -> ApiResult<Outcome> {
    let Incoming { mut push, whole } = incoming;
    let field = format!("push.{index}");
    let id = push.id;
    let existed = existing.is_some();
    let stored_account = existing.as_ref().map(|l| l.row.account_id);
    let (row, mut doc, heads_before, merged) = match (existing, whole) {
        (Some(Loaded { row, doc, heads }), _) => (Some(row), doc, heads, false),
        (None, Some(whole)) => (
            None,
            RecordDoc::from_automerge(push.kind, whole),
            Vec::new(),
            true,
        ),
        (None, None) => (
            None,
            RecordDoc::from_automerge(push.kind, AutoCommit::new()),
            Vec::new(),
            false,
        ),
    };
    // Scope first: a record out of sight tells nothing more, not its kind
    // (kind_mismatch) nor its heads (read_only_role).
    if let Some(account_id) = stored_account
        && !visibility.account(conn, caller, account_id).await?
    {
        return Ok(refused(
            id,
            Vec::new(),
            vec![notice(
                id,
                "out_of_scope",
                None,
                "this record is not in your scope",
            )],
        ));
    }
    if doc.kind() != push.kind {
        return Err(ApiError::invalid_field(
            &field,
            "kind_mismatch",
            format!(
                "document {id} is a {}, not a {}",
                doc.kind().as_str(),
                push.kind.as_str()
            ),
        ));
    }
    let before = hex_heads(&heads_before);
    if caller.role == crate::auth::Role::Service {
        return Ok(refused(
            id,
            before,
            vec![notice(
                id,
                "read_only_role",
                None,
                "the service role reads accounts and visits",
            )],
        ));
    }
    let old_json = existed.then(|| doc.to_json());
    doc.automerge_mut().set_actor(state.actor.clone());
    if !merged {
        decode_untrusted(|| doc.automerge_mut().load_incremental(&push.changes.0)).map_err(
            |err| ApiError::bad_request("invalid_automerge", format!("document {id}: {err}")),
        )?;
    }
    if !doc.automerge_mut().get_missing_deps(&[]).is_empty() {
        if !existed {
            return Err(ApiError::invalid_field(
                &field,
                "unknown_document",
                format!("document {id} is unknown here and the changes are not a whole document"),
            ));
        }
        return Ok(refused(
            id,
            before,
            vec![notice(
                id,
                MISSING_DEPENDENCIES,
                None,
                "the changes depend on changes the server does not have; push the whole document",
            )],
        ));
    }
    let new_changes = doc.automerge_mut().get_changes(&heads_before).len();
    if new_changes > MAX_PUSH_CHANGES {
        return Err(ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_changes",
            format!(
                "document {id} brings {new_changes} changes; push at most {MAX_PUSH_CHANGES} per document per request"
            ),
        ));
    }
    if foreign_roots(&mut doc, &heads_before, existed) {
        return Err(ApiError::invalid_field(
            &field,
            "foreign_document",
            format!("the changes pushed for document {id} belong to another document"),
        ));
    }
    let heads_merged = doc.automerge_mut().get_heads();
    if heads_merged == heads_before {
        // Nothing new (a retried request): the document is as committed, so
        // it goes back into the cache it was taken from.
        if let Some(row) = &row {
            state.cache.put(id, doc.into_automerge(), row.last_seq);
        }
        return Ok(Outcome {
            result: PushResult {
                id,
                status: PushStatus::Unchanged,
                heads: before,
            },
            notices: Vec::new(),
            write: None,
        });
    }
    let merged = doc.to_json();
    let account_id = match push.kind.account_of(id, &merged) {
        Some(account_id) => account_id,
        None if existed => id,
        None => {
            return Ok(refused(
                id,
                Vec::new(),
                vec![notice(
                    id,
                    "invalid_record",
                    Some("account_id"),
                    "a new record must name its account",
                )],
            ));
        }
    };
    let new_visit = !existed && push.kind == RecordKind::Visit;
    if new_visit && !visibility.account(conn, caller, account_id).await? {
        return Ok(refused(
            id,
            Vec::new(),
            vec![notice(
                id,
                "out_of_scope",
                Some("account_id"),
                "the account is not in your scope",
            )],
        ));
    }
    let (kept, mut notices) = match &old_json {
        Some(old) => keep_valid_fields(push.kind, id, old, &merged),
        None => match validate(push.kind, merged.clone()) {
            Ok(()) => (merged.clone(), Vec::new()),
            Err(RecordError::Invalid(violations)) => {
                let notices = violations
                    .into_iter()
                    .map(|v| {
                        notice(
                            id,
                            "invalid_record",
                            Some(&v.field),
                            format!("{}: {}", v.field, v.message),
                        )
                    })
                    .collect();
                return Ok(refused(id, Vec::new(), notices));
            }
            Err(err) => return Err(ApiError::internal(err)),
        },
    };
    let verdict = review(conn, caller, push.kind, old_json.as_ref(), &kept).await?;
    for refusal in &verdict.refusals {
        notices.push(notice(
            id,
            refusal.error.specific_code(),
            Some(refusal.field),
            format!("{}; the server undid it", refusal.error.detail()),
        ));
    }
    let target = records::with_json_fields(&kept, &verdict.correction());
    // Undoing a refusal must itself pass review (a new account whose owner
    // falls back to the caller, say); derived fields come from the server.
    let final_review = if verdict.refusals.is_empty() {
        Review::default()
    } else {
        review(conn, caller, push.kind, old_json.as_ref(), &target).await?
    };
    if !final_review.refusals.is_empty() {
        let notices = final_review
            .refusals
            .iter()
            .map(|r| {
                notice(
                    id,
                    r.error.specific_code(),
                    Some(r.field),
                    r.error.detail().to_owned(),
                )
            })
            .collect();
        return Ok(refused(id, before, notices));
    }
    let device_meta = ChangeMeta {
        user: Some(caller.id),
        device: caller.device_id.clone(),
        time: Utc::now(),
    };
    let server_meta = ChangeMeta {
        user: None,
        device: "server".into(),
        time: Utc::now(),
    };
    // The device's bytes are logged as they came: they hold the changes new
    // here (heads moved), and re-encoding them would cost as much as
    // merging did.
    let device_bytes = std::mem::take(&mut push.changes.0);
    let (Some(current), Some(target)) = (merged.as_object(), target.as_object()) else {
        return Err(ApiError::internal(anyhow::anyhow!("records are objects")));
    };
    let correction = diff_patch(current, target);
    let mut server = None;
    if !correction.is_empty() {
        merge_patch(&mut doc, &correction, &server_meta)?;
        let after = doc.automerge_mut().get_heads();
        if after != heads_merged {
            server = Some((doc.automerge_mut().save_after(&heads_merged), server_meta));
        }
    }
    let status = if server.is_some() {
        PushStatus::Corrected
    } else {
        PushStatus::Applied
    };
    let heads = hex_heads(&doc.automerge_mut().get_heads());
    Ok(Outcome {
        result: PushResult { id, status, heads },
        notices,
        write: Some(Write {
            id,
            existing: row,
            doc,
            device: (device_bytes, device_meta),
            server,
        }),
    })
}

/// Stores the merged documents and re-materializes their rows, with one
/// look-up per kind of the rows before; returns each document's new version.
async fn store_writes(
    conn: &impl ConnectionTrait,
    state: &AppState,
    caller: &AuthUser,
    writes: &mut [Write],
) -> ApiResult<Vec<i64>> {
    let doc_writes = writes
        .iter_mut()
        .map(|write| {
            let Write {
                id,
                existing,
                doc,
                device,
                server,
            } = write;
            let mut chunks = vec![Chunk {
                bytes: std::mem::take(&mut device.0),
                meta: &device.1,
                origin: Some(caller.session_id),
            }];
            if let Some((bytes, meta)) = server {
                chunks.push(Chunk {
                    bytes: std::mem::take(bytes),
                    meta,
                    origin: None,
                });
            }
            DocWrite {
                id: *id,
                existing: existing.as_ref(),
                doc,
                chunks,
            }
        })
        .collect();
    let versions = records::store_all(conn, doc_writes).await?;
    let ids_of = |kind: RecordKind| -> Vec<Uuid> {
        writes
            .iter()
            .filter(|w| w.doc.kind() == kind)
            .map(|w| w.id)
            .collect()
    };
    let previous = rows_by_id::<account::Entity>(
        conn,
        account::Column::Id,
        ids_of(RecordKind::Account),
        |r| r.id,
    )
    .await?;
    let items = materialize_items(writes, &versions, RecordKind::Account, &previous);
    accounts::materialize_all(conn, &items).await?;
    let previous =
        rows_by_id::<visit::Entity>(conn, visit::Column::Id, ids_of(RecordKind::Visit), |r| r.id)
            .await?;
    let items = materialize_items(writes, &versions, RecordKind::Visit, &previous);
    visits::materialize_all(conn, &items, state.settings.visits.check_in_max_distance_m).await?;
    Ok(versions)
}

/// What to materialize of the stored writes of one kind, with their rows before.
fn materialize_items<'a, Row>(
    writes: &'a [Write],
    versions: &[i64],
    kind: RecordKind,
    previous: &'a HashMap<Uuid, Row>,
) -> Vec<Materialize<'a, Row>> {
    writes
        .iter()
        .zip(versions)
        .filter(|(write, _)| write.doc.kind() == kind)
        .map(|(write, version)| Materialize {
            id: write.id,
            doc: &write.doc,
            version: *version,
            meta: &write.device.1,
            previous: previous.get(&write.id),
        })
        .collect()
}
