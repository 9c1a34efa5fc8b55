//! The customer file (客户档案): one timeline of everything that happened to
//! an account, newest first, read from the Automerge history of every
//! document under it (the account itself, its visits, and any other synced
//! kind), with who made each change, from which device, and what it changed.
//!
//! Entries come from sources: each source lists the keys of its entries
//! cheaply ([`Pending`]), the keys of all sources are merged by time and
//! paged, and only the entries on the page are rendered. Documents are the
//! one source today; rows that are not documents (contracts) become another
//! [`Source`] variant and another listing function, merged the same way.

use super::page::{Page, decode_opaque, encode_opaque, invalid_cursor};
use super::{Loaded, load_many};
use crate::auth::AuthUser;
use crate::entities::{document, user};
use crate::error::{ApiError, ApiResult};
use crate::records::accounts::visible_row;
use crate::startup::AppState;
use automerge::ChangeHash;
use chrono::{DateTime, Utc};
use kam_sync_core::RecordKind;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::str::FromStr;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Filters for an account's timeline; all combine with AND.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineFilter {
    /// Only entries about these record kinds, comma-separated (`account,visit`).
    pub kinds: Option<String>,
    /// Entries at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Entries before this time (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Page size (default 50), up to the server's `max_page_size` (500 unless configured).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryWhat {
    /// The record was created (its first change); `fields` holds it as created.
    Created,
    /// The record changed; `changes` lists each field's old and new value.
    Changed,
}

/// One field a change set, cleared or replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    /// Dotted path of the field (`stage`, `address.city`, `steps.probe.done`).
    pub path: String,
    /// The value before the change (`null`: absent). Text fields show the whole text.
    pub old: Value,
    /// The value after the change (`null`: cleared).
    pub new: Value,
}

/// One thing that happened to an account or a record under it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    /// When it happened, as its author's device recorded it (to the second).
    pub at: DateTime<Utc>,
    /// Who made it, when known.
    pub user_id: Option<Uuid>,
    /// That user's display name.
    pub user_name: Option<String>,
    /// True when the server made it itself (a correction, a team move).
    pub by_server: bool,
    /// The device it was made on (`server` for the server's own changes).
    pub device: Option<String>,
    /// The kind of record (`account`, `visit`, ...).
    pub record_kind: String,
    /// The record's id.
    pub record_id: Uuid,
    /// Created or changed.
    pub what: EntryWhat,
    /// For `created`: the record's fields as created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
    /// For `changed`: what changed, field by field.
    #[serde(default)]
    pub changes: Vec<FieldChange>,
}

/// Where an entry sits in the timeline: entries are ordered by time, then
/// record, then position within the record's history, then a tie-breaker,
/// all stable, so a cursor keeps its place while the timeline grows.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct EntryKey {
    /// Seconds since the epoch.
    at: i64,
    record_id: Uuid,
    /// Causal depth within the record's history: a change comes after the
    /// changes it builds on, whatever order a document was loaded in.
    order: u64,
    /// The change hash (or a row's key, for other sources).
    tie: String,
}

const CURSOR_PREFIX: &str = "t1:";

impl EntryKey {
    fn cursor(&self) -> String {
        encode_opaque(
            CURSOR_PREFIX,
            &format!("{}:{}:{}:{}", self.at, self.record_id, self.order, self.tie),
        )
    }

    fn parse(cursor: &str) -> ApiResult<Self> {
        let text = decode_opaque(CURSOR_PREFIX, cursor)?;
        let mut parts = text.splitn(4, ':');
        let mut next = || parts.next().ok_or_else(invalid_cursor);
        let at = i64::from_str(next()?).map_err(|_| invalid_cursor())?;
        let record_id = Uuid::parse_str(next()?).map_err(|_| invalid_cursor())?;
        let order = u64::from_str(next()?).map_err(|_| invalid_cursor())?;
        let tie = next()?.to_owned();
        Ok(Self {
            at,
            record_id,
            order,
            tie,
        })
    }
}

/// Who made a change, as its commit message says.
#[derive(Debug, Clone, Default, Deserialize)]
struct Author {
    user: Option<Uuid>,
    device: Option<String>,
}

/// What an entry is rendered from.
enum Source {
    /// One Automerge change of a document.
    DocumentChange {
        hash: ChangeHash,
        deps: Vec<ChangeHash>,
    },
}

/// An entry listed but not yet rendered.
struct Pending {
    key: EntryKey,
    author: Author,
    record_kind: String,
    source: Source,
}

/// The kinds named by a `kinds` filter; an unknown one is a 400.
fn parse_kinds(kinds: Option<&str>) -> ApiResult<Option<HashSet<RecordKind>>> {
    let Some(kinds) = kinds else {
        return Ok(None);
    };
    kinds
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            RecordKind::parse(name).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("no record kind is called `{name}`"),
                )
            })
        })
        .collect::<ApiResult<HashSet<_>>>()
        .map(Some)
}

/// One page of an account's timeline, newest first, if the caller may see
/// the account (404 otherwise, as for reading it). Soft-deleted records
/// keep their history.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    account_id: Uuid,
    filter: TimelineFilter,
) -> ApiResult<Page<TimelineEntry>> {
    let conn = state.db.conn();
    let limit = Page::<TimelineEntry>::limit(filter.limit, state.settings.server.max_page_size)?;
    let kinds = parse_kinds(filter.kinds.as_deref())?;
    let after = filter.cursor.as_deref().map(EntryKey::parse).transpose()?;
    visible_row(conn, caller, account_id).await?;
    let mut query = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .filter(document::Column::AccountId.eq(account_id));
    if let Some(kinds) = &kinds {
        query = query.filter(document::Column::Kind.is_in(kinds.iter().map(|k| k.as_str())));
    }
    let ids: Vec<Uuid> = query.into_tuple().all(conn).await?;
    let mut docs = load_many(conn, &state.cache, &ids, false).await?;
    let mut pending = Vec::new();
    for loaded in docs.values_mut() {
        pending.extend(document_entries(loaded));
    }
    let since = filter.since.map(|t| t.timestamp());
    let until = filter.until.map(|t| t.timestamp());
    pending.retain(|entry| {
        since.is_none_or(|since| entry.key.at >= since)
            && until.is_none_or(|until| entry.key.at < until)
            && after.as_ref().is_none_or(|after| entry.key < *after)
    });
    pending.sort_by(|a, b| b.key.cmp(&a.key));
    pending.truncate(usize::try_from(limit + 1).unwrap_or(usize::MAX));
    let names = user_names(state, &pending).await?;
    let mut entries = Vec::with_capacity(pending.len());
    for entry in pending {
        let rendered = render(&docs, &names, &entry);
        entries.push((entry.key, rendered));
    }
    for (id, loaded) in docs {
        state
            .cache
            .put(id, loaded.doc.into_automerge(), loaded.row.last_seq);
    }
    let page = Page::from_overfetch_by(entries, limit, |(key, _)| key.cursor());
    Ok(Page {
        items: page.items.into_iter().map(|(_, entry)| entry).collect(),
        next_cursor: page.next_cursor,
    })
}

/// Lists every change of a document as a pending entry.
fn document_entries(loaded: &mut Loaded) -> Vec<Pending> {
    let record_id = loaded.row.id;
    let record_kind = loaded.row.kind.clone();
    let changes = loaded.doc.automerge_mut().get_changes_meta(&[]);
    // `get_changes_meta` lists a change after the changes it depends on.
    let mut depth: HashMap<ChangeHash, u64> = HashMap::with_capacity(changes.len());
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        let order = change
            .deps
            .iter()
            .filter_map(|dep| depth.get(dep))
            .max()
            .map_or(0, |d| d + 1);
        depth.insert(change.hash, order);
        let author = change
            .message
            .as_deref()
            .and_then(|message| serde_json::from_str::<Author>(message).ok())
            .unwrap_or_default();
        out.push(Pending {
            key: EntryKey {
                at: change.timestamp,
                record_id,
                order,
                tie: change.hash.to_string(),
            },
            author,
            record_kind: record_kind.clone(),
            source: Source::DocumentChange {
                hash: change.hash,
                deps: change.deps,
            },
        });
    }
    out
}

/// The display names of the users who made the pending entries, in one query.
async fn user_names(state: &AppState, pending: &[Pending]) -> ApiResult<HashMap<Uuid, String>> {
    let ids: HashSet<Uuid> = pending.iter().filter_map(|p| p.author.user).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::DisplayName)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple::<(Uuid, String)>()
        .all(state.db.conn())
        .await?
        .into_iter()
        .collect())
}

fn render(
    docs: &HashMap<Uuid, Loaded>,
    names: &HashMap<Uuid, String>,
    entry: &Pending,
) -> TimelineEntry {
    let (what, fields, changes) = match &entry.source {
        Source::DocumentChange { hash, deps } => {
            match docs.get(&entry.key.record_id).map(|loaded| &loaded.doc) {
                Some(doc) => {
                    let after = doc.to_json_at(std::slice::from_ref(hash));
                    if deps.is_empty() {
                        (EntryWhat::Created, Some(after), Vec::new())
                    } else {
                        let before = doc.to_json_at(deps);
                        let mut changes = Vec::new();
                        field_changes("", &before, &after, &mut changes);
                        (EntryWhat::Changed, None, changes)
                    }
                }
                None => (EntryWhat::Changed, None, Vec::new()),
            }
        }
    };
    let device = entry.author.device.clone();
    TimelineEntry {
        at: DateTime::from_timestamp(entry.key.at, 0).unwrap_or_default(),
        user_id: entry.author.user,
        user_name: entry.author.user.and_then(|user| names.get(&user).cloned()),
        by_server: device.as_deref() == Some("server"),
        device,
        record_kind: entry.record_kind.clone(),
        record_id: entry.key.record_id,
        what,
        fields,
        changes,
    }
}

/// The leaves that differ between two versions of a record, by dotted path:
/// objects are compared member by member, anything else (text, lists,
/// scalars) as a whole value.
fn field_changes(path: &str, before: &Value, after: &Value, out: &mut Vec<FieldChange>) {
    match (before, after) {
        (Value::Object(old), Value::Object(new)) => {
            let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for key in keys {
                let child = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                field_changes(
                    &child,
                    old.get(key).unwrap_or(&Value::Null),
                    new.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (old, new) if old != new => out.push(FieldChange {
            path: path.to_owned(),
            old: old.clone(),
            new: new.clone(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_fields_are_listed_by_dotted_path_and_lists_whole() {
        let mut out = Vec::new();
        field_changes(
            "",
            &json!({"stage": "identified", "address": {"city": "杭州"}, "tags": ["a"], "phone": "1"}),
            &json!({"stage": "engaging", "address": {"city": "上海", "street": "1 Rd"}, "tags": ["a", "b"], "phone": "1"}),
            &mut out,
        );
        let paths: Vec<_> = out.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["address.city", "address.street", "stage", "tags"]);
        assert_eq!(out[0].old, json!("杭州"));
        assert_eq!(out[1].old, Value::Null);
        assert_eq!(out[3].new, json!(["a", "b"]));
    }

    #[test]
    fn a_timeline_cursor_round_trips_and_others_are_refused() {
        let key = EntryKey {
            at: 1_790_000_000,
            record_id: Uuid::now_v7(),
            order: 3,
            tie: "abc".into(),
        };
        assert_eq!(EntryKey::parse(&key.cursor()).ok(), Some(key));
        let list_cursor = super::super::page::Cursor {
            last_id: Uuid::now_v7(),
        }
        .encode();
        assert!(EntryKey::parse(&list_cursor).is_err());
        assert!(EntryKey::parse(&encode_opaque(CURSOR_PREFIX, "x:y")).is_err());
    }
}
