//! The customer file (客户档案): one timeline of everything that happened to
//! an account, newest first: every change set stored for the account and
//! every record under it (visits, key persons, ...), with who made it, from
//! which device, when, and what it changed.
//!
//! Entries are written with the change they describe, in the same
//! transaction (`records::store_all`), so a page is one indexed query, never
//! a walk over documents' histories, and its authors are what the server
//! knows: the session that wrote the change and the time it was stored. The
//! metadata a device writes into its Automerge changes (a user, a device, a
//! time) is never trusted for who or when; the device's clock is shown
//! beside, labelled as such (`device_time`). Records stored before entries
//! were written get theirs once, at start-up ([`backfill_once`]).

use super::page::Page;
use crate::auth::AuthUser;
use crate::cache::DocCache;
use crate::db::Db;
use crate::db::values;
use crate::entities::{timeline_entry, user};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::accounts::visible_row;
use crate::state::AppState;
use crate::store::{self, StoredDocument, log};
use chrono::{DateTime, Utc};
use kam_sync_core::cursor::{decode_opaque, encode_opaque, invalid_cursor};
use kam_sync_core::doc::decode_untrusted;
use kam_sync_core::{RecordDoc, RecordKind};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
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
    /// Entries stored at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Entries stored before this time (RFC 3339).
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
    /// The record was created; `fields` holds it as created.
    Created,
    /// The record changed; `changes` lists each field's old and new value.
    Changed,
}

impl EntryWhat {
    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Changed => "changed",
        }
    }
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
    /// When the server stored it (the server's clock, to the microsecond).
    pub at: DateTime<Utc>,
    /// When the device says it made the change, by the device's own clock
    /// (the latest change of the set); not verified, shown for reference.
    /// `null` for changes made through the API or by the server.
    pub device_time: Option<DateTime<Utc>>,
    /// The user whose session wrote it; `null` for the server's own changes
    /// (and for records whose author was not recorded).
    pub user_id: Option<Uuid>,
    /// That user's display name.
    pub user_name: Option<String>,
    /// True when the server made it itself (a correction, a team move).
    pub by_server: bool,
    /// The device of the session that wrote it (`server` for the server's own changes).
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

/// What a change set did to a record: the body of its timeline entry.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryBody {
    /// It created the record, with these fields.
    Created(Value),
    /// It changed these fields.
    Changed(Vec<FieldChange>),
}

impl EntryBody {
    /// What turned `before` (`None`: nothing, the record is new) into `after`.
    pub fn between(before: Option<&Value>, after: &Value) -> Self {
        match before {
            None => Self::Created(after.clone()),
            Some(before) => {
                let mut changes = Vec::new();
                field_changes("", before, after, &mut changes);
                Self::Changed(changes)
            }
        }
    }

    /// Takes the body out, leaving an empty change behind.
    pub fn take(&mut self) -> Self {
        std::mem::replace(self, Self::Changed(Vec::new()))
    }

    /// The `what`, `fields` and `changes` columns.
    pub fn into_columns(self) -> Result<(&'static str, Option<Value>, Value), serde_json::Error> {
        Ok(match self {
            Self::Created(fields) => (
                EntryWhat::Created.as_str(),
                Some(fields),
                Value::Array(Vec::new()),
            ),
            Self::Changed(changes) => (
                EntryWhat::Changed.as_str(),
                None,
                serde_json::to_value(changes)?,
            ),
        })
    }
}

const CURSOR_PREFIX: &str = "t2:";

fn cursor_of(seq: i64) -> String {
    encode_opaque(CURSOR_PREFIX, &seq.to_string())
}

fn parse_cursor(cursor: &str) -> ApiResult<i64> {
    let text = decode_opaque(CURSOR_PREFIX, cursor)?;
    i64::from_str(&text).map_err(|_| ApiError::from(invalid_cursor()))
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
                ApiError::new(
                    ErrorCode::InvalidQuery,
                    format!("no record kind is called `{name}`"),
                )
            })
        })
        .collect::<ApiResult<HashSet<_>>>()
        .map(Some)
}

/// One page of an account's timeline, newest first, if the caller may see
/// the account (404 otherwise, as for reading it): one indexed query for
/// the entries and one for their authors' names, whatever the length of
/// the records' histories. Soft-deleted records keep their history.
pub async fn list(
    state: &AppState,
    caller: &AuthUser,
    account_id: Uuid,
    filter: TimelineFilter,
) -> ApiResult<Page<TimelineEntry>> {
    let conn = state.db.conn();
    let limit = Page::<TimelineEntry>::limit(filter.limit, state.settings.server.max_page_size)?;
    let kinds = parse_kinds(filter.kinds.as_deref())?;
    let before = filter.cursor.as_deref().map(parse_cursor).transpose()?;
    visible_row(conn, caller, account_id).await?;
    let mut query = timeline_entry::Entity::find()
        .filter(timeline_entry::Column::AccountId.eq(account_id))
        .order_by_desc(timeline_entry::Column::Seq)
        .limit(limit + 1);
    if let Some(kinds) = &kinds {
        query = query
            .filter(timeline_entry::Column::RecordKind.is_in(kinds.iter().map(|k| k.as_str())));
    }
    if let Some(since) = filter.since {
        query = query.filter(timeline_entry::Column::At.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(timeline_entry::Column::At.lt(until));
    }
    if let Some(before) = before {
        query = query.filter(timeline_entry::Column::Seq.lt(before));
    }
    let rows = query.all(conn).await?;
    let names = user_names(conn, &rows).await?;
    let entries = rows
        .into_iter()
        .map(|row| Ok((row.seq, render(row, &names)?)))
        .collect::<ApiResult<Vec<_>>>()?;
    let page = Page::from_overfetch_by(entries, limit, |(seq, _)| cursor_of(*seq));
    Ok(Page {
        items: page.items.into_iter().map(|(_, entry)| entry).collect(),
        next_cursor: page.next_cursor,
    })
}

/// The display names of the entries' authors, in one query.
async fn user_names(
    conn: &impl ConnectionTrait,
    rows: &[timeline_entry::Model],
) -> ApiResult<HashMap<Uuid, String>> {
    let ids: HashSet<Uuid> = rows.iter().filter_map(|row| row.user_id).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::DisplayName)
        .filter(user::Column::Id.is_in(ids))
        .into_tuple::<(Uuid, String)>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The device the server's own changes are written as.
const SERVER_DEVICE: &str = "server";

fn render(row: timeline_entry::Model, names: &HashMap<Uuid, String>) -> ApiResult<TimelineEntry> {
    let what = match row.what.as_str() {
        "created" => EntryWhat::Created,
        _ => EntryWhat::Changed,
    };
    let changes: Vec<FieldChange> =
        serde_json::from_value(row.changes).map_err(ApiError::internal)?;
    Ok(TimelineEntry {
        at: row.at,
        device_time: row.device_time,
        user_id: row.user_id,
        user_name: row.user_id.and_then(|user| names.get(&user).cloned()),
        // Every session has a user: only the server writes with none.
        by_server: row.user_id.is_none() && row.device_id == SERVER_DEVICE,
        device: (!row.device_id.is_empty()).then_some(row.device_id),
        record_kind: row.record_kind,
        record_id: row.record_id,
        what,
        fields: row.fields,
        changes,
    })
}

/// The name under which [`backfill_once`] notes that it ran.
const BACKFILLED: &str = "timeline_backfilled";

/// Writes the timeline entries of the records stored before entries were
/// written with each change, once per database. A record whose change log
/// is whole gets an entry per logged change set, with the author and time
/// the log kept (the session's user and device, the time it was stored);
/// one whose log was compacted (`kam-server compact`) gets one `created`
/// entry holding the record as it is, dated when it was first stored, by
/// an unrecorded author. Safe to run from several servers at once.
pub async fn backfill_once(db: &Db) -> ApiResult<()> {
    let conn = db.conn();
    if values::is_done(conn, BACKFILLED).await? {
        return Ok(());
    }
    let documents = store::all_documents(conn).await?;
    let mut written = 0;
    for StoredDocument {
        id,
        kind,
        account_id,
        last_seq,
        created_at,
    } in documents
    {
        let Some(kind) = RecordKind::parse(&kind) else {
            continue;
        };
        let logged = log::entries_after(conn, id, 0).await?;
        let base = timeline_entry::ActiveModel {
            account_id: Set(account_id),
            record_id: Set(id),
            record_kind: Set(kind.as_str().to_owned()),
            device_time: Set(None),
            ..Default::default()
        };
        let entries = match replay(kind, &logged) {
            Some(bodies) => logged
                .iter()
                .zip(bodies)
                .map(|(change, body)| {
                    entry(
                        &base,
                        change.seq,
                        change.user_id,
                        change.device_id.clone(),
                        change.created_at,
                        body,
                    )
                })
                .collect::<ApiResult<Vec<_>>>()?,
            None => {
                let loaded = store::load(conn, &DocCache::new(0), id, false)
                    .await?
                    .ok_or_else(|| ApiError::internal(anyhow::anyhow!("document {id} vanished")))?;
                let doc = loaded.doc;
                vec![entry(
                    &base,
                    last_seq,
                    None,
                    String::new(),
                    created_at,
                    EntryBody::Created(doc.to_json()),
                )?]
            }
        };
        written += entries.len();
        for row in entries {
            timeline_entry::Entity::insert(row)
                .on_conflict(
                    OnConflict::column(timeline_entry::Column::Seq)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(conn)
                .await?;
        }
    }
    values::mark_done(conn, BACKFILLED).await?;
    if written > 0 {
        tracing::info!(
            written,
            "wrote the timeline entries of records stored before"
        );
    }
    Ok(())
}

fn entry(
    base: &timeline_entry::ActiveModel,
    seq: i64,
    user_id: Option<Uuid>,
    device_id: String,
    at: DateTime<Utc>,
    body: EntryBody,
) -> ApiResult<timeline_entry::ActiveModel> {
    let (what, fields, changes) = body.into_columns().map_err(ApiError::internal)?;
    let mut row = base.clone();
    row.seq = Set(seq);
    row.user_id = Set(user_id);
    row.device_id = Set(device_id);
    row.at = Set(at);
    row.what = Set(what.to_owned());
    row.fields = Set(fields);
    row.changes = Set(changes);
    Ok(row)
}

/// Replays a record's logged change sets from nothing; `None` when the log
/// does not start at the record's beginning (it was compacted).
fn replay(kind: RecordKind, logged: &[log::Entry]) -> Option<Vec<EntryBody>> {
    let mut doc = RecordDoc::from_automerge(kind, automerge::AutoCommit::new());
    let mut before: Option<Value> = None;
    let mut bodies = Vec::with_capacity(logged.len());
    for change in logged {
        decode_untrusted(|| doc.automerge_mut().load_incremental(&change.bytes)).ok()?;
        if !doc.automerge_mut().get_missing_deps(&[]).is_empty() {
            return None;
        }
        let after = doc.to_json();
        bodies.push(EntryBody::between(before.as_ref(), &after));
        before = Some(after);
    }
    (!bodies.is_empty()).then_some(bodies)
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
        assert_eq!(parse_cursor(&cursor_of(42)).ok(), Some(42));
        let list_cursor = kam_sync_core::cursor::Cursor {
            last_id: Uuid::now_v7(),
        }
        .encode();
        assert!(parse_cursor(&list_cursor).is_err());
        assert!(parse_cursor(&encode_opaque(CURSOR_PREFIX, "x")).is_err());
    }

    #[test]
    fn a_new_record_is_created_with_its_fields_and_an_edit_lists_what_changed() {
        let created = EntryBody::between(None, &json!({"name": "A"}));
        assert_eq!(created, EntryBody::Created(json!({"name": "A"})));
        let changed = EntryBody::between(Some(&json!({"name": "A"})), &json!({"name": "B"}));
        assert_eq!(
            changed,
            EntryBody::Changed(vec![FieldChange {
                path: "name".into(),
                old: json!("A"),
                new: json!("B"),
            }])
        );
    }
}
