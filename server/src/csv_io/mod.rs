//! CSV import and export of synced records (accounts, visits, ...), for the
//! REST API and the `kam-server import` / `export` commands alike.
//!
//! A file's header row names its columns (see each kind's
//! [`CsvKind::COLUMNS`]; `id` is always allowed). A row with the `id` of a
//! record that exists changes it as a merge patch would; any other row
//! creates a record (with that id, if given). An empty cell leaves a field
//! as it is. Rows that break a rule are reported, each fault with its
//! line, column and a stable code (every fault of a row, not only the
//! first), and skipped; the others are imported. Lines are counted in the
//! file as it is, whatever its line ends (`\n`, `\r\n` or `\r`), a quoted
//! cell's line breaks included. Every imported
//! record is a real Automerge document, stored and materialized exactly as
//! a REST write is, in one transaction per batch of [`BATCH_ROWS`] rows, so
//! devices pull imported records like any others. A file with ids imports
//! idempotently: the second run changes nothing.
//!
//! A username in a `User` column that names nobody is judged as a user the
//! caller may not assign ([`NO_SUCH_USER`]): the report does not tell which
//! usernames exist.
//!
//! Spreadsheets run a cell that starts with `=`, `+`, `-`, `@`, a tab or a
//! carriage return as a formula (CWE-1236). An export writes such a text
//! cell with a `'` before it, as OWASP advises, which spreadsheets show as
//! text; so that the export imports back exactly, a text cell of quotes
//! followed by such a character gets one quote more, and the import takes
//! exactly one quote away from a cell of one or more quotes followed by
//! such a character ([`neutralize`], [`unneutralize`]). Every other cell
//! imports exactly as written, `=1+2` included; a value that really starts
//! with `'=` is written `''=` in a file made by hand. Numbers (`-33.5`)
//! are left alone.

pub mod kinds;

use crate::access::require_writer;
use crate::auth::AuthUser;
use crate::entities::user;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::records::accounts::visible_among;
use crate::records::kind::Pending;
use crate::records::write::UnitOfWork;
use crate::records::{ChangeSet, Review, Staged, with_fields};
use crate::state::AppState;
use crate::store::load_many;
use kam_sync_core::{ChangeMeta, Record, RecordDoc, parse_record};
pub use kinds::{CsvKind, CsvKindName};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Rows written per transaction: large enough that a 10,000-row file takes
/// a few dozen commits, small enough that a batch holds locks briefly.
pub const BATCH_ROWS: usize = 500;

/// Rows of an export read per query.
const EXPORT_PAGE: u64 = 1_000;

/// What a username that names nobody stands for: an id no user has, so the
/// row is refused exactly as for a user the caller may not assign.
pub const NO_SUCH_USER: Uuid = Uuid::nil();

/// First characters that make a spreadsheet take a cell for a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `cell`, past any leading quotes, starts like a formula.
fn formula_like(cell: &str) -> bool {
    cell.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// A text cell as exported: `'` before one a spreadsheet would run as a
/// formula, or that is quotes before such a character (see the module doc).
pub fn neutralize(cell: String) -> String {
    if formula_like(&cell) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// A text cell as imported: the quote [`neutralize`] added taken away, and
/// anything else exactly as written.
pub fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if formula_like(rest) => rest,
        _ => cell,
    }
}

/// How a column's cells read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text as is (dates and times as RFC 3339, enums by their code).
    Text,
    /// A whole number.
    Integer,
    /// A decimal number.
    Decimal,
    /// `true` / `false` (also `yes` / `no`, `1` / `0`).
    Bool,
    /// A list of short texts separated by `;`.
    List,
    /// A user, by username or id; written as the id.
    User,
}

/// One column of a kind's CSV form.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The header name.
    pub name: &'static str,
    /// The record field it holds, as a dotted path (`address.city`).
    pub path: &'static str,
    /// How its cells read and write.
    pub format: Format,
}

/// A fault of a row that was not imported: a row with several faults has
/// one rejection for each, all with its line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rejection {
    /// Its line in the file (the header is line 1).
    pub line: u64,
    /// The column at fault, when one is.
    pub column: Option<String>,
    /// A stable snake_case code (`required`, `invalid_value`, `unknown_user`, `not_found`, ...).
    pub code: String,
    /// What was wrong, for a person.
    pub message: String,
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Records created.
    pub imported: u64,
    /// Existing records changed.
    pub updated: u64,
    /// Rows naming an existing record that they left as it was.
    pub unchanged: u64,
    /// Rows skipped.
    pub rejected_rows: u64,
    /// The faults of the rows skipped, in line order: every fault of a
    /// row, each with its line, column and reason.
    pub rejected: Vec<Rejection>,
    /// True when nothing was written.
    pub dry_run: bool,
}

impl ImportReport {
    /// Notes a skipped row and its faults.
    fn reject_row(&mut self, faults: Vec<Rejection>) {
        self.rejected_rows += 1;
        self.rejected.extend(faults);
    }

    /// The rejected rows as CSV (`line,column,code,message`), messages
    /// neutralized as exported text is.
    pub fn rejects_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["line", "column", "code", "message"])?;
        for rejection in &self.rejected {
            writer.write_record([
                rejection.line.to_string(),
                rejection.column.clone().unwrap_or_default(),
                rejection.code.clone(),
                neutralize(rejection.message.clone()),
            ])?;
        }
        Ok(writer.into_inner()?)
    }
}

/// A data row read from the file.
struct Row {
    line: u64,
    cells: csv::StringRecord,
}

/// A row turned into the merge patch it makes, from the cells that parse.
struct ParsedRow {
    line: u64,
    id: Option<Uuid>,
    patch: Map<String, Value>,
    /// The cells that do not parse: the row is rejected, after its other
    /// cells are checked too.
    bad_cells: Vec<Rejection>,
}

fn reject(line: u64, column: Option<&str>, code: &str, message: impl Into<String>) -> Rejection {
    Rejection {
        line,
        column: column.map(str::to_owned),
        code: code.to_owned(),
        message: message.into(),
    }
}

/// The header's columns, in file order (`None`: the `id` column).
fn read_header<K: CsvKind>(header: &csv::StringRecord) -> ApiResult<Vec<Option<Column>>> {
    let mut seen = HashSet::new();
    header
        .iter()
        .map(|name| {
            let name = name.trim().to_lowercase();
            if !seen.insert(name.clone()) {
                return Err(ApiError::new(
                    ErrorCode::DuplicateColumn,
                    format!("the column `{name}` appears twice"),
                ));
            }
            if name == "id" {
                return Ok(None);
            }
            K::COLUMNS
                .iter()
                .find(|column| column.name == name)
                .copied()
                .map(Some)
                .ok_or_else(|| {
                    let known: Vec<&str> = K::COLUMNS.iter().map(|c| c.name).collect();
                    ApiError::new(
                        ErrorCode::UnknownColumn,
                        format!(
                            "{} have no column `{name}`; the columns are id, {}",
                            K::PLURAL,
                            known.join(", ")
                        ),
                    )
                })
        })
        .collect()
}

/// A file as read: the header's columns (`None`: the `id` column) and every
/// data row, or the rejection of a row that cannot be read.
struct CsvFile {
    columns: Vec<Option<Column>>,
    rows: Vec<Result<Row, Rejection>>,
}

/// The line each record of a file starts on, counted from the bytes: the
/// csv crate's own count is one short after every `\r\n`. Records are
/// asked for in file order, so the whole file is walked once.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Where counting stopped, and the line there.
    offset: usize,
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record the csv crate places at `position`: that is
    /// where the previous record ended, so the line ends and blank lines
    /// after it are skipped first.
    fn line_of(&mut self, position: Option<&csv::Position>) -> u64 {
        let from = position
            .and_then(|position| usize::try_from(position.byte()).ok())
            .unwrap_or(self.offset)
            .clamp(self.offset, self.bytes.len());
        let start = self.bytes[from..]
            .iter()
            .position(|byte| !matches!(byte, b'\r' | b'\n'))
            .map_or(self.bytes.len(), |skipped| from + skipped);
        for (at, byte) in self.bytes[self.offset..start].iter().enumerate() {
            let next = self.bytes.get(self.offset + at + 1);
            if *byte == b'\n' || (*byte == b'\r' && next != Some(&b'\n')) {
                self.line += 1;
            }
        }
        self.offset = start;
        self.line
    }
}

/// Reads the whole file.
fn read_file<K: CsvKind>(bytes: &[u8]) -> ApiResult<CsvFile> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines = LineCounter::new(bytes);
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|err| ApiError::new(ErrorCode::InvalidCsv, format!("unreadable header: {err}")))?
        .clone();
    if header.is_empty() {
        return Err(ApiError::new(ErrorCode::InvalidCsv, "the file is empty"));
    }
    let columns = read_header::<K>(&header)?;
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = lines.line_of(record.position());
                rows.push(Ok(Row {
                    line,
                    cells: record.clone(),
                }));
            }
            Err(err) => {
                let line = lines.line_of(err.position());
                let code = match err.kind() {
                    csv::ErrorKind::Utf8 { .. } => "invalid_utf8",
                    csv::ErrorKind::UnequalLengths { .. } => "wrong_column_count",
                    _ => "malformed_row",
                };
                rows.push(Err(reject(line, None, code, err.to_string())));
                if !matches!(
                    err.kind(),
                    csv::ErrorKind::Utf8 { .. } | csv::ErrorKind::UnequalLengths { .. }
                ) {
                    break;
                }
            }
        }
    }
    Ok(CsvFile { columns, rows })
}

/// The ids of the users named by username in `User` columns, in one query
/// per few hundred names.
async fn users_by_name(
    state: &AppState,
    columns: &[Option<Column>],
    rows: &[Result<Row, Rejection>],
) -> ApiResult<HashMap<String, Uuid>> {
    let names: HashSet<String> = rows
        .iter()
        .filter_map(|row| row.as_ref().ok())
        .flat_map(|row| {
            columns
                .iter()
                .zip(row.cells.iter())
                .filter(|(column, _)| column.is_some_and(|c| c.format == Format::User))
                .map(|(_, cell)| cell.trim().to_owned())
        })
        .filter(|cell| !cell.is_empty() && Uuid::parse_str(cell).is_err())
        .collect();
    let names: Vec<String> = names.into_iter().collect();
    let mut found = HashMap::new();
    for chunk in names.chunks(BATCH_ROWS) {
        let users: Vec<(String, Uuid)> = user::Entity::find()
            .select_only()
            .column(user::Column::Username)
            .column(user::Column::Id)
            .filter(user::Column::Username.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(state.db.conn())
            .await?;
        found.extend(users);
    }
    Ok(found)
}

/// A cell as the JSON value of its field, `None` when empty.
fn parse_cell(
    column: &Column,
    cell: &str,
    users: &HashMap<String, Uuid>,
) -> Result<Option<Value>, (&'static str, String)> {
    let trimmed = cell.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let value = match column.format {
        Format::Text => Value::String(unneutralize(cell).to_owned()),
        Format::Integer => trimmed
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| ("invalid_value", "not a whole number".to_owned()))?,
        Format::Decimal => trimmed
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| ("invalid_value", "not a number".to_owned()))?,
        Format::Bool => match trimmed.to_lowercase().as_str() {
            "true" | "yes" | "1" => Value::Bool(true),
            "false" | "no" | "0" => Value::Bool(false),
            _ => return Err(("invalid_value", "not true or false".to_owned())),
        },
        Format::List => Value::Array(
            unneutralize(trimmed)
                .split(';')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        ),
        Format::User => {
            let id = Uuid::parse_str(trimmed)
                .ok()
                .or_else(|| users.get(trimmed).copied())
                .unwrap_or(NO_SUCH_USER);
            Value::String(id.to_string())
        }
    };
    Ok(Some(value))
}

/// Sets `value` at a dotted `path` of `object`, making the maps between.
fn set_path(object: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            object.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let child = object
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(child) = child {
                set_path(child, rest, value);
            }
        }
    }
}

/// The value at a dotted `path` of `value`, if any.
fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |value, key| value.get(key))
}

/// Turns a row into its merge patch and the rejections of its bad cells;
/// with a bad id (the row's record unknown, so nothing more to check),
/// only the rejections of all its bad cells.
fn parse_row(
    columns: &[Option<Column>],
    row: &Row,
    users: &HashMap<String, Uuid>,
) -> Result<ParsedRow, Vec<Rejection>> {
    let mut id = Ok(None);
    let mut patch = Map::new();
    let mut bad_cells = Vec::new();
    for (column, cell) in columns.iter().zip(row.cells.iter()) {
        match column {
            None if cell.trim().is_empty() => {}
            None => {
                id = Uuid::parse_str(cell.trim()).map(Some);
                if id.is_err() {
                    bad_cells.push(reject(row.line, Some("id"), "invalid_value", "not a UUID"));
                }
            }
            Some(column) => match parse_cell(column, cell, users) {
                Ok(Some(value)) => set_path(&mut patch, column.path, value),
                Ok(None) => {}
                Err((code, message)) => {
                    bad_cells.push(reject(row.line, Some(column.name), code, message));
                }
            },
        }
    }
    match id {
        Ok(id) => Ok(ParsedRow {
            line: row.line,
            id,
            patch,
            bad_cells,
        }),
        Err(_) => Err(bad_cells),
    }
}

/// The column that holds a record field, named as in the file.
fn column_of<K: CsvKind>(field: &str) -> String {
    K::COLUMNS
        .iter()
        .find(|column| {
            field == column.path
                || field.starts_with(&format!("{}.", column.path))
                || column.path.starts_with(&format!("{field}."))
        })
        .map_or_else(|| field.to_owned(), |column| column.name.to_owned())
}

/// Why a row was refused: every rule it broke, each with the field at
/// fault when the rule is a refused change of one field.
struct RowError(Vec<Fault>);

/// One rule a row broke.
struct Fault {
    field: Option<&'static str>,
    error: ApiError,
}

impl From<ApiError> for RowError {
    fn from(error: ApiError) -> Self {
        Self(vec![Fault { field: None, error }])
    }
}

impl From<kam_sync_core::RecordError> for RowError {
    fn from(error: kam_sync_core::RecordError) -> Self {
        ApiError::from(error).into()
    }
}

/// The derived fields of a review, or every refused change as the row's
/// error.
fn derived_or_refusal(review: Review) -> Result<Map<String, Value>, RowError> {
    if review.refusals.is_empty() {
        return Ok(review.derived);
    }
    Err(RowError(
        review
            .refusals
            .into_iter()
            .map(|refusal| Fault {
                field: Some(refusal.field),
                error: refusal.error,
            })
            .collect(),
    ))
}

/// What `check` makes of a row's patch, or every violation it finds there.
/// A record is read with serde, which stops at the first bad field, so
/// after a failure `check` runs again without the top-level fields blamed
/// so far (what it then says of a field left out, `required`, is no fault
/// of the row's); it ends when a run passes or blames no field still in the
/// patch, so it runs at most once more than the patch has fields. A
/// required field that is missing ends the checks, as serde reports it
/// before the record's own rules run.
fn every_violation<T>(
    patch: &Map<String, Value>,
    mut check: impl FnMut(&Map<String, Value>) -> Result<T, kam_sync_core::RecordError>,
) -> Result<T, RowError> {
    let mut remaining = patch.clone();
    let mut left_out = HashSet::new();
    let mut violations: Vec<kam_sync_core::Violation> = Vec::new();
    loop {
        match check(&remaining) {
            Ok(checked) if violations.is_empty() => return Ok(checked),
            Ok(_) => break,
            Err(kam_sync_core::RecordError::Invalid(found)) => {
                let fields_before = remaining.len();
                for violation in found {
                    let field = violation.field.split('.').next().unwrap_or_default();
                    if left_out.contains(field) || violations.contains(&violation) {
                        continue;
                    }
                    if remaining.remove(field).is_some() {
                        left_out.insert(field.to_owned());
                    }
                    violations.push(violation);
                }
                if remaining.len() == fields_before {
                    break;
                }
            }
            Err(err) => return Err(err.into()),
        }
    }
    Err(kam_sync_core::RecordError::Invalid(violations).into())
}

/// Every rule broken by a row, as its rejections (each violation, or the
/// refused field, names the column); a server failure stops the import.
fn rejections_of<K: CsvKind>(line: u64, err: RowError) -> ApiResult<Vec<Rejection>> {
    let mut rejections = Vec::new();
    for fault in err.0 {
        let problem = fault.error.problem();
        if problem.status >= 500 {
            return Err(fault.error);
        }
        if problem.violations.is_empty() {
            let column = fault.field.map(column_of::<K>);
            rejections.push(reject(
                line,
                column.as_deref(),
                &problem.code,
                problem.detail,
            ));
        }
        for violation in &problem.violations {
            let column = Some(violation.field.as_str())
                .filter(|field| !field.is_empty())
                .or(fault.field)
                .map(column_of::<K>);
            rejections.push(reject(
                line,
                column.as_deref(),
                &violation.code,
                &violation.message,
            ));
        }
    }
    Ok(rejections)
}

/// What a row comes to when the rules were checked.
enum RowOutcome {
    Created(Staged),
    Updated(Staged),
    Unchanged,
}

/// Imports a CSV file of `K` records on `caller`'s behalf, with the same
/// rules as the REST writes; `meta` says who and from where. With
/// `dry_run`, checks everything and writes nothing. `progress` is told the
/// rows done and the rows in all after each batch.
pub async fn import<K: CsvKind>(
    state: &AppState,
    caller: &AuthUser,
    meta: &ChangeMeta,
    bytes: &[u8],
    dry_run: bool,
    progress: &dyn Fn(u64, u64),
) -> ApiResult<ImportReport> {
    require_writer(caller)?;
    let CsvFile { columns, rows } = read_file::<K>(bytes)?;
    let users = users_by_name(state, &columns, &rows).await?;
    let mut report = ImportReport {
        dry_run,
        ..ImportReport::default()
    };
    let mut parsed = Vec::with_capacity(rows.len());
    let mut seen_ids = HashSet::new();
    for row in &rows {
        let row = row
            .as_ref()
            .map_err(|rejection| vec![rejection.clone()])
            .and_then(|row| parse_row(&columns, row, &users));
        match row {
            Ok(mut row) if row.id.is_some_and(|id| !seen_ids.insert(id)) => {
                row.bad_cells.push(reject(
                    row.line,
                    Some("id"),
                    "duplicate_id",
                    "an earlier row has this id",
                ));
                report.reject_row(row.bad_cells);
            }
            Ok(row) => parsed.push(row),
            Err(rejections) => report.reject_row(rejections),
        }
    }
    let total = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    let mut done = total - u64::try_from(parsed.len()).unwrap_or(0);
    for batch in parsed.chunks(BATCH_ROWS) {
        import_batch::<K>(state, caller, meta, batch, &mut report).await?;
        done += u64::try_from(batch.len()).unwrap_or(0);
        progress(done, total);
    }
    progress(total, total);
    report.rejected.sort_by_key(|rejection| rejection.line);
    Ok(report)
}

async fn import_batch<K: CsvKind>(
    state: &AppState,
    caller: &AuthUser,
    meta: &ChangeMeta,
    batch: &[ParsedRow],
    report: &mut ImportReport,
) -> ApiResult<()> {
    let txn = state.db.begin_write().await?;
    let ids: Vec<Uuid> = batch.iter().filter_map(|row| row.id).collect();
    let mut existing = load_many(&txn, &state.cache, &ids, true).await?;
    let account_ids: Vec<Uuid> = existing.values().map(|l| l.row.account_id).collect();
    let mut visible_accounts = visible_among(&txn, caller, &account_ids).await?;
    let mut checked_accounts: HashSet<Uuid> = account_ids.into_iter().collect();
    let mut prepared = Vec::with_capacity(batch.len());
    // The batch's records are stored together, after every review: a later
    // row's review reads the earlier ones here, as a sync request's do.
    let mut pending = Pending::default();
    let (mut imported, mut updated, mut unchanged) = (0, 0, 0);
    for row in batch {
        let line = row.line;
        let mut rejections = row.bad_cells.clone();
        let outcome = match row.id.and_then(|id| existing.remove(&id)) {
            Some(loaded) if loaded.row.kind != <K::Record as Record>::KIND.as_str() => {
                Err(ApiError::invalid_field(
                    "id",
                    "wrong_kind",
                    format!("this id is a {}", loaded.row.kind),
                )
                .into())
            }
            Some(loaded) if !visible_accounts.contains(&loaded.row.account_id) => {
                Err(ApiError::invalid_field("id", "not_found", "no such record").into())
            }
            Some(loaded) => {
                update_one::<K>(state, &txn, caller, meta, loaded, &row.patch, &pending)
                    .await
                    .map(|write| write.map_or(RowOutcome::Unchanged, RowOutcome::Updated))
            }
            None => {
                let id = row.id.unwrap_or_else(Uuid::now_v7);
                match new_record::<K>(caller, &row.patch) {
                    Err(err) => Err(err),
                    Ok((record, json)) => {
                        let account = <K::Record as Record>::KIND
                            .account_of(id, &json)
                            .filter(|a| *a != id);
                        if let Some(account) = account
                            && checked_accounts.insert(account)
                        {
                            visible_accounts.extend(visible_among(&txn, caller, &[account]).await?);
                        }
                        if account.is_some_and(|account| !visible_accounts.contains(&account)) {
                            Err(ApiError::invalid_field(
                                "account_id",
                                "unknown_account",
                                "no such account",
                            )
                            .into())
                        } else {
                            create_one::<K>(state, &txn, caller, meta, id, record, &pending)
                                .await
                                .map(RowOutcome::Created)
                        }
                    }
                }
            }
        };
        match outcome {
            Err(err) => rejections.extend(rejections_of::<K>(line, err)?),
            Ok(outcome) if rejections.is_empty() => match outcome {
                RowOutcome::Created(write) => {
                    imported += 1;
                    note_pending::<K>(&mut pending, &write);
                    prepared.push(write);
                }
                RowOutcome::Updated(write) => {
                    updated += 1;
                    note_pending::<K>(&mut pending, &write);
                    prepared.push(write);
                }
                RowOutcome::Unchanged => unchanged += 1,
            },
            // The cells that did parse were checked too; the row is not written.
            Ok(_) => {}
        }
        if !rejections.is_empty() {
            report.reject_row(rejections);
        }
    }
    if !report.dry_run && !prepared.is_empty() {
        let mut work = UnitOfWork::default();
        for staged in prepared {
            work.stage(staged);
        }
        work.store(&txn, &state.settings).await?;
        work.commit(txn, &state.cache).await?;
    }
    report.imported += imported;
    report.updated += updated;
    report.unchanged += unchanged;
    Ok(())
}

/// Notes a record the batch will store for the reviews of its later rows,
/// when its kind's reviews read such records.
fn note_pending<K: CsvKind>(pending: &mut Pending, write: &Staged) {
    if K::READ_BY_LATER_REVIEWS {
        pending.add(<K::Record as Record>::KIND, write.id, write.doc.to_json());
    }
}

/// Merges a row's patch into an existing record, as a REST `PATCH` would;
/// `None` when it changes nothing.
async fn update_one<K: CsvKind>(
    state: &AppState,
    txn: &impl sea_orm::ConnectionTrait,
    caller: &AuthUser,
    meta: &ChangeMeta,
    loaded: crate::store::Loaded,
    patch: &Map<String, Value>,
    pending: &Pending,
) -> Result<Option<Staged>, RowError> {
    let crate::store::Loaded {
        row,
        mut doc,
        heads,
    } = loaded;
    let current: K::Record = doc.read()?;
    doc.automerge_mut().set_actor(state.actor.clone());
    let Some((patched, _)) = every_violation(patch, |patch| doc.merge_patch(patch, meta))? else {
        state.cache.put(row.id, doc.into_automerge(), row.last_seq);
        return Ok(None);
    };
    let derived = derived_or_refusal(
        crate::records::kind::review::<K>(txn, caller, row.id, Some(&current), &patched, pending)
            .await?,
    )?;
    if !derived.is_empty() {
        doc.merge_patch::<K::Record>(&derived, meta)?;
    }
    let change = ChangeSet::since(&mut doc, &heads, meta)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a patch made no change")))?;
    Ok(Some(Staged {
        id: row.id,
        existing: Some(row),
        doc,
        changes: vec![change],
        snapshot: None,
    }))
}

/// A new record from the importing user's defaults and a row's patch, with
/// its JSON, or every violation of the row.
fn new_record<K: CsvKind>(
    caller: &AuthUser,
    patch: &Map<String, Value>,
) -> Result<(K::Record, Value), RowError> {
    let record: K::Record = every_violation(patch, |patch| {
        let mut body = K::defaults(caller);
        body.extend(patch.clone());
        parse_record(Value::Object(body))
    })?;
    let json = serde_json::to_value(&record).map_err(ApiError::internal)?;
    Ok((record, json))
}

/// Makes a new record's document, as a REST `POST` would.
async fn create_one<K: CsvKind>(
    state: &AppState,
    txn: &impl sea_orm::ConnectionTrait,
    caller: &AuthUser,
    meta: &ChangeMeta,
    id: Uuid,
    record: K::Record,
    pending: &Pending,
) -> Result<Staged, RowError> {
    let derived = derived_or_refusal(
        crate::records::kind::review::<K>(txn, caller, id, None, &record, pending).await?,
    )?;
    let record: K::Record = with_fields(&record, &derived)?;
    let mut doc = RecordDoc::create(&record, state.actor.clone(), meta)?;
    let change = ChangeSet::since(&mut doc, &[], meta)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a new document made no change")))?;
    Ok(Staged {
        id,
        existing: None,
        doc,
        changes: vec![change],
        snapshot: None,
    })
}

/// The device name changes made by the import and export commands carry.
pub const COMMAND_DEVICE: &str = "csv-import";

/// The user a command acts as: an active user, by username.
pub async fn acting_user(state: &AppState, username: &str) -> anyhow::Result<AuthUser> {
    let row = user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(state.db.conn())
        .await?
        .filter(|user| user.active)
        .ok_or_else(|| anyhow::anyhow!("no active user is called `{username}`"))?;
    let mut caller = AuthUser::without_session(state.db.conn(), &row)
        .await
        .map_err(|err| anyhow::anyhow!("cannot read user `{username}`: {err}"))?;
    caller.device_id = COMMAND_DEVICE.to_owned();
    Ok(caller)
}

/// `kam-server import`: imports a file as `username` would through the
/// API, changes made from the device [`COMMAND_DEVICE`].
pub async fn import_as(
    state: &AppState,
    username: &str,
    kind: CsvKindName,
    bytes: &[u8],
    dry_run: bool,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<ImportReport> {
    let caller = acting_user(state, username).await?;
    let meta = state.change_meta(&caller);
    kind.import(state, &caller, &meta, bytes, dry_run, progress)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))
}

/// `kam-server export`: the records `username` may see, or all of them.
pub async fn export_as(
    state: &AppState,
    username: Option<&str>,
    kind: CsvKindName,
    out: impl std::io::Write,
) -> anyhow::Result<u64> {
    let caller = match username {
        Some(username) => Some(acting_user(state, username).await?),
        None => None,
    };
    kind.export(state, caller.as_ref(), out)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))
}

/// A field's value as a cell; text neutralized (see the module doc).
fn format_cell(column: &Column, value: Option<&Value>) -> String {
    let cell = match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(items)) if column.format == Format::List => items
            .iter()
            .map(|item| match item {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    };
    match column.format {
        Format::Text | Format::List => neutralize(cell),
        Format::Integer | Format::Decimal | Format::Bool | Format::User => cell,
    }
}

/// Writes the `K` records `caller` may see (all, with no caller) as CSV,
/// soft-deleted ones left out, in id order. Returns how many were written.
pub async fn export<K: CsvKind>(
    state: &AppState,
    caller: Option<&AuthUser>,
    out: impl std::io::Write,
) -> ApiResult<u64> {
    let mut writer = csv::Writer::from_writer(out);
    let header = std::iter::once("id").chain(K::COLUMNS.iter().map(|c| c.name));
    writer.write_record(header).map_err(ApiError::internal)?;
    let mut after = None;
    let mut written = 0;
    loop {
        let page = K::export_page(state.db.conn(), caller, after, EXPORT_PAGE).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = Some(*last);
        for (id, body) in &page {
            let cells = std::iter::once(id.to_string()).chain(
                K::COLUMNS
                    .iter()
                    .map(|column| format_cell(column, get_path(body, column.path))),
            );
            writer.write_record(cells).map_err(ApiError::internal)?;
            written += 1;
        }
    }
    writer.flush().map_err(ApiError::internal)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TAGS: Column = Column {
        name: "tags",
        path: "tags",
        format: Format::List,
    };

    #[test]
    fn cells_parse_by_their_format_and_empty_ones_are_left_out() {
        let users = HashMap::from([("li.wei".to_owned(), Uuid::nil())]);
        let user = Column {
            name: "owner",
            path: "owner_id",
            format: Format::User,
        };
        assert_eq!(
            parse_cell(&TAGS, " 水务; water ;", &users),
            Ok(Some(json!(["水务", "water"])))
        );
        assert_eq!(parse_cell(&TAGS, "  ", &users), Ok(None));
        assert_eq!(
            parse_cell(&user, "li.wei", &users),
            Ok(Some(json!(Uuid::nil().to_string())))
        );
        assert_eq!(
            parse_cell(&user, "nobody", &users),
            Ok(Some(json!(NO_SUCH_USER.to_string())))
        );
        let score = Column {
            name: "score_need",
            path: "scores.need",
            format: Format::Integer,
        };
        assert_eq!(
            parse_cell(&score, "x", &users).map_err(|(code, _)| code),
            Err("invalid_value")
        );
    }

    #[test]
    fn dotted_paths_make_nested_objects_and_read_back() {
        let mut object = Map::new();
        set_path(&mut object, "address.city", json!("杭州"));
        set_path(&mut object, "address.street", json!("1 Rd"));
        let value = Value::Object(object);
        assert_eq!(
            value,
            json!({"address": {"city": "杭州", "street": "1 Rd"}})
        );
        assert_eq!(get_path(&value, "address.city"), Some(&json!("杭州")));
        assert_eq!(get_path(&value, "address.region"), None);
        assert_eq!(format_cell(&TAGS, Some(&json!(["a", "b"]))), "a;b");
    }

    #[test]
    fn formula_cells_get_one_quote_and_lose_exactly_that_one_on_import() {
        for value in [
            "=1+2", "+1", "-x", "@SUM(A1)", "\tx", "\rx", "'=x", "''@x", "'", "'plain", "plain",
            "", "a=b", "-",
        ] {
            let cell = neutralize(value.to_owned());
            assert_eq!(unneutralize(&cell), value, "{value:?} exported as {cell:?}");
            assert!(
                !cell.starts_with(FORMULA_STARTS),
                "{value:?} exported as {cell:?}"
            );
        }
        assert_eq!(neutralize("=1+2".into()), "'=1+2");
        assert_eq!(neutralize("'=1+2".into()), "''=1+2");
        assert_eq!(neutralize("'plain".into()), "'plain");
        // A file made by hand imports as written, but for the one quote.
        assert_eq!(unneutralize("=1+2"), "=1+2");
        assert_eq!(unneutralize("'=1+2"), "=1+2");
        assert_eq!(unneutralize("'plain"), "'plain");
        let decimal = Column {
            name: "lat",
            path: "location.lat",
            format: Format::Decimal,
        };
        assert_eq!(format_cell(&decimal, Some(&json!(-33.5))), "-33.5");
        assert_eq!(format_cell(&TAGS, Some(&json!(["=a", "b"]))), "'=a;b");
    }
}
