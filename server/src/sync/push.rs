//! Applying a device's pushed changes. Per document: merge the device's
//! Automerge changes, then hold the result to the same rules as a REST
//! write; what breaks them is undone by a compensating server change, which
//! the device receives like any other. Everything is checked before anything
//! is written, and a request is one transaction: a bad document fails the
//! whole request and changes nothing.

use crate::auth::AuthUser;
use crate::db::WriteTxn;
use crate::entities::corrected_push;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::kind::{Pending, SyncedKind};
use crate::records::timeline::EntryBody;
use crate::records::write::UnitOfWork;
use crate::records::{self, ChangeSet, Review, Staged, accounts};
use crate::state::AppState;
use crate::store::{self, DocMeta, Loaded};
use crate::with_kind;
use automerge::{AutoCommit, ChangeHash};
use chrono::Utc;
use kam_sync_core::inflation::DecodeBudget;
use kam_sync_core::merge::{
    MAX_PUSH_DOCS, MergeStep, Merged, check_bytes, keep_valid_fields, merge_pushed, notice,
    validate,
};
use kam_sync_core::protocol::{ACCOUNT_REFUSED, Notice, PushDoc, PushResult, PushStatus};
use kam_sync_core::{ChangeMeta, RecordDoc, RecordError, RecordKind, diff_patch, parse_record};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A pushed document, and what its bytes make on their own (`None` when
/// they depend on changes the server should have).
struct Incoming {
    push: PushDoc,
    whole: Option<AutoCommit>,
}

/// Applies every pushed document, in one transaction: merged and checked
/// first, then stored together holding the writer turn only to store.
pub async fn apply(
    state: &AppState,
    caller: &AuthUser,
    pushes: Vec<PushDoc>,
) -> ApiResult<(Vec<PushResult>, Vec<Notice>)> {
    if pushes.len() > MAX_PUSH_DOCS {
        return Err(ApiError::new(
            ErrorCode::TooManyDocuments,
            format!("push at most {MAX_PUSH_DOCS} documents per request"),
        ));
    }
    let mut seen = HashSet::new();
    for (index, push) in pushes.iter().enumerate() {
        if !seen.insert(push.id) {
            return Err(ApiError::invalid_field(
                &format!("push.{index}"),
                "duplicate_document",
                format!("document {} is pushed twice", push.id),
            ));
        }
    }
    if pushes.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    // Merged and reviewed while other writers go on; stored only if none of
    // the documents changed meanwhile (else merged again holding the turn).
    let optimistic = parse(pushes.clone()).await?;
    let prepared = prepare(state.db.conn(), state, caller, optimistic, false).await?;
    let txn = state.db.begin_write().await?;
    if prepared.still_current(&txn).await? {
        return prepared.finish(txn, state).await;
    }
    let prepared = prepare(&txn, state, caller, parse(pushes).await?, true).await?;
    prepared.finish(txn, state).await
}

/// Checks the pushed bytes and parses whole documents, on the CPU pool:
/// parsing is the heaviest step of a first sync.
async fn parse(pushes: Vec<PushDoc>) -> ApiResult<Vec<Incoming>> {
    crate::cpu::run(move || {
        let mut budget = DecodeBudget::default();
        pushes
            .into_iter()
            .map(|push| {
                let whole = check_bytes(push.id, &push.changes.0, &mut budget)?;
                Ok(Incoming { push, whole })
            })
            .collect::<ApiResult<Vec<_>>>()
    })
    .await?
}

/// A push merged and checked, ready to store.
struct Prepared {
    results: Vec<PushResult>,
    notices: Vec<Notice>,
    work: UnitOfWork,
    corrected: Vec<corrected_push::ActiveModel>,
    /// The pushed ids, and the versions of those that existed when loaded.
    ids: Vec<Uuid>,
    versions: HashMap<Uuid, i64>,
    /// Changes new to the documents written (for the metrics).
    new_changes: usize,
}

impl Prepared {
    /// Whether the pushed documents are still as they were merged from
    /// (no other writer stored one, nor made one of the new ones); locks
    /// their rows on PostgreSQL.
    async fn still_current(&self, txn: &impl ConnectionTrait) -> ApiResult<bool> {
        let now = store::find_many(txn, &self.ids, true).await?;
        Ok(now.len() == self.versions.len()
            && now
                .iter()
                .all(|row| self.versions.get(&row.id) == Some(&row.last_seq)))
    }

    /// Stores what the push changed, and commits.
    async fn finish(
        self,
        txn: WriteTxn<'_>,
        state: &AppState,
    ) -> ApiResult<(Vec<PushResult>, Vec<Notice>)> {
        let Self {
            results,
            notices,
            mut work,
            corrected,
            new_changes,
            ..
        } = self;
        // The change log's head lock (taken by the first write) is held only for the writes.
        work.store(&txn, &state.settings).await?;
        remember_corrected(&txn, corrected).await?;
        work.commit(txn, &state.cache).await?;
        count_committed(&results, &notices, new_changes);
        Ok((results, notices))
    }
}

/// Counts a committed push in the metrics: its documents by status, the
/// changes new to the server, and the notices of corrected and refused
/// documents by code.
fn count_committed(results: &[PushResult], notices: &[Notice], new_changes: usize) {
    if !crate::metrics::installed() {
        return;
    }
    let mut statuses = HashMap::with_capacity(results.len());
    for result in results {
        crate::metrics::pushed_document(push_status_name(result.status));
        statuses.insert(result.id, result.status);
    }
    crate::metrics::pushed_changes(u64::try_from(new_changes).unwrap_or(u64::MAX));
    for notice in notices {
        let status = match statuses.get(&notice.id) {
            Some(PushStatus::Refused) => "refused",
            _ => "corrected",
        };
        crate::metrics::sync_notice(&notice.code, status);
    }
}

/// A push status as the protocol spells it.
fn push_status_name(status: PushStatus) -> &'static str {
    match status {
        PushStatus::Applied => "applied",
        PushStatus::Corrected => "corrected",
        PushStatus::Unchanged => "unchanged",
        PushStatus::Refused => "refused",
    }
}

/// Merges and checks every pushed document on `conn` (with `lock`, holding
/// their rows as [`store::load_many`] does); writes nothing.
async fn prepare(
    conn: &impl ConnectionTrait,
    state: &AppState,
    caller: &AuthUser,
    incoming: Vec<Incoming>,
    lock: bool,
) -> ApiResult<Prepared> {
    let ids: Vec<Uuid> = incoming.iter().map(|i| i.push.id).collect();
    let mut loaded = store::load_many(conn, &state.cache, &ids, lock).await?;
    let versions = loaded
        .iter()
        .map(|(id, doc)| (*id, doc.row.last_seq))
        .collect();
    let mut earlier = Earlier {
        visibility: Visibility::of_existing(conn, caller, loaded.values()).await?,
        pending: Pending::default(),
    };
    // Kinds in RecordKind::ALL order, parents first: a visit made offline
    // under a new account needs the account in place to be in scope, and a
    // ticket's review may read a callback pushed with it, whatever order the
    // device sent them in.
    let rank = |kind: RecordKind| RecordKind::ALL.iter().position(|k| *k == kind);
    let mut order: Vec<usize> = (0..incoming.len()).collect();
    order.sort_by_key(|&index| (rank(incoming[index].push.kind), index));

    let mut pending: Vec<Option<Incoming>> = incoming.into_iter().map(Some).collect();
    let mut results: Vec<Option<PushResult>> = vec![None; pending.len()];
    let mut notices = Vec::new();
    let mut work = UnitOfWork::default();
    let mut corrected = Vec::new();
    let mut new_changes = 0;
    for index in order {
        let Some(incoming) = pending[index].take() else {
            continue;
        };
        let existing = loaded.remove(&incoming.push.id);
        let new_account = incoming.push.kind == RecordKind::Account && existing.is_none();
        let mut outcome =
            apply_one(conn, state, caller, incoming, existing, index, &mut earlier).await?;
        if new_account && outcome.result.status == PushStatus::Refused {
            earlier.visibility.refused_new_account(outcome.result.id);
        }
        if outcome.result.status == PushStatus::Corrected
            && let Some(digest) = outcome.digest.take()
        {
            corrected.push(corrected_row(
                caller,
                outcome.result.id,
                digest,
                &outcome.notices,
            )?);
        }
        results[index] = Some(outcome.result);
        notices.append(&mut outcome.notices);
        if let Some(write) = outcome.write {
            new_changes += outcome.new_changes;
            let kind = write.doc.kind();
            if kind == RecordKind::Account {
                earlier.visibility.pushed_account(write.id);
            }
            if with_kind!(kind, K => K::READ_BY_LATER_REVIEWS) {
                earlier.pending.add(kind, write.id, write.doc.to_json());
            }
            work.stage(write);
        }
    }
    Ok(Prepared {
        results: results.into_iter().flatten().collect(),
        notices,
        work,
        corrected,
        ids,
        versions,
        new_changes,
    })
}

/// What a corrected push answered, kept to answer its repeat the same way.
fn corrected_row(
    caller: &AuthUser,
    id: Uuid,
    digest: String,
    notices: &[Notice],
) -> ApiResult<corrected_push::ActiveModel> {
    Ok(corrected_push::ActiveModel {
        doc_id: Set(id),
        user_id: Set(caller.id.0),
        digest: Set(digest),
        notices: Set(serde_json::to_value(notices).map_err(ApiError::internal)?),
        created_at: Set(Utc::now()),
    })
}

/// Keeps each user's last corrected push to each document (one row per
/// document and user: only the latest push can still be repeated).
async fn remember_corrected(
    conn: &impl ConnectionTrait,
    rows: Vec<corrected_push::ActiveModel>,
) -> ApiResult<()> {
    let replace = OnConflict::columns([
        corrected_push::Column::DocId,
        corrected_push::Column::UserId,
    ])
    .update_columns([
        corrected_push::Column::Digest,
        corrected_push::Column::Notices,
        corrected_push::Column::CreatedAt,
    ])
    .to_owned();
    Ok(crate::db::upsert_each(conn, rows, replace).await?)
}

/// The notices of the corrected push that `digest` repeats, if it does: a
/// device whose response was lost learns why its changes were undone.
async fn repeated_correction(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
    digest: &str,
) -> ApiResult<Option<Vec<Notice>>> {
    let Some(row) = corrected_push::Entity::find_by_id((id, caller.id.0))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    if row.digest != digest {
        return Ok(None);
    }
    Ok(Some(
        serde_json::from_value(row.notices).map_err(ApiError::internal)?,
    ))
}

/// What pushing one document came to, and what it writes.
struct Outcome {
    result: PushResult,
    notices: Vec<Notice>,
    write: Option<Staged>,
    /// SHA-256 (hex) of the pushed bytes, once they were merged.
    digest: Option<String>,
    /// How many pushed changes were new to the document (for the metrics).
    new_changes: usize,
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
        digest: None,
        new_changes: 0,
    }
}

fn hex_heads(heads: &[ChangeHash]) -> Vec<String> {
    heads.iter().map(ToString::to_string).collect()
}

async fn review(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    kind: RecordKind,
    id: Uuid,
    old: Option<&Value>,
    new: &Value,
    pending: &Pending,
) -> ApiResult<Review> {
    with_kind!(kind, K => review_as::<K>(conn, caller, id, old, new, pending).await)
}

async fn review_as<K: SyncedKind>(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    id: Uuid,
    old: Option<&Value>,
    new: &Value,
    pending: &Pending,
) -> ApiResult<Review> {
    let old: Option<K::Record> = old.map(|o| parse_record(o.clone())).transpose()?;
    let new: K::Record = parse_record(new.clone())?;
    crate::records::kind::review::<K>(conn, caller, id, old.as_ref(), &new, pending).await
}

/// What the documents applied earlier in a request tell the later ones.
struct Earlier {
    visibility: Visibility,
    pending: Pending,
}

/// Which accounts the caller may see, asked once per account: the accounts
/// of the documents that exist are looked up together before merging, an
/// account a new visit names is looked up when met, and an account the
/// request itself creates counts as seen (a visit made offline under a new
/// account comes in the same push). A new account the request pushed and
/// the server refused is remembered too: the records made under it are
/// refused for that reason, not as out of scope. (An existing account out
/// of scope stays `out_of_scope` for everything under it.)
struct Visibility {
    known: HashMap<Uuid, bool>,
    refused: HashSet<Uuid>,
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
            refused: HashSet::new(),
        })
    }

    fn pushed_account(&mut self, id: Uuid) {
        self.known.insert(id, true);
    }

    fn refused_new_account(&mut self, id: Uuid) {
        self.refused.insert(id);
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

/// One pushed document through its steps: [`gate`] (scope, kind and role,
/// before any work), [`merge`] (the device's changes, on the CPU pool),
/// [`answer_unchanged`] or on to [`place`] (the account it is under, and
/// that account's scope), [`checked_fields`] (the record's own rules),
/// [`reviewed`] (the kind's review, refusals undone) and [`staged`] (the
/// device's change and the server's correction, ready to store).
async fn apply_one(
    conn: &impl ConnectionTrait,
    state: &AppState,
    caller: &AuthUser,
    incoming: Incoming,
    existing: Option<Loaded>,
    index: usize,
    earlier: &mut Earlier,
) -> ApiResult<Outcome> {
    let Incoming { mut push, whole } = incoming;
    let id = push.id;
    let subject = Subject {
        caller,
        kind: push.kind,
        id,
    };
    let start = Start::of(push.kind, existing, whole);
    if let Some(refusal) = gate(conn, caller, &push, &start, &mut earlier.visibility, index).await?
    {
        return Ok(refusal);
    }
    let before = hex_heads(&start.heads);
    let row = start.row.clone();
    let (step, digest) = merge(&mut push, start).await?;
    let MergeStep {
        mut doc,
        old_json,
        device_bytes,
        outcome,
    } = step;
    doc.automerge_mut().set_actor(state.actor.clone());
    let (changed, new_changes) = match outcome {
        Merged::Refused(notices) => return Ok(refused(id, before, notices)),
        Merged::UnknownDocument => {
            return Err(ApiError::invalid_field(
                &format!("push.{index}"),
                "unknown_document",
                format!("document {id} is unknown here and the changes are not a whole document"),
            ));
        }
        Merged::ForeignDocument => {
            return Err(ApiError::invalid_field(
                &format!("push.{index}"),
                "foreign_document",
                format!("the changes pushed for document {id} belong to another document"),
            ));
        }
        Merged::Unchanged => {
            return answer_unchanged(conn, state, subject, row.as_ref(), doc, before, &digest)
                .await;
        }
        Merged::Changed {
            merged,
            heads,
            device_time,
            new_changes,
        } => (
            Changed {
                merged,
                heads,
                device_time,
            },
            new_changes,
        ),
    };
    let existed = row.is_some();
    if let Some(refusal) = place(
        conn,
        subject,
        existed,
        &changed.merged,
        &mut earlier.visibility,
    )
    .await?
    {
        return Ok(refusal);
    }
    let (kept, mut notices) =
        match checked_fields(push.kind, id, old_json.as_ref(), &changed.merged)? {
            Ok(checked) => checked,
            Err(refusal) => return Ok(refusal),
        };
    let target = match reviewed(
        conn,
        subject,
        old_json.as_ref(),
        kept,
        &earlier.pending,
        &mut notices,
        &before,
    )
    .await?
    {
        Ok(target) => target,
        Err(refusal) => return Ok(refusal),
    };
    let (mut write, status) = staged(
        subject,
        row,
        doc,
        old_json.as_ref(),
        changed,
        device_bytes,
        target,
    )?;
    let heads = hex_heads(&write.doc.automerge_mut().get_heads());
    Ok(Outcome {
        result: PushResult { id, status, heads },
        notices,
        digest: Some(digest),
        write: Some(write),
        new_changes,
    })
}

/// The pushed document a step works on, and who pushed it.
#[derive(Clone, Copy)]
struct Subject<'a> {
    caller: &'a AuthUser,
    kind: RecordKind,
    id: Uuid,
}

/// Where merging a pushed document starts: its stored row and document
/// (with the heads it had), the document its bytes make when it is new and
/// whole, or an empty one.
struct Start {
    row: Option<DocMeta>,
    doc: RecordDoc,
    heads: Vec<ChangeHash>,
    /// The document was made from the pushed bytes (they were whole).
    from_bytes: bool,
}

impl Start {
    fn of(kind: RecordKind, existing: Option<Loaded>, whole: Option<AutoCommit>) -> Self {
        match (existing, whole) {
            (Some(Loaded { row, doc, heads }), _) => Self {
                row: Some(row),
                doc,
                heads,
                from_bytes: false,
            },
            (None, Some(whole)) => Self {
                row: None,
                doc: RecordDoc::from_automerge(kind, whole),
                heads: Vec::new(),
                from_bytes: true,
            },
            (None, None) => Self {
                row: None,
                doc: RecordDoc::from_automerge(kind, AutoCommit::new()),
                heads: Vec::new(),
                from_bytes: false,
            },
        }
    }
}

/// The checks before any merging: a stored record out of the caller's scope
/// (which then tells nothing more, not its kind nor its heads), a document
/// of another kind than pushed, a role that may not write the kind.
async fn gate(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    push: &PushDoc,
    start: &Start,
    visibility: &mut Visibility,
    index: usize,
) -> ApiResult<Option<Outcome>> {
    let id = push.id;
    if let Some(row) = &start.row
        && !visibility.account(conn, caller, row.account_id).await?
    {
        return Ok(Some(refused(
            id,
            Vec::new(),
            vec![notice(
                id,
                "out_of_scope",
                None,
                "this record is not in your scope",
            )],
        )));
    }
    if start.doc.kind() != push.kind {
        return Err(ApiError::invalid_field(
            &format!("push.{index}"),
            "kind_mismatch",
            format!(
                "document {id} is a {}, not a {}",
                start.doc.kind().as_str(),
                push.kind.as_str()
            ),
        ));
    }
    if !with_kind!(push.kind, K => K::writable_by(caller.role)) {
        return Ok(Some(refused(
            id,
            hex_heads(&start.heads),
            vec![notice(
                id,
                "read_only_role",
                None,
                format!(
                    "the {} role may not change {} records",
                    caller.role.as_str(),
                    push.kind.as_str()
                ),
            )],
        )));
    }
    Ok(None)
}

/// Merges the pushed bytes into the document on the CPU pool; also the
/// bytes' SHA-256 (hex), by which a repeated request finds what the first
/// one was answered.
async fn merge(push: &mut PushDoc, start: Start) -> ApiResult<(MergeStep, String)> {
    let changes = std::mem::take(&mut push.changes.0);
    let id = push.id;
    let existed = start.row.is_some();
    Ok(crate::cpu::run(move || {
        let digest = hex::encode(Sha256::digest(&changes));
        merge_pushed(
            start.doc,
            changes,
            start.heads,
            existed,
            start.from_bytes,
            id,
        )
        .map(|step| (step, digest))
    })
    .await??)
}

/// What a merge that changed the document came to.
struct Changed {
    /// The record as merged.
    merged: Value,
    /// The document's heads after the merge.
    heads: Vec<ChangeHash>,
    /// The latest plausible time the device's clock put on its changes.
    device_time: Option<chrono::DateTime<Utc>>,
}

/// A push that brought nothing new (a retried request): the document goes
/// back into the cache it was taken from, and the repeat of a corrected push
/// is answered as the push was.
async fn answer_unchanged(
    conn: &impl ConnectionTrait,
    state: &AppState,
    Subject { caller, id, .. }: Subject<'_>,
    row: Option<&DocMeta>,
    doc: RecordDoc,
    heads: Vec<String>,
    digest: &str,
) -> ApiResult<Outcome> {
    if let Some(row) = row {
        state.cache.put(id, doc.into_automerge(), row.last_seq);
    }
    let (status, notices) = match repeated_correction(conn, caller, id, digest).await? {
        Some(notices) => (PushStatus::Corrected, notices),
        None => (PushStatus::Unchanged, Vec::new()),
    };
    Ok(Outcome {
        result: PushResult { id, status, heads },
        notices,
        write: None,
        digest: None,
        new_changes: 0,
    })
}

/// The refusal of a merged record that is not under an account in the
/// caller's scope, if it is not: a new record must name its account, and a
/// new record under an account is refused when that account is out of scope
/// or was refused in this request.
async fn place(
    conn: &impl ConnectionTrait,
    Subject { caller, kind, id }: Subject<'_>,
    existed: bool,
    merged: &Value,
    visibility: &mut Visibility,
) -> ApiResult<Option<Outcome>> {
    let account_id = match kind.account_of(id, merged) {
        Some(account_id) => account_id,
        None if existed => id,
        None => {
            return Ok(Some(refused(
                id,
                Vec::new(),
                vec![notice(
                    id,
                    "invalid_record",
                    Some("account_id"),
                    "a new record must name its account",
                )],
            )));
        }
    };
    let new_child = !existed && kind != RecordKind::Account;
    if new_child && !visibility.account(conn, caller, account_id).await? {
        let why = if visibility.refused.contains(&account_id) {
            notice(
                id,
                ACCOUNT_REFUSED,
                Some("account_id"),
                format!(
                    "the account {account_id}, pushed in this request, was refused (see its notices); this record is refused with it: fix the account and push both again"
                ),
            )
        } else {
            notice(
                id,
                "out_of_scope",
                Some("account_id"),
                "the account is not in your scope",
            )
        };
        return Ok(Some(refused(id, Vec::new(), vec![why])));
    }
    Ok(None)
}

/// The record's own rules: a changed record keeps the fields that are valid
/// (the rest go back to what they were, with notices); a new record must be
/// valid whole, or it is refused.
fn checked_fields(
    kind: RecordKind,
    id: Uuid,
    old: Option<&Value>,
    merged: &Value,
) -> ApiResult<Result<(Value, Vec<Notice>), Outcome>> {
    if let Some(old) = old {
        return Ok(Ok(keep_valid_fields(kind, id, old, merged)));
    }
    match validate(kind, merged.clone()) {
        Ok(()) => Ok(Ok((merged.clone(), Vec::new()))),
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
            Ok(Err(refused(id, Vec::new(), notices)))
        }
        Err(err) => Err(ApiError::internal(err)),
    }
}

/// The kind's review of the kept record: each refusal is undone (with a
/// notice added to `notices`) and derived fields come from the server. The
/// undone record must pass review itself (a new account whose owner falls
/// back to the caller, say), but for the fields the first review derived;
/// if it does not, the push is refused with the second review's notices
/// (`before`: the heads it is refused at).
async fn reviewed(
    conn: &impl ConnectionTrait,
    Subject { caller, kind, id }: Subject<'_>,
    old: Option<&Value>,
    kept: Value,
    pending: &Pending,
    notices: &mut Vec<Notice>,
    before: &[String],
) -> ApiResult<Result<Value, Outcome>> {
    let verdict = review(conn, caller, kind, id, old, &kept, pending).await?;
    for refusal in &verdict.refusals {
        notices.push(notice(
            id,
            refusal.error.specific_code(),
            Some(refusal.field),
            format!("{}; the server undid it", refusal.error.detail()),
        ));
    }
    let target = records::with_json_fields(&kept, &verdict.correction());
    if verdict.refusals.is_empty() {
        return Ok(Ok(target));
    }
    // The fields the first review set are the server's own: a second look
    // at them (a stage history dated a moment later) is no refusal.
    let final_review = review(conn, caller, kind, id, old, &target, pending).await?;
    let refusals: Vec<_> = final_review
        .refusals
        .iter()
        .filter(|r| !verdict.derived.contains_key(r.field))
        .collect();
    if refusals.is_empty() {
        return Ok(Ok(target));
    }
    let notices = refusals
        .into_iter()
        .map(|r| {
            notice(
                id,
                r.error.specific_code(),
                Some(r.field),
                r.error.detail().to_owned(),
            )
        })
        .collect();
    Ok(Err(refused(id, before.to_vec(), notices)))
}

/// The write a push makes: the device's bytes logged as they came (they
/// hold the changes new here, and re-encoding them would cost as much as
/// merging did), then the server's correction from the merged record to
/// `target`, if they differ (the push is then `corrected`).
fn staged(
    Subject { caller, id, .. }: Subject<'_>,
    row: Option<DocMeta>,
    mut doc: RecordDoc,
    old: Option<&Value>,
    changed: Changed,
    device_bytes: Vec<u8>,
    target: Value,
) -> ApiResult<(Staged, PushStatus)> {
    let Changed {
        merged,
        heads,
        device_time,
    } = changed;
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
    let (Some(current), Some(target)) = (merged.as_object(), target.as_object()) else {
        return Err(ApiError::internal(anyhow::anyhow!("records are objects")));
    };
    let correction = diff_patch(current, target);
    let mut server = None;
    if !correction.is_empty() {
        doc.merge_patch_own_kind(&correction, &server_meta)?;
        if doc.automerge_mut().get_heads() != heads {
            server = Some(ChangeSet {
                bytes: doc.automerge_mut().save_after(&heads),
                meta: server_meta,
                origin: None,
                entry: EntryBody::between(Some(&merged), &Value::Object(target.clone())),
                device_time: None,
            });
        }
    }
    let device_change = ChangeSet {
        bytes: device_bytes,
        meta: device_meta,
        origin: Some(caller.session_id),
        entry: EntryBody::between(old, &merged),
        device_time,
    };
    let status = if server.is_some() {
        PushStatus::Corrected
    } else {
        PushStatus::Applied
    };
    let write = Staged {
        id,
        existing: row,
        snapshot: None,
        doc,
        changes: std::iter::once(device_change).chain(server).collect(),
    };
    Ok((write, status))
}
