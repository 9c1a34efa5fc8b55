//! Computing what a device lacks: the documents in its user's scope that
//! changed since its cursor, one bounded page at a time; the accounts that
//! left the scope (to drop) or entered it (sent whole, with everything under
//! them).

use super::cursor::scope_fingerprint;
use crate::access::{can_see, visible_account_ids};
use crate::auth::AuthUser;
use crate::cache::DocCache;
use crate::entities::{account, account_share};
use crate::error::{ApiError, ApiResult};
use crate::store::{self, DocHeads, IN_LIST_CHUNK, log, scope};
use kam_sync_core::RecordKind;
use kam_sync_core::cursor::SyncCursor;
use kam_sync_core::protocol::{Bytes, PullDoc, Removed};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};
use std::collections::{BTreeSet, HashMap, HashSet};
use uuid::Uuid;

/// Documents per page when the device names no limit.
pub const DEFAULT_PULL_DOCS: u32 = 200;
/// Most documents per page.
pub const MAX_PULL_DOCS: u32 = 1_000;

/// A document with more change-log entries than this since the cursor is
/// sent whole: one compressed snapshot beats many small entries.
const WHOLE_AFTER_ENTRIES: usize = 16;

/// One page of a pull.
pub struct PullPage {
    /// Documents the device lacks, whole or as changes.
    pub pull: Vec<PullDoc>,
    /// Accounts to drop (with everything under them).
    pub removed: Vec<Removed>,
    /// More pages follow.
    pub has_more: bool,
    /// The device's scope was rebuilt from scratch.
    pub reset: bool,
    /// Where the next pull starts.
    pub cursor: String,
}

/// Accounts whose scope changed after `base`: those the caller could see at
/// `base` and cannot now (removed), and the reverse (entered).
async fn scope_transitions(
    txn: &DatabaseTransaction,
    caller: &AuthUser,
    base: i64,
) -> ApiResult<(BTreeSet<Uuid>, BTreeSet<Uuid>)> {
    let changed: Vec<Uuid> = scope::accounts_rescoped_after(txn, base)
        .await?
        .into_iter()
        .collect();
    // Who could see each account at `base`: its last scope row up to then.
    // An account made after `base` has none: it is new, not entered, and
    // its changes since `base` are all of it.
    let then = scope::as_of(txn, &changed, base).await?;
    let existed: Vec<Uuid> = then.keys().copied().collect();
    let mut now: HashMap<Uuid, account::Model> = HashMap::new();
    let mut shares_now: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for ids in existed.chunks(IN_LIST_CHUNK) {
        for row in account::Entity::find()
            .filter(account::Column::Id.is_in(ids.iter().copied()))
            .all(txn)
            .await?
        {
            now.insert(row.id, row);
        }
        let shares: Vec<(Uuid, Uuid)> = account_share::Entity::find()
            .select_only()
            .column(account_share::Column::AccountId)
            .column(account_share::Column::UserId)
            .filter(account_share::Column::AccountId.is_in(ids.iter().copied()))
            .into_tuple()
            .all(txn)
            .await?;
        for (account_id, user_id) in shares {
            shares_now.entry(account_id).or_default().push(user_id);
        }
    }
    let mut entered = BTreeSet::new();
    let mut removed = BTreeSet::new();
    for (account_id, then) in then {
        let seen_then = can_see(
            caller,
            then.owner_id,
            then.team_id,
            then.branch_id,
            &then.shared_with,
        );
        let seen_now = now.get(&account_id).is_some_and(|row| {
            let shares = shares_now.get(&account_id).map_or(&[][..], Vec::as_slice);
            can_see(caller, row.owner_id, row.team_id, row.branch_id, shares)
        });
        match (seen_then, seen_now) {
            (true, false) => {
                removed.insert(account_id);
            }
            (false, true) => {
                entered.insert(account_id);
            }
            _ => {}
        }
    }
    Ok((entered, removed))
}

async fn whole(
    txn: &DatabaseTransaction,
    cache: &DocCache,
    doc: &DocHeads,
) -> ApiResult<Option<PullDoc>> {
    let Some(mut loaded) = store::load(txn, cache, doc.id, false).await? else {
        return Ok(None);
    };
    let heads = loaded.heads.iter().map(ToString::to_string).collect();
    let entry = PullDoc {
        id: doc.id,
        kind: loaded.doc.kind(),
        account_id: doc.account_id,
        whole: true,
        data: Bytes(loaded.doc.automerge_mut().save()),
        heads,
    };
    cache.put(doc.id, loaded.doc.into_automerge(), loaded.row.last_seq);
    Ok(Some(entry))
}

/// The changes after `base`, less those `skip_session` pushed itself (the
/// device has them), or the whole document when that is smaller or needed.
async fn changes_or_whole(
    txn: &DatabaseTransaction,
    cache: &DocCache,
    doc: &DocHeads,
    base: i64,
    skip_session: Option<Uuid>,
) -> ApiResult<Option<PullDoc>> {
    let missing: Vec<Vec<u8>> = log::entries_after(txn, doc.id, base)
        .await?
        .into_iter()
        .filter(|entry| skip_session.is_none_or(|skip| entry.origin_session != Some(skip)))
        .map(|entry| entry.bytes)
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    if missing.len() > WHOLE_AFTER_ENTRIES {
        return whole(txn, cache, doc).await;
    }
    let data = missing.concat();
    let kind = RecordKind::parse(&doc.kind)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown kind {}", doc.kind)))?;
    Ok(Some(PullDoc {
        id: doc.id,
        kind,
        account_id: doc.account_id,
        whole: false,
        data: Bytes(data),
        heads: doc.heads(),
    }))
}

/// What a device asks of one pull.
pub struct Wanted<'a> {
    /// Where its copy of the scope stands (none: a reset).
    pub cursor: Option<SyncCursor>,
    /// Documents it wants whole (it lacks their history).
    pub resend: &'a [Uuid],
    /// Documents this request pushed and the server corrected: their
    /// corrections come on this page, whatever else it holds.
    pub corrected: &'a [Uuid],
    /// Most documents on the page (see [`DEFAULT_PULL_DOCS`]).
    pub limit: Option<u32>,
}

/// One page of what the caller's device lacks after `cursor`.
pub async fn pull(
    db: &crate::db::Db,
    cache: &DocCache,
    caller: &AuthUser,
    wanted: Wanted<'_>,
) -> ApiResult<PullPage> {
    let Wanted {
        cursor,
        resend,
        corrected,
        limit,
    } = wanted;
    let scope = scope_fingerprint(caller);
    let (base, after, seen, reset) = match cursor {
        // Without a cursor the device may still hold documents (it lost its
        // state, or was reinstalled): rebuild its scope.
        None => (0, 0, 0, true),
        Some(cursor) if cursor.scope != scope => (0, 0, 0, true),
        Some(cursor) => (cursor.base, cursor.after, cursor.seen, false),
    };
    let limit = u64::from(limit.unwrap_or(DEFAULT_PULL_DOCS).clamp(1, MAX_PULL_DOCS));
    let txn = db.begin_read().await?;
    let log_head = log::head(&txn).await?;
    let horizon = log::horizon(&txn).await.map_err(ApiError::internal)?;
    let visible = visible_account_ids(caller);
    let mut docs = store::heads_changed_after(&txn, after, visible.clone(), limit + 1).await?;
    let has_more = docs.len() as u64 > limit;
    docs.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    // Where the device's copy of the scope stands: its base, or on a
    // reset's later pages where the last page was read (the earlier pages
    // delivered what was in scope when they were read).
    let since = if base > 0 { base } else { seen };
    let (entered, removed) = if since > 0 {
        scope_transitions(&txn, caller, since).await?
    } else {
        (BTreeSet::new(), BTreeSet::new())
    };
    let resend: HashSet<Uuid> = resend.iter().copied().collect();
    // A base of 0 is a reset, on every one of its pages: the device keeps
    // only what the pages deliver, so every document in scope must come,
    // the ones this session pushed included. Elsewhere the session's own
    // changes are skipped: the device has them.
    let skip_session = (base > 0).then_some(caller.session_id);
    let mut sent = HashSet::new();
    let mut pull = Vec::new();
    for doc in &docs {
        // Only a base the log no longer reaches needs whole documents: a
        // reset reads the log from its start like any other pull.
        let send_whole =
            base < horizon || resend.contains(&doc.id) || entered.contains(&doc.account_id);
        let entry = if send_whole {
            whole(&txn, cache, doc).await?
        } else {
            changes_or_whole(&txn, cache, doc, base, skip_session).await?
        };
        if let Some(entry) = entry {
            sent.insert(entry.id);
            pull.push(entry);
        }
    }
    // An account that entered brings every document under it. Outside a
    // reset it does on the page that carries it (each page repeats the
    // transitions since the fixed base); a reset's page sees an account
    // enter only once (its `since` moves on), and the documents under it
    // that earlier pages passed over come now.
    let entered_here: Vec<Uuid> = if base > 0 {
        docs.iter()
            .filter(|d| d.id == d.account_id && entered.contains(&d.id))
            .map(|d| d.id)
            .collect()
    } else {
        entered.iter().copied().collect()
    };
    // Documents just pushed and corrected whose place in the log lies
    // beyond this page: their changes since the base (the server's
    // correction among them) come now, and again on their own page.
    let corrected: Vec<Uuid> = corrected
        .iter()
        .filter(|id| !sent.contains(id))
        .copied()
        .collect();
    let asked: Vec<Uuid> = resend.iter().chain(&corrected).copied().collect();
    for doc in store::heads_under_accounts_or_of(&txn, &entered_here, &asked, visible).await? {
        if sent.contains(&doc.id) {
            continue;
        }
        let send_whole = base < horizon
            || !corrected.contains(&doc.id)
            || resend.contains(&doc.id)
            || entered_here.contains(&doc.account_id);
        let entry = if send_whole {
            whole(&txn, cache, &doc).await?
        } else {
            changes_or_whole(&txn, cache, &doc, base, skip_session).await?
        };
        if let Some(entry) = entry {
            sent.insert(entry.id);
            pull.push(entry);
        }
    }
    let next = if has_more {
        let after = docs.last().map_or(after, |d| d.last_seq);
        SyncCursor {
            base,
            after,
            seen: log_head.max(after),
            scope,
        }
    } else {
        let head = log_head.max(horizon).max(after).max(base);
        SyncCursor {
            base: head,
            after: head,
            seen: head,
            scope,
        }
    };
    txn.commit().await?;
    Ok(PullPage {
        pull,
        removed: removed
            .into_iter()
            .map(|id| Removed {
                id,
                kind: RecordKind::Account,
                reason: "out_of_scope".into(),
            })
            .collect(),
        has_more,
        reset,
        cursor: next.encode(),
    })
}
