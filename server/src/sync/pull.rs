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

/// A document on its way onto a page, and how it goes.
struct Planned<'a> {
    doc: &'a DocHeads,
    /// Whole, not as its changes since the base.
    whole: bool,
}

/// The page entries of `planned`, in their order: each document as its
/// changes after `base` (less those `skip_session` pushed itself: the device
/// has them), skipped when none are left, or whole when that is asked for
/// or smaller. A constant number of statements whatever the page holds: the
/// log entries of all of them in one read, the whole ones loaded together;
/// saving whole documents runs on the CPU pool.
async fn render(
    txn: &DatabaseTransaction,
    cache: &DocCache,
    planned: &[Planned<'_>],
    base: i64,
    skip_session: Option<Uuid>,
) -> ApiResult<Vec<PullDoc>> {
    let by_changes: Vec<Uuid> = planned
        .iter()
        .filter(|p| !p.whole)
        .map(|p| p.doc.id)
        .collect();
    let mut entries = if by_changes.is_empty() {
        HashMap::new()
    } else {
        log::entries_after_many(txn, &by_changes, base).await?
    };
    let mut slots: Vec<Option<PullDoc>> = Vec::with_capacity(planned.len());
    let mut wanted_whole = Vec::new();
    for Planned { doc, whole } in planned {
        let missing: Vec<Vec<u8>> = if *whole {
            Vec::new()
        } else {
            entries
                .remove(&doc.id)
                .unwrap_or_default()
                .into_iter()
                .filter(|entry| skip_session.is_none_or(|skip| entry.origin_session != Some(skip)))
                .map(|entry| entry.bytes)
                .collect()
        };
        if *whole || missing.len() > WHOLE_AFTER_ENTRIES {
            wanted_whole.push(doc.id);
            slots.push(None);
            continue;
        }
        if missing.is_empty() {
            slots.push(None);
            continue;
        }
        let kind = RecordKind::parse(&doc.kind)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("unknown kind {}", doc.kind)))?;
        slots.push(Some(PullDoc {
            id: doc.id,
            kind,
            account_id: doc.account_id,
            whole: false,
            data: Bytes(missing.concat()),
            heads: doc.heads(),
        }));
    }
    let mut wholes = whole_documents(txn, cache, &wanted_whole).await?;
    Ok(planned
        .iter()
        .zip(slots)
        .filter_map(|(planned, slot)| {
            slot.or_else(|| {
                let (kind, data, heads) = wholes.remove(&planned.doc.id)?;
                Some(PullDoc {
                    id: planned.doc.id,
                    kind,
                    account_id: planned.doc.account_id,
                    whole: true,
                    data: Bytes(data),
                    heads,
                })
            })
        })
        .collect())
}

/// Documents `ids` saved whole (kind, bytes, heads), loaded together (per
/// [`IN_LIST_CHUNK`]: an account that entered the scope may bring any
/// number) and saved on the CPU pool, then kept in the cache; a document
/// gone meanwhile is left out.
async fn whole_documents(
    txn: &DatabaseTransaction,
    cache: &DocCache,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, (RecordKind, Vec<u8>, Vec<String>)>> {
    let mut wholes = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        let loaded = store::load_many(txn, cache, chunk, false).await?;
        let saved = crate::cpu::run(move || {
            loaded
                .into_iter()
                .map(|(id, mut loaded)| {
                    let heads = loaded.heads.iter().map(ToString::to_string).collect();
                    let kind = loaded.doc.kind();
                    let data = loaded.doc.automerge_mut().save();
                    (id, kind, data, heads, loaded)
                })
                .collect::<Vec<_>>()
        })
        .await?;
        for (id, kind, data, heads, loaded) in saved {
            cache.put(id, loaded.doc.into_automerge(), loaded.row.last_seq);
            wholes.insert(id, (kind, data, heads));
        }
    }
    Ok(wholes)
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
    // Only a base the log no longer reaches needs whole documents: a reset
    // reads the log from its start like any other pull.
    let planned: Vec<Planned> = docs
        .iter()
        .map(|doc| Planned {
            doc,
            whole: base < horizon || resend.contains(&doc.id) || entered.contains(&doc.account_id),
        })
        .collect();
    let mut pull = render(&txn, cache, &planned, base, skip_session).await?;
    let sent: HashSet<Uuid> = pull.iter().map(|entry| entry.id).collect();
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
    let extra = store::heads_under_accounts_or_of(&txn, &entered_here, &asked, visible).await?;
    let planned: Vec<Planned> = extra
        .iter()
        .filter(|doc| !sent.contains(&doc.id))
        .map(|doc| Planned {
            doc,
            whole: base < horizon
                || !corrected.contains(&doc.id)
                || resend.contains(&doc.id)
                || entered_here.contains(&doc.account_id),
        })
        .collect();
    pull.extend(render(&txn, cache, &planned, base, skip_session).await?);
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
