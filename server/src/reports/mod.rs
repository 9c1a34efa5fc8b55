//! Sales analysis (销售数据分析): one call per report for a whole branch or
//! team, each row a group (branch, team or rep), for a period, scoped by
//! the caller's role, as JSON or CSV (see docs/reports.md). What managers
//! act on, like `insight`; a module of its own above `records`, whose
//! counting rules (target progress, stage history) it reads, where
//! `insight` sits below the records' write path.
//!
//! This file holds what every report shares: the query parameters and the
//! period they name ([`ReportParams`], [`Period`]), how a row is placed in
//! its group and scoped ([`Grouping`]), the SQL aggregate shorthands, the
//! group names and the CSV rendering. Each report is a file of its own.
//!
//! A row's group is that of a user: the record's owner for the reports that
//! follow records with an owner of their own (sales: the user a contract
//! counts for, a visit's rep, an account's owner; pipeline and funnel: the
//! deal's owner), the account's owner for the others (service, accounts,
//! coverage).
//! Their team is the user's team now and their branch that team's, as
//! sales targets count. Only rows of accounts the caller sees are read
//! ([`crate::access::visible_account_ids`]).

pub mod accounts;
pub mod coverage;
pub mod funnel;
pub mod pipeline;
pub mod products;
pub mod sales;
pub mod service;

use crate::access::visible_account_ids;
use crate::auth::{AuthUser, Role};
use crate::entities::{account, branch, team, user};
use crate::error::{ApiError, ApiResult};
use crate::records::targets::{Level, PeriodKind};
use crate::records::{check_currency, check_date};
use chrono::{Datelike, Months, NaiveDate};
use kam_sync_core::money::Currency;
use sea_orm::sea_query::{
    Alias, Asterisk, CaseStatement, Condition, Expr, ExprTrait, Func, IntoColumnRef, JoinType,
    Query, SelectStatement,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryResult, QuerySelect};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The longest range `from`/`to` may span, in days (five years).
pub const MAX_RANGE_DAYS: i64 = 5 * 366;

/// The roles that read every report but the service one's.
pub const SALES_READERS: &[Role] = &[Role::Admin, Role::Director, Role::Manager, Role::Rep];

/// The roles that read the service report: the sales readers and customer service.
pub const SERVICE_READERS: &[Role] = &[
    Role::Admin,
    Role::Director,
    Role::Manager,
    Role::Rep,
    Role::Service,
];

/// What a report's rows are grouped by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// The owner's branch (through their team).
    Branch,
    /// The owner's team.
    #[default]
    Team,
    /// The owner.
    Rep,
}

impl GroupBy {
    /// The sales-target level of the same groups.
    pub fn level(self) -> Level {
        match self {
            Self::Branch => Level::Branch,
            Self::Team => Level::Team,
            Self::Rep => Level::Rep,
        }
    }
}

/// How the report is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReportFormat {
    /// `application/json` (the default).
    Json,
    /// `text/csv; charset=utf-8`, one line per group and a last line of totals.
    Csv,
}

/// The parameters every report takes; all optional.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Group rows by `branch`, `team` (the default) or `rep`.
    pub group_by: Option<GroupBy>,
    /// A calendar period: `month`, `quarter` or `year` (not with `from`/`to`).
    /// Without `period_start`, the period that holds today.
    pub period: Option<PeriodKind>,
    /// The period's first day (with `period`): 1 January for a year; 1
    /// January, April, July or October for a quarter; the first of a month.
    pub period_start: Option<NaiveDate>,
    /// The first day of a range of days (with `to`; not with `period`).
    pub from: Option<NaiveDate>,
    /// The last day of the range, included; at most five years after `from`.
    pub to: Option<NaiveDate>,
    /// Only groups in this branch.
    pub branch_id: Option<Uuid>,
    /// Only groups in this team.
    pub team_id: Option<Uuid>,
    /// Only this user's rows.
    pub owner_id: Option<Uuid>,
    /// The currency of money figures (ISO 4217, default CNY): amounts in
    /// other currencies are left out of sums, never converted.
    #[param(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// `json` (the default) or `csv`; `Accept: text/csv` also asks for CSV.
    #[param(inline)]
    pub format: Option<ReportFormat>,
}

impl ReportParams {
    /// The currency of money figures, checked.
    pub fn currency(&self) -> ApiResult<String> {
        match &self.currency {
            Some(code) => {
                check_currency("currency", code)?;
                Ok(code.clone())
            }
            None => Ok(Currency::default().into()),
        }
    }

    /// The period the parameters name, `today` deciding the default (the
    /// month that holds it) and a period without its start.
    pub fn period(&self, today: NaiveDate) -> ApiResult<Period> {
        let range = self.from.is_some() || self.to.is_some();
        match (self.period, self.period_start) {
            (Some(_), _) if range => Err(ApiError::invalid_field(
                "period",
                "period_and_range",
                "give a period or from/to, not both",
            )),
            (None, Some(_)) => Err(ApiError::invalid_field(
                "period",
                "required",
                "period_start needs the kind of period",
            )),
            (Some(kind), start) => {
                let start = match start {
                    Some(start) => {
                        check_date("period_start", start)?;
                        if !kind.starts_on(start) {
                            return Err(ApiError::invalid_field(
                                "period_start",
                                "not_a_period_start",
                                format!("not the first day of a {}", kind.as_str()),
                            ));
                        }
                        start
                    }
                    None => kind.containing(today),
                };
                Period::calendar(kind, start)
            }
            (None, None) if range => {
                let (Some(from), Some(to)) = (self.from, self.to) else {
                    let missing = if self.from.is_none() { "from" } else { "to" };
                    return Err(ApiError::invalid_field(
                        missing,
                        "required",
                        "a range needs both from and to",
                    ));
                };
                check_date("from", from)?;
                check_date("to", to)?;
                if to < from {
                    return Err(ApiError::invalid_field(
                        "to",
                        "before_from",
                        "the range ends before it starts",
                    ));
                }
                if (to - from).num_days() >= MAX_RANGE_DAYS {
                    return Err(ApiError::invalid_field(
                        "to",
                        "range_too_long",
                        "a range spans at most five years",
                    ));
                }
                Ok(Period {
                    kind: None,
                    start: from,
                    end: to.succ_opt().ok_or_else(out_of_calendar)?,
                })
            }
            (None, None) => {
                Period::calendar(PeriodKind::Month, PeriodKind::Month.containing(today))
            }
        }
    }
}

fn out_of_calendar() -> ApiError {
    ApiError::invalid_field("to", "out_of_range", "past the calendar")
}

/// The days a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The calendar period, when it is one (targets are set for those).
    pub kind: Option<PeriodKind>,
    /// The first day.
    pub start: NaiveDate,
    /// The day after the last.
    pub end: NaiveDate,
}

impl Period {
    fn calendar(kind: PeriodKind, start: NaiveDate) -> ApiResult<Self> {
        Ok(Self {
            kind: Some(kind),
            start,
            end: kind.end(start).ok_or_else(out_of_calendar)?,
        })
    }

    /// The first days of the calendar months the period touches, in order;
    /// the first is the period's own first day.
    pub fn months(&self) -> Vec<NaiveDate> {
        let mut months = vec![self.start];
        let mut next = self
            .start
            .with_day(1)
            .and_then(|d| d.checked_add_months(Months::new(1)));
        while let Some(month) = next.filter(|m| *m < self.end) {
            months.push(month);
            next = month.checked_add_months(Months::new(1));
        }
        months
    }

    /// As the API shows it.
    pub fn view(&self) -> ReportPeriod {
        ReportPeriod {
            period: self.kind,
            from: self.start,
            to: self.end.pred_opt().unwrap_or(self.start),
        }
    }
}

/// The days a report covers, as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportPeriod {
    /// The calendar period, when the report is for one; null for a range.
    pub period: Option<PeriodKind>,
    /// The first day.
    pub from: NaiveDate,
    /// The last day, included.
    pub to: NaiveDate,
}

/// A row's group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReportGroup {
    /// The branch, team or user; null for rows of users in no team (or of
    /// a team in no branch), and on the totals row.
    pub id: Option<Uuid>,
    /// Its name (a user's display name); `(no team)`, `(no branch)` for the
    /// null group, `Total` on the totals row.
    pub name: String,
}

impl ReportGroup {
    /// The group of the totals row.
    pub fn total() -> Self {
        Self {
            id: None,
            name: "Total".into(),
        }
    }
}

/// Alias of the user whose place in the org groups a row.
const OWNER: &str = "report_owner";
/// Alias of that user's team.
const OWNER_TEAM: &str = "report_owner_team";

/// How the rows of one report are placed in groups and scoped.
#[derive(Debug, Clone)]
pub struct Grouping {
    group_by: GroupBy,
    visible: Option<SelectStatement>,
    branch_id: Option<Uuid>,
    team_id: Option<Uuid>,
    owner_id: Option<Uuid>,
}

impl Grouping {
    /// The grouping and scope of `params` for `caller`.
    pub fn new(caller: &AuthUser, params: &ReportParams) -> Self {
        Self {
            group_by: params.group_by.unwrap_or_default(),
            visible: visible_account_ids(caller),
            branch_id: params.branch_id,
            team_id: params.team_id,
            owner_id: params.owner_id,
        }
    }

    /// What the rows are grouped by.
    pub fn group_by(&self) -> GroupBy {
        self.group_by
    }

    /// A grouped query over `table` (a kind under an account, joined to its
    /// account), placed by the account's owner ([`Grouping::place`]).
    pub fn under_account<E: EntityTrait>(
        &self,
        table: E,
        account_id: E::Column,
    ) -> SelectStatement {
        let mut select = Query::select();
        select.from(table).join(
            JoinType::InnerJoin,
            account::Entity,
            Expr::col((account::Entity, account::Column::Id)).equals((table, account_id)),
        );
        self.place(
            &mut select,
            (account::Entity, account::Column::OwnerId),
            (table, account_id),
        );
        select
    }

    /// Makes `select` (over the table of `owner` and `account`) a grouped
    /// query: its first column the group's id, its rows those of accounts
    /// the caller sees and of the groups asked for. The caller adds its
    /// figures, then [`Grouping::group`] its GROUP BY.
    pub fn place<O, A>(&self, select: &mut SelectStatement, owner: O, account: A)
    where
        O: IntoColumnRef + Clone,
        A: IntoColumnRef,
    {
        let (owner_alias, team_alias) = (Alias::new(OWNER), Alias::new(OWNER_TEAM));
        select
            .join_as(
                JoinType::LeftJoin,
                user::Entity,
                owner_alias.clone(),
                Expr::col((owner_alias.clone(), user::Column::Id)).equals(owner.clone()),
            )
            .join_as(
                JoinType::LeftJoin,
                team::Entity,
                team_alias.clone(),
                Expr::col((team_alias.clone(), team::Column::Id))
                    .equals((owner_alias.clone(), user::Column::TeamId)),
            );
        let key = match self.group_by {
            GroupBy::Rep => Expr::col(owner.clone()),
            GroupBy::Team => Expr::col((owner_alias.clone(), user::Column::TeamId)),
            GroupBy::Branch => Expr::col((team_alias.clone(), team::Column::BranchId)),
        };
        select.expr(key);
        let mut condition = Condition::all();
        if let Some(visible) = &self.visible {
            condition = condition.add(Expr::col(account).in_subquery(visible.clone()));
        }
        if let Some(branch) = self.branch_id {
            condition = condition.add(Expr::col((team_alias, team::Column::BranchId)).eq(branch));
        }
        if let Some(team) = self.team_id {
            condition = condition.add(Expr::col((owner_alias, user::Column::TeamId)).eq(team));
        }
        if let Some(owner_id) = self.owner_id {
            condition = condition.add(Expr::col(owner).eq(owner_id));
        }
        select.cond_where(condition);
    }

    /// Groups `select` by its first `columns` columns (the group's id, then
    /// any bucket), by position: a bucket is an expression with bound
    /// values, which PostgreSQL does not match between SELECT and GROUP BY.
    pub fn group(select: &mut SelectStatement, columns: usize) {
        select.add_group_by((1..=columns).map(|n| Expr::cust(n.to_string())));
    }

    /// The names of `ids`, groups of this grouping.
    pub async fn names(
        &self,
        conn: &impl ConnectionTrait,
        ids: impl IntoIterator<Item = Option<Uuid>>,
    ) -> ApiResult<HashMap<Option<Uuid>, String>> {
        let ids: Vec<Uuid> = ids.into_iter().flatten().collect();
        let mut names: HashMap<Option<Uuid>, String> = HashMap::new();
        let none = match self.group_by {
            GroupBy::Branch => "(no branch)",
            GroupBy::Team | GroupBy::Rep => "(no team)",
        };
        names.insert(None, none.into());
        if ids.is_empty() {
            return Ok(names);
        }
        let found: Vec<(Uuid, String)> = match self.group_by {
            GroupBy::Branch => {
                branch::Entity::find()
                    .select_only()
                    .column(branch::Column::Id)
                    .column(branch::Column::Name)
                    .filter(branch::Column::Id.is_in(ids))
                    .into_tuple()
                    .all(conn)
                    .await?
            }
            GroupBy::Team => {
                team::Entity::find()
                    .select_only()
                    .column(team::Column::Id)
                    .column(team::Column::Name)
                    .filter(team::Column::Id.is_in(ids))
                    .into_tuple()
                    .all(conn)
                    .await?
            }
            GroupBy::Rep => {
                user::Entity::find()
                    .select_only()
                    .column(user::Column::Id)
                    .column(user::Column::DisplayName)
                    .filter(user::Column::Id.is_in(ids))
                    .into_tuple()
                    .all(conn)
                    .await?
            }
        };
        names.extend(found.into_iter().map(|(id, name)| (Some(id), name)));
        Ok(names)
    }

    /// The rows of `by_group`, each named, sorted by name (then id).
    pub async fn named<R>(
        &self,
        conn: &impl ConnectionTrait,
        by_group: BTreeMap<Option<Uuid>, R>,
    ) -> ApiResult<Vec<(ReportGroup, R)>> {
        let names = self.names(conn, by_group.keys().copied()).await?;
        let mut rows: Vec<(ReportGroup, R)> = by_group
            .into_iter()
            .map(|(id, row)| {
                let name = names.get(&id).cloned().unwrap_or_default();
                (ReportGroup { id, name }, row)
            })
            .collect();
        rows.sort_by(|(a, _), (b, _)| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(rows)
    }
}

/// `COUNT(*)`, as a 64-bit integer on both engines.
pub fn count_all() -> Expr {
    Expr::from(Func::cast_as(Func::count(Expr::col(Asterisk)), "BIGINT"))
}

/// The sum of `value` over the rows (0 over none), as a 64-bit integer on
/// both engines.
pub fn sum_int(value: impl Into<Expr>) -> Expr {
    Expr::from(Func::cast_as(
        Func::coalesce([Expr::from(Func::sum(value.into())), Expr::val(0)]),
        "BIGINT",
    ))
}

/// How many rows meet `condition`.
pub fn count_if(condition: Condition) -> Expr {
    sum_int(Expr::case(condition, Expr::val(1)).finally(Expr::val(0)))
}

/// The number of the bucket of `column` among `bounds` (ascending): 0
/// before the second bound, 1 before the third, ..., the last otherwise.
/// Rows are kept within the first bound and the end by the caller.
pub fn bucket<C, V>(column: C, bounds: &[V]) -> Expr
where
    C: IntoColumnRef + Clone,
    V: Into<sea_orm::Value> + Clone,
{
    let last = Expr::cust(bounds.len().saturating_sub(1).to_string());
    if bounds.len() < 2 {
        // One bucket: a CASE needs at least one WHEN.
        return Expr::from(Func::cast_as(last, "BIGINT"));
    }
    let mut case = CaseStatement::new();
    for (index, bound) in bounds.iter().enumerate().skip(1) {
        case = case.case(
            Expr::col(column.clone()).lt(Expr::val(bound.clone())),
            Expr::cust((index - 1).to_string()),
        );
    }
    let case: Expr = case.finally(last).into();
    Expr::from(Func::cast_as(case, "BIGINT"))
}

/// Runs `select`.
pub async fn run(
    conn: &impl ConnectionTrait,
    select: &SelectStatement,
) -> ApiResult<Vec<QueryResult>> {
    Ok(conn.query_all(select).await?)
}

/// Column `index` of `row`.
pub fn get<T: sea_orm::TryGetable>(row: &QueryResult, index: usize) -> ApiResult<T> {
    Ok(row.try_get_by_index(index)?)
}

/// `part / whole`, to four decimals; `None` when the whole is 0.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole != 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// `sum / count` to two decimals; `None` over nothing.
pub fn average(sum: i64, count: i64) -> Option<f64> {
    (count != 0).then(|| (sum as f64 / count as f64 * 100.0).round() / 100.0)
}

/// A ratio or an average, as a CSV cell (empty for none).
pub fn cell(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The CSV of a report: a header row (`group_id`, `group_name`, then
/// `columns`), one line per row and the totals line. Names that a
/// spreadsheet would run as formulas are neutralized as exports are
/// ([`crate::csv_io::neutralize`]).
pub fn csv(
    columns: &[String],
    rows: impl IntoIterator<Item = (ReportGroup, Vec<String>)>,
) -> ApiResult<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header = ["group_id".to_owned(), "group_name".to_owned()]
        .into_iter()
        .chain(columns.iter().cloned());
    writer.write_record(header).map_err(ApiError::internal)?;
    for (group, cells) in rows {
        let id = group.id.map(|id| id.to_string()).unwrap_or_default();
        let name = crate::csv_io::neutralize(group.name);
        writer
            .write_record([id, name].into_iter().chain(cells))
            .map_err(ApiError::internal)?;
    }
    writer.into_inner().map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn params(period: Option<PeriodKind>, start: Option<NaiveDate>) -> ReportParams {
        ReportParams {
            period,
            period_start: start,
            ..Default::default()
        }
    }

    #[test]
    fn without_a_period_a_report_covers_the_month_of_today() {
        let period = ReportParams::default().period(day(2026, 8, 17)).ok();
        assert_eq!(
            period,
            Some(Period {
                kind: Some(PeriodKind::Month),
                start: day(2026, 8, 1),
                end: day(2026, 9, 1),
            })
        );
        let quarter = params(Some(PeriodKind::Quarter), None).period(day(2026, 8, 17));
        assert_eq!(quarter.ok().map(|p| p.start), Some(day(2026, 7, 1)));
    }

    #[test]
    fn a_misaligned_start_or_a_reversed_range_is_refused() {
        let misaligned = params(Some(PeriodKind::Quarter), Some(day(2026, 2, 1)));
        assert!(misaligned.period(day(2026, 1, 1)).is_err());
        let reversed = ReportParams {
            from: Some(day(2026, 3, 1)),
            to: Some(day(2026, 2, 1)),
            ..Default::default()
        };
        assert!(reversed.period(day(2026, 1, 1)).is_err());
        let long = ReportParams {
            from: Some(day(2020, 1, 1)),
            to: Some(day(2025, 12, 31)),
            ..Default::default()
        };
        assert!(long.period(day(2026, 1, 1)).is_err());
    }

    #[test]
    fn a_range_touches_the_months_of_its_days() {
        let range = ReportParams {
            from: Some(day(2026, 1, 15)),
            to: Some(day(2026, 3, 1)),
            ..Default::default()
        };
        let period = range.period(day(2026, 1, 1)).ok();
        assert_eq!(
            period.map(|p| p.months()),
            Some(vec![day(2026, 1, 15), day(2026, 2, 1), day(2026, 3, 1)])
        );
        assert_eq!(period.map(|p| p.end), Some(day(2026, 3, 2)));
    }
}
