//! A record held in an Automerge document: create it from a typed record,
//! read it back, merge-patch it, and list the concurrent values of its fields.
//!
//! Layout: the root map holds the record's fields as serde names them;
//! objects are Automerge maps, lists are lists, collaborative text is Text,
//! everything else is a scalar (timestamps and dates as RFC 3339 strings, so
//! a client in any language reads them without a schema).

use crate::error::{RecordError, Violation};
use crate::ids::UserId;
use crate::limits::{MAX_DEPTH, depth_violation, too_deep};
use crate::record::{Record, RecordKind, Shape};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Who made a change, from where and when; written into the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeMeta {
    /// The user on whose behalf the change is made.
    pub user: Option<UserId>,
    /// The device it was made on (`server` for server-made changes).
    pub device: String,
    /// When it was made.
    pub time: DateTime<Utc>,
}

impl ChangeMeta {
    pub(crate) fn commit_options(&self) -> CommitOptions {
        let mut message = Map::new();
        if let Some(user) = self.user {
            message.insert("user".into(), Value::String(user.to_string()));
        }
        message.insert("device".into(), Value::String(self.device.clone()));
        CommitOptions::default()
            .with_message(Value::Object(message).to_string())
            .with_time(self.time.timestamp())
    }
}

/// A field that two writers set concurrently: the value that wins, and the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conflict {
    /// Dotted path of the field.
    pub field: String,
    /// The value every replica shows.
    pub value: Value,
    /// The values that lost, so a person can review them.
    pub others: Vec<Value>,
}

/// One record's Automerge document.
#[derive(Debug)]
pub struct RecordDoc {
    kind: RecordKind,
    doc: AutoCommit,
}

impl RecordDoc {
    /// A new document holding `record`, made by `actor`, in one change.
    ///
    /// Every nested map and every text field is created here, so that devices
    /// editing them later merge into the same objects.
    pub fn create<R: Record>(
        record: &R,
        actor: ActorId,
        meta: &ChangeMeta,
    ) -> Result<Self, RecordError> {
        let violations = record.violations();
        if !violations.is_empty() {
            return Err(RecordError::Invalid(violations));
        }
        let Value::Object(fields) = to_json(record)? else {
            return Err(invalid(
                "",
                "not_an_object",
                "a record serializes to an object",
            ));
        };
        let mut doc = AutoCommit::new().with_actor(actor);
        let shape = R::KIND.shape();
        write_map_members(&mut doc, &ROOT, "", &fields, &shape)?;
        doc.commit_with(meta.commit_options());
        Ok(Self { kind: R::KIND, doc })
    }

    /// Wraps an Automerge document already known to hold a record of `kind`.
    pub fn from_automerge(kind: RecordKind, doc: AutoCommit) -> Self {
        Self { kind, doc }
    }

    /// Loads a saved document (the output of `save`, optionally followed by
    /// incremental saves).
    pub fn load(kind: RecordKind, bytes: &[u8]) -> Result<Self, RecordError> {
        Ok(Self {
            kind,
            doc: decode_untrusted(|| AutoCommit::load(bytes))?,
        })
    }

    /// The kind of record held.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The underlying Automerge document.
    pub fn automerge(&self) -> &AutoCommit {
        &self.doc
    }

    /// The underlying Automerge document, to save, sync or apply changes.
    pub fn automerge_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Gives up the wrapper.
    pub fn into_automerge(self) -> AutoCommit {
        self.doc
    }

    /// The document as plain JSON (winning values only). Maps and lists
    /// nested deeper than [`MAX_DEPTH`] read as `null`: a document that
    /// deep is refused before it is stored (see
    /// [`RecordDoc::depth_violation`]), and reading stops there whatever
    /// the bytes hold.
    pub fn to_json(&self) -> Value {
        read_object(&self.doc, &ROOT, ObjType::Map, 1)
    }

    /// The document as plain JSON as it was at `heads` (winning values
    /// only): what a record looked like before or after one change, for
    /// its history.
    pub fn to_json_at(&self, heads: &[ChangeHash]) -> Value {
        read_object_at(&self.doc, &ROOT, ObjType::Map, heads, 1)
    }

    /// The first place where the document nests maps and lists deeper than
    /// [`MAX_DEPTH`], counting every concurrent value, not only the
    /// winners; found without recursion, in time linear in the objects.
    pub fn depth_violation(&self) -> Option<Violation> {
        let mut stack: Vec<(ObjId, usize, String)> = vec![(ROOT, 1, String::new())];
        while let Some((obj, depth, path)) = stack.pop() {
            let mut children = Vec::new();
            match self.doc.object_type(&obj) {
                Ok(ObjType::Map | ObjType::Table) => {
                    for key in self.doc.keys(&obj) {
                        for (value, id) in self.doc.get_all(&obj, key.as_str()).unwrap_or_default()
                        {
                            children.push((value, id, key.clone()));
                        }
                    }
                }
                Ok(ObjType::List) => {
                    for index in 0..self.doc.length(&obj) {
                        for (value, id) in self.doc.get_all(&obj, index).unwrap_or_default() {
                            children.push((value, id, index.to_string()));
                        }
                    }
                }
                Ok(ObjType::Text) | Err(_) => {}
            }
            for (value, id, segment) in children {
                if let automerge::Value::Object(ObjType::Map | ObjType::Table | ObjType::List) =
                    value
                {
                    let child_path = join(&path, &segment);
                    if depth + 1 > MAX_DEPTH {
                        return Some(too_deep(&child_path));
                    }
                    stack.push((id, depth + 1, child_path));
                }
            }
        }
        None
    }

    /// The typed record, checked against its rules.
    pub fn read<R: Record>(&self) -> Result<R, RecordError> {
        if R::KIND != self.kind {
            return Err(invalid(
                "",
                "wrong_kind",
                format!(
                    "the document holds a {}, not a {}",
                    self.kind.as_str(),
                    R::KIND.as_str()
                ),
            ));
        }
        parse_record(self.to_json())
    }

    /// Applies a JSON merge patch (RFC 7396) as one change, if the result is
    /// a valid record; otherwise changes nothing.
    ///
    /// `null` removes a field; objects merge member by member (except atomic
    /// ones, which are replaced); lists of scalars keep the entries that stay,
    /// so a concurrent addition elsewhere survives; text fields are diffed
    /// into the existing Text. Returns the new change's hash, or `None` when
    /// the patch changed nothing.
    pub fn merge_patch<R: Record>(
        &mut self,
        patch: &Map<String, Value>,
        meta: &ChangeMeta,
    ) -> Result<Option<(R, ChangeHash)>, RecordError> {
        // Removing a field the record does not know is allowed: it is how a
        // server cleans up what a newer or faulty client wrote.
        let unknown: Vec<Violation> = patch
            .iter()
            .filter(|(key, value)| !R::FIELDS.contains(&key.as_str()) && !value.is_null())
            .map(|(key, _)| Violation::new(key.clone(), "unknown_field", "no such field"))
            .collect();
        if !unknown.is_empty() {
            return Err(RecordError::Invalid(unknown));
        }
        if let Some(violation) = depth_violation(&Value::Object(patch.clone())) {
            return Err(RecordError::Invalid(vec![violation]));
        }
        let shape = R::KIND.shape();
        if let Err(err) = patch_map(&mut self.doc, &ROOT, "", patch, &shape) {
            self.doc.rollback();
            return Err(err.into());
        }
        match self.read::<R>() {
            Ok(record) => Ok(self
                .doc
                .commit_with(meta.commit_options())
                .map(|hash| (record, hash))),
            Err(err) => {
                self.doc.rollback();
                Err(err)
            }
        }
    }

    /// Checks the document's record against its kind's type and rules.
    pub fn check(&self) -> Result<(), RecordError> {
        crate::with_record_type!(self.kind, R => self.read::<R>().map(drop))
    }

    /// [`RecordDoc::merge_patch`] for the document's own kind; returns the
    /// new change's hash, or `None` when the patch changed nothing.
    pub fn merge_patch_own_kind(
        &mut self,
        patch: &Map<String, Value>,
        meta: &ChangeMeta,
    ) -> Result<Option<ChangeHash>, RecordError> {
        crate::with_record_type!(self.kind, R => self
            .merge_patch::<R>(patch, meta)
            .map(|changed| changed.map(|(_, hash)| hash)))
    }

    /// Every field with concurrent values, depth first (down to
    /// [`MAX_DEPTH`]).
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut out = Vec::new();
        collect_conflicts(&self.doc, &ROOT, "", 1, &mut out);
        out
    }
}

/// Runs an Automerge call that decodes untrusted bytes (`load`,
/// `load_incremental`, ...). Automerge 0.12 panics on some malformed input
/// (an `unwrap` in its column decoder, found by `sync-core/fuzz`) instead of
/// returning an error; the panic is caught and returned as an
/// [`AutomergeError::EncodingError`], so hostile bytes cannot take a server
/// thread down. A document such a call was applied to may be half-changed:
/// drop it.
pub fn decode_untrusted<T>(
    decode: impl FnOnce() -> Result<T, AutomergeError>,
) -> Result<T, AutomergeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode)).unwrap_or_else(|panic| {
        let cause = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("no message");
        Err(AutomergeError::EncodingError(format!(
            "malformed Automerge bytes (the decoder panicked: {cause})"
        )))
    })
}

/// The JSON merge patch (RFC 7396) that turns `from` into `to`: changed
/// members as in `to`, removed members as `null`, nested objects diffed
/// member by member. Arrays and scalars are replaced whole.
pub fn diff_patch(from: &Map<String, Value>, to: &Map<String, Value>) -> Map<String, Value> {
    let mut patch = Map::new();
    for key in from.keys() {
        if !to.contains_key(key) {
            patch.insert(key.clone(), Value::Null);
        }
    }
    for (key, target) in to {
        match (from.get(key), target) {
            (Some(current), target) if current == target => {}
            (Some(Value::Object(current)), Value::Object(target)) => {
                patch.insert(key.clone(), Value::Object(diff_patch(current, target)));
            }
            _ => {
                patch.insert(key.clone(), target.clone());
            }
        }
    }
    patch
}

fn invalid(field: &str, code: &str, message: impl Into<String>) -> RecordError {
    RecordError::Invalid(vec![Violation::new(field, code, message)])
}

fn to_json<R: Serialize>(record: &R) -> Result<Value, RecordError> {
    serde_json::to_value(record).map_err(|err| invalid("", "not_serializable", err.to_string()))
}

/// Parses and checks a record from plain JSON (an API body, a CSV row).
pub fn parse_record<R: Record>(value: Value) -> Result<R, RecordError> {
    let record: R = deserialize_json(value)?;
    let violations = record.violations();
    if violations.is_empty() {
        Ok(record)
    } else {
        Err(RecordError::Invalid(violations))
    }
}

/// The dotted path of the first string (or key) holding a NUL character:
/// no database column keeps one (PostgreSQL refuses it in text and JSON).
/// Found without recursion.
pub fn nul_in(value: &Value) -> Option<String> {
    let mut stack: Vec<(&Value, String)> = vec![(value, String::new())];
    while let Some((value, path)) = stack.pop() {
        match value {
            Value::String(text) if text.contains('\0') => return Some(path),
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate().rev() {
                    stack.push((item, join(&path, &index.to_string())));
                }
            }
            Value::Object(members) => {
                let mut children = Vec::with_capacity(members.len());
                for (key, member) in members {
                    let child = join(&path, key);
                    if key.contains('\0') {
                        return Some(child);
                    }
                    children.push((member, child));
                }
                stack.extend(children.into_iter().rev());
            }
            _ => {}
        }
    }
    None
}

/// The violation of text holding a NUL character at `path`.
pub fn nul_violation(path: &str) -> Violation {
    Violation::new(path, "invalid_value", "text may not contain NUL characters")
}

/// Deserializes any JSON shape, naming the field that does not fit; text
/// holding a NUL character is refused (`invalid_value`), for no database
/// keeps it, and so are maps and lists nested deeper than [`MAX_DEPTH`]
/// (`too_deep`).
pub fn deserialize_json<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, RecordError> {
    if let Some(path) = nul_in(&value) {
        return Err(RecordError::Invalid(vec![nul_violation(&path)]));
    }
    if let Some(violation) = depth_violation(&value) {
        return Err(RecordError::Invalid(vec![violation]));
    }
    let mut value = value;
    integral_floats_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let path = if path == "." { String::new() } else { path };
        let inner = err.into_inner().to_string();
        // serde reports a missing field at its parent: name the field itself.
        let named = |prefix: &str| {
            inner
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('`').next())
                .map(|name| join(&path, name))
        };
        let (field, code) = if let Some(field) = named("missing field `") {
            (field, "required")
        } else if inner.starts_with("unknown field") {
            (path, "unknown_field")
        } else {
            (path, "invalid_value")
        };
        invalid(&field, code, inner)
    })
}

/// Turns every float without a fractional part (`3.0`) into the integer
/// it equals, without recursion: an integer field takes it (Automerge's
/// JavaScript library writes a `0` in an assigned object as a float, and
/// JSON Schema counts `3.0` as an integer), a float field reads it as the
/// same number, and `2.5` stays a float that an integer field refuses.
fn integral_floats_as_integers(value: &mut Value) {
    /// 2^63: the first float past `i64::MAX`.
    const PAST_I64: f64 = 9_223_372_036_854_775_808.0;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Number(number) => {
                if let Some(float) = number.as_f64().filter(|_| number.is_f64())
                    && float.fract() == 0.0
                    && (-PAST_I64..PAST_I64).contains(&float)
                {
                    *value = Value::from(float as i64);
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(members) => stack.extend(members.values_mut()),
            Value::Null | Value::Bool(_) | Value::String(_) => {}
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn scalar_of(value: &Value) -> ScalarValue {
    match value {
        Value::Null => ScalarValue::Null,
        Value::Bool(b) => ScalarValue::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => ScalarValue::Int(i),
            None => ScalarValue::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => ScalarValue::Str(s.as_str().into()),
        Value::Array(_) | Value::Object(_) => ScalarValue::Null,
    }
}

fn json_of_scalar(scalar: &ScalarValue) -> Value {
    match scalar {
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Int(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        ScalarValue::Counter(c) => Value::from(i64::from(c)),
        ScalarValue::Timestamp(ms) => DateTime::<Utc>::from_timestamp_millis(*ms)
            .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        ScalarValue::Bytes(_) | ScalarValue::Unknown { .. } | ScalarValue::Null => Value::Null,
    }
}

/// A value as JSON; `depth` is the level it sits at (the root map is 1).
fn json_of(doc: &AutoCommit, value: &automerge::Value<'_>, id: &ObjId, depth: usize) -> Value {
    match value {
        automerge::Value::Object(ty) => read_object(doc, id, *ty, depth),
        automerge::Value::Scalar(scalar) => json_of_scalar(scalar),
    }
}

/// An object as JSON. The recursion is bounded: maps and lists below
/// [`MAX_DEPTH`] read as `null` (text is a leaf).
fn read_object(doc: &AutoCommit, obj: &ObjId, ty: ObjType, depth: usize) -> Value {
    if depth > MAX_DEPTH && ty != ObjType::Text {
        return Value::Null;
    }
    match ty {
        ObjType::Map | ObjType::Table => {
            let mut map = Map::new();
            for key in doc.keys(obj) {
                if let Ok(Some((value, id))) = doc.get(obj, key.as_str()) {
                    map.insert(key, json_of(doc, &value, &id, depth + 1));
                }
            }
            Value::Object(map)
        }
        ObjType::List => Value::Array(
            (0..doc.length(obj))
                .filter_map(|i| doc.get(obj, i).ok().flatten())
                .map(|(value, id)| json_of(doc, &value, &id, depth + 1))
                .collect(),
        ),
        ObjType::Text => Value::String(doc.text(obj).unwrap_or_default()),
    }
}

/// [`read_object`] as of `heads`, bounded the same way.
fn read_object_at(
    doc: &AutoCommit,
    obj: &ObjId,
    ty: ObjType,
    heads: &[ChangeHash],
    depth: usize,
) -> Value {
    if depth > MAX_DEPTH && ty != ObjType::Text {
        return Value::Null;
    }
    let json_at = |value: &automerge::Value<'_>, id: &ObjId| match value {
        automerge::Value::Object(ty) => read_object_at(doc, id, *ty, heads, depth + 1),
        automerge::Value::Scalar(scalar) => json_of_scalar(scalar),
    };
    match ty {
        ObjType::Map | ObjType::Table => {
            let mut map = Map::new();
            for key in doc.keys_at(obj, heads) {
                if let Ok(Some((value, id))) = doc.get_at(obj, key.as_str(), heads) {
                    map.insert(key, json_at(&value, &id));
                }
            }
            Value::Object(map)
        }
        ObjType::List => Value::Array(
            (0..doc.length_at(obj, heads))
                .filter_map(|i| doc.get_at(obj, i, heads).ok().flatten())
                .map(|(value, id)| json_at(&value, &id))
                .collect(),
        ),
        ObjType::Text => Value::String(doc.text_at(obj, heads).unwrap_or_default()),
    }
}

/// The value at `key` of a map as JSON, read to [`MAX_DEPTH`] from there.
fn current_json(doc: &AutoCommit, obj: &ObjId, key: &str) -> Option<Value> {
    doc.get(obj, key)
        .ok()
        .flatten()
        .map(|(value, id)| json_of(doc, &value, &id, 1))
}

fn write_map_members(
    doc: &mut AutoCommit,
    obj: &ObjId,
    path: &str,
    members: &Map<String, Value>,
    shape: &Shape,
) -> Result<(), automerge::AutomergeError> {
    for (key, value) in members {
        if !value.is_null() {
            put_new(doc, obj, &join(path, key), key, value, shape)?;
        }
    }
    Ok(())
}

/// Writes `value` at `key` of map `obj` as a fresh object or scalar.
fn put_new(
    doc: &mut AutoCommit,
    obj: &ObjId,
    path: &str,
    key: &str,
    value: &Value,
    shape: &Shape,
) -> Result<(), automerge::AutomergeError> {
    match value {
        Value::Object(members) => {
            let child = doc.put_object(obj, key, ObjType::Map)?;
            write_map_members(doc, &child, path, members, shape)
        }
        Value::Array(items) => {
            let child = doc.put_object(obj, key, ObjType::List)?;
            insert_items(doc, &child, path, items, shape)
        }
        Value::String(text) if shape.text_fields.contains(&path) => {
            let child = doc.put_object(obj, key, ObjType::Text)?;
            doc.splice_text(&child, 0, 0, text)
        }
        scalar => doc.put(obj, key, scalar_of(scalar)),
    }
}

fn insert_items(
    doc: &mut AutoCommit,
    list: &ObjId,
    path: &str,
    items: &[Value],
    shape: &Shape,
) -> Result<(), automerge::AutomergeError> {
    for (index, item) in items.iter().enumerate() {
        match item {
            Value::Object(members) => {
                let child = doc.insert_object(list, index, ObjType::Map)?;
                write_map_members(doc, &child, &join(path, &index.to_string()), members, shape)?;
            }
            Value::Array(inner) => {
                let child = doc.insert_object(list, index, ObjType::List)?;
                insert_items(doc, &child, &join(path, &index.to_string()), inner, shape)?;
            }
            scalar => doc.insert(list, index, scalar_of(scalar))?,
        }
    }
    Ok(())
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn patch_map(
    doc: &mut AutoCommit,
    obj: &ObjId,
    path: &str,
    patch: &Map<String, Value>,
    shape: &Shape,
) -> Result<(), automerge::AutomergeError> {
    for (key, new) in patch {
        let field = join(path, key);
        let current = doc.get(obj, key.as_str())?;
        match (new, current) {
            (Value::Null, None) => {}
            (Value::Null, Some(_)) => doc.delete(obj, key.as_str())?,
            (Value::Object(members), Some((automerge::Value::Object(ObjType::Map), child)))
                if !shape.atomic_fields.contains(&field.as_str()) =>
            {
                patch_map(doc, &child, &field, members, shape)?;
            }
            (Value::String(text), Some((automerge::Value::Object(ObjType::Text), child))) => {
                doc.update_text(&child, text)?;
            }
            (Value::Array(items), Some((automerge::Value::Object(ObjType::List), child)))
                if items.iter().all(is_scalar) =>
            {
                patch_scalar_list(doc, &child, items)?;
            }
            (Value::Array(items), Some((automerge::Value::Object(ObjType::List), child))) => {
                match (item_ids(items), item_ids(&list_items(doc, &child))) {
                    (Some(new_ids), Some(current_ids)) => patch_identified_list(
                        doc,
                        &child,
                        &field,
                        items,
                        &new_ids,
                        current_ids,
                        shape,
                    )?,
                    _ => replace(doc, obj, &field, key, new, shape)?,
                }
            }
            (new, _) => replace(doc, obj, &field, key, new, shape)?,
        }
    }
    Ok(())
}

/// Puts `new` at `key` as a fresh value, unless it is there already.
fn replace(
    doc: &mut AutoCommit,
    obj: &ObjId,
    field: &str,
    key: &str,
    new: &Value,
    shape: &Shape,
) -> Result<(), automerge::AutomergeError> {
    let unchanged = current_json(doc, obj, key).is_some_and(|old| &old == new);
    if !unchanged {
        let cleaned = strip_nulls(new);
        put_new(doc, obj, field, key, &cleaned, shape)?;
    }
    Ok(())
}

fn list_items(doc: &AutoCommit, list: &ObjId) -> Vec<Value> {
    match read_object(doc, list, ObjType::List, 1) {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// The `id` members of a list of objects, if every item has a distinct
/// string `id`.
fn item_ids(items: &[Value]) -> Option<Vec<String>> {
    let ids: Vec<String> = items
        .iter()
        .map(|item| item.get("id").and_then(Value::as_str).map(str::to_owned))
        .collect::<Option<_>>()?;
    let distinct: std::collections::HashSet<&String> = ids.iter().collect();
    (distinct.len() == ids.len()).then_some(ids)
}

/// Turns a list of objects that carry ids into `new` item by item: items
/// that go are deleted, items that come are inserted where they stand, and
/// items that stay are merge-patched in place, so that devices editing
/// different items, or different fields of one item, all keep their edits.
/// Rebuilds the list only when the order of the staying items changed.
fn patch_identified_list(
    doc: &mut AutoCommit,
    list: &ObjId,
    path: &str,
    new: &[Value],
    new_ids: &[String],
    current_ids: Vec<String>,
    shape: &Shape,
) -> Result<(), automerge::AutomergeError> {
    for index in (0..current_ids.len()).rev() {
        if !new_ids.contains(&current_ids[index]) {
            doc.delete(list, index)?;
        }
    }
    let mut kept: Vec<String> = current_ids
        .into_iter()
        .filter(|id| new_ids.contains(id))
        .collect();
    let kept_in_new_order: Vec<&String> = new_ids.iter().filter(|id| kept.contains(id)).collect();
    if kept_in_new_order != kept.iter().collect::<Vec<_>>() {
        for index in (0..kept.len()).rev() {
            doc.delete(list, index)?;
        }
        let cleaned: Vec<Value> = new.iter().map(strip_nulls).collect();
        return insert_items(doc, list, path, &cleaned, shape);
    }
    for (index, (item, id)) in new.iter().zip(new_ids).enumerate() {
        let Value::Object(members) = item else {
            continue;
        };
        let item_path = join(path, &index.to_string());
        match doc.get(list, index)? {
            Some((automerge::Value::Object(ObjType::Map), child))
                if kept.get(index) == Some(id) =>
            {
                let mut patch = members.clone();
                for key in doc.keys(&child).collect::<Vec<_>>() {
                    patch.entry(key).or_insert(Value::Null);
                }
                patch_map(doc, &child, &item_path, &patch, shape)?;
            }
            _ => {
                let child = doc.insert_object(list, index, ObjType::Map)?;
                write_map_members(doc, &child, &item_path, members, shape)?;
                kept.insert(index, id.clone());
            }
        }
    }
    Ok(())
}

/// Merge-patch semantics for a fresh object: a `null` member means absent.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), strip_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Turns a list of scalars into `new` by deleting the entries that go and
/// appending the ones that come, so a concurrent addition by another device
/// survives; rebuilds the list only when the order itself changed.
fn patch_scalar_list(
    doc: &mut AutoCommit,
    list: &ObjId,
    new: &[Value],
) -> Result<(), automerge::AutomergeError> {
    let read = |doc: &AutoCommit| match read_object(doc, list, ObjType::List, 1) {
        Value::Array(items) => items,
        _ => Vec::new(),
    };
    let current = read(doc);
    if current == new {
        return Ok(());
    }
    for index in (0..current.len()).rev() {
        if !new.contains(&current[index]) {
            doc.delete(list, index)?;
        }
    }
    let mut kept = read(doc);
    for item in new {
        if !kept.contains(item) {
            doc.insert(list, kept.len(), scalar_of(item))?;
            kept.push(item.clone());
        }
    }
    if kept != new {
        for index in (0..kept.len()).rev() {
            doc.delete(list, index)?;
        }
        for (index, item) in new.iter().enumerate() {
            doc.insert(list, index, scalar_of(item))?;
        }
    }
    Ok(())
}

/// The conflicts of map `obj` at level `depth` and of the maps below it,
/// down to [`MAX_DEPTH`].
fn collect_conflicts(
    doc: &AutoCommit,
    obj: &ObjId,
    path: &str,
    depth: usize,
    out: &mut Vec<Conflict>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for key in doc.keys(obj) {
        let field = join(path, &key);
        let Ok(Some((winner, winner_id))) = doc.get(obj, key.as_str()) else {
            continue;
        };
        let all = doc.get_all(obj, key.as_str()).unwrap_or_default();
        if all.len() > 1 {
            out.push(Conflict {
                field: field.clone(),
                value: json_of(doc, &winner, &winner_id, depth + 1),
                others: all
                    .iter()
                    .filter(|(_, id)| *id != winner_id)
                    .map(|(value, id)| json_of(doc, value, id, depth + 1))
                    .collect(),
            });
        }
        if let automerge::Value::Object(ObjType::Map) = winner {
            collect_conflicts(doc, &winner_id, &field, depth + 1, out);
        }
    }
}
