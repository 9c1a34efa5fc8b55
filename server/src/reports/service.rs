//! The service report, by the account's owner: tickets opened in the
//! period by severity and type; tickets resolved in the period, how many
//! within their SLA (resolved by `sla_due_at`) and the average hours to
//! resolve; the tickets open past their SLA now; callbacks done in the
//! period, their satisfaction average and its trend by month. Deleted
//! tickets and callbacks are left out. Customer service reads it too.

use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, average, bucket, cell,
    count_all, count_if, get, ratio, run, sum_int,
};
use crate::auth::AuthUser;
use crate::entities::{callback, ticket};
use crate::error::ApiResult;
use crate::records::targets::midnight;
use chrono::{DateTime, Utc};
use kam_sync_core::callback::CallbackStatus;
use kam_sync_core::ticket::{Severity, TicketStatus, TicketType};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// Tickets of one severity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SeverityCount {
    /// The severity.
    pub severity: Severity,
    /// How many tickets.
    pub count: i64,
}

/// Tickets of one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TypeCount {
    /// The type.
    pub ticket_type: TicketType,
    /// How many tickets.
    pub count: i64,
}

/// The callbacks of one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SatisfactionMonth {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Callbacks done in it.
    pub callbacks_done: i64,
    /// Their average satisfaction (1-5), to two decimals; null without one.
    pub satisfaction_average: Option<f64>,
}

/// One group's service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRow {
    /// The group.
    pub group: ReportGroup,
    /// Tickets opened in the period.
    pub tickets_opened: i64,
    /// Those by severity, every severity from critical to low.
    pub by_severity: Vec<SeverityCount>,
    /// Those by type, every type.
    pub by_type: Vec<TypeCount>,
    /// Tickets resolved in the period.
    pub tickets_resolved: i64,
    /// Of those, resolved by their SLA's due time.
    pub resolved_within_sla: i64,
    /// Resolved within the SLA over resolved, to four decimals; null when none.
    pub sla_compliance: Option<f64>,
    /// The average hours from opening to resolution, to two decimals.
    pub average_resolution_hours: Option<f64>,
    /// Tickets not resolved or closed whose SLA ran out, now.
    pub open_past_sla: i64,
    /// Callbacks done in the period.
    pub callbacks_done: i64,
    /// Their average satisfaction (1-5), to two decimals.
    pub satisfaction_average: Option<f64>,
    /// Callbacks and satisfaction per month of the period, in order.
    pub satisfaction_trend: Vec<SatisfactionMonth>,
}

/// The service report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServiceReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days covered.
    pub period: ReportPeriod,
    /// One row per group with a ticket or callback, by name.
    pub rows: Vec<ServiceRow>,
    /// The sums of the rows.
    pub total: ServiceRow,
}

/// Callbacks and the sum of their satisfaction.
#[derive(Debug, Clone, Copy, Default)]
struct Callbacks {
    done: i64,
    rated: i64,
    satisfaction: i64,
}

impl Callbacks {
    fn add(&mut self, other: &Self) {
        self.done += other.done;
        self.rated += other.rated;
        self.satisfaction += other.satisfaction;
    }
}

/// A group's figures while they are read.
#[derive(Debug, Clone)]
struct Figures {
    opened: HashMap<(String, String), i64>,
    resolved: i64,
    within_sla: i64,
    timed: i64,
    resolution_secs: i64,
    past_sla: i64,
    months: Vec<Callbacks>,
}

impl Figures {
    fn new(months: usize) -> Self {
        Self {
            opened: HashMap::new(),
            resolved: 0,
            within_sla: 0,
            timed: 0,
            resolution_secs: 0,
            past_sla: 0,
            months: vec![Callbacks::default(); months],
        }
    }

    fn add(&mut self, other: &Self) {
        for (key, count) in &other.opened {
            *self.opened.entry(key.clone()).or_default() += count;
        }
        self.resolved += other.resolved;
        self.within_sla += other.within_sla;
        self.timed += other.timed;
        self.resolution_secs += other.resolution_secs;
        self.past_sla += other.past_sla;
        for (mine, theirs) in self.months.iter_mut().zip(&other.months) {
            mine.add(theirs);
        }
    }

    fn row(&self, group: ReportGroup, labels: &[String]) -> ServiceRow {
        let opened = |matches: &dyn Fn(&(String, String)) -> bool| -> i64 {
            self.opened
                .iter()
                .filter(|(key, _)| matches(key))
                .map(|(_, count)| count)
                .sum()
        };
        let mut all = Callbacks::default();
        for month in &self.months {
            all.add(month);
        }
        ServiceRow {
            group,
            tickets_opened: opened(&|_| true),
            by_severity: Severity::ALL
                .iter()
                .map(|severity| SeverityCount {
                    severity: *severity,
                    count: opened(&|(s, _)| s == severity.as_str()),
                })
                .collect(),
            by_type: TicketType::ALL
                .iter()
                .map(|kind| TypeCount {
                    ticket_type: *kind,
                    count: opened(&|(_, t)| t == kind.as_str()),
                })
                .collect(),
            tickets_resolved: self.resolved,
            resolved_within_sla: self.within_sla,
            sla_compliance: ratio(self.within_sla, self.resolved),
            average_resolution_hours: average(self.resolution_secs, self.timed * 3_600),
            open_past_sla: self.past_sla,
            callbacks_done: all.done,
            satisfaction_average: average(all.satisfaction, all.rated),
            satisfaction_trend: labels
                .iter()
                .zip(&self.months)
                .map(|(month, callbacks)| SatisfactionMonth {
                    month: month.clone(),
                    callbacks_done: callbacks.done,
                    satisfaction_average: average(callbacks.satisfaction, callbacks.rated),
                })
                .collect(),
        }
    }
}

/// The service report for `caller`, as of `now`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
    now: DateTime<Utc>,
) -> ApiResult<ServiceReport> {
    caller.require(super::SERVICE_READERS)?;
    let grouping = Grouping::new(caller, params);
    let months = period.months();
    let labels: Vec<String> = months
        .iter()
        .map(|m| m.format("%Y-%m").to_string())
        .collect();
    let (from, to) = (midnight(period.start), midnight(period.end));
    let mut by_group: BTreeMap<Option<Uuid>, Figures> = BTreeMap::new();
    let live = || Condition::all().add(ticket::Column::Deleted.eq(false));

    let mut opened = grouping.under_account(ticket::Entity, ticket::Column::AccountId);
    opened
        .column((ticket::Entity, ticket::Column::Severity))
        .column((ticket::Entity, ticket::Column::TicketType))
        .expr(count_all())
        .cond_where(
            live()
                .add(ticket::Column::CreatedAt.gte(from))
                .add(ticket::Column::CreatedAt.lt(to)),
        );
    Grouping::group(&mut opened, 3);
    for row in run(conn, &opened).await? {
        let key: (String, String) = (get(&row, 1)?, get(&row, 2)?);
        let count: i64 = get(&row, 3)?;
        by_group
            .entry(get(&row, 0)?)
            .or_insert_with(|| Figures::new(months.len()))
            .opened
            .insert(key, count);
    }

    let mut resolved = grouping.under_account(ticket::Entity, ticket::Column::AccountId);
    let within = Expr::col((ticket::Entity, ticket::Column::ResolvedAt))
        .lte(Expr::col((ticket::Entity, ticket::Column::SlaDueAt)));
    resolved
        .expr(count_all())
        .expr(count_if(Condition::all().add(within)))
        .expr(count_if(
            Condition::all().add(ticket::Column::ResolutionSecs.is_not_null()),
        ))
        .expr(sum_int(Expr::col((
            ticket::Entity,
            ticket::Column::ResolutionSecs,
        ))))
        .cond_where(
            live()
                .add(ticket::Column::ResolvedAt.gte(from))
                .add(ticket::Column::ResolvedAt.lt(to)),
        );
    Grouping::group(&mut resolved, 1);
    for row in run(conn, &resolved).await? {
        let figures = by_group
            .entry(get(&row, 0)?)
            .or_insert_with(|| Figures::new(months.len()));
        figures.resolved = get(&row, 1)?;
        figures.within_sla = get(&row, 2)?;
        figures.timed = get(&row, 3)?;
        figures.resolution_secs = get(&row, 4)?;
    }

    let mut overdue = grouping.under_account(ticket::Entity, ticket::Column::AccountId);
    overdue.expr(count_all()).cond_where(
        live()
            .add(ticket::Column::Status.is_not_in([
                TicketStatus::Resolved.as_str(),
                TicketStatus::Closed.as_str(),
            ]))
            .add(ticket::Column::SlaDueAt.lt(now)),
    );
    Grouping::group(&mut overdue, 1);
    for row in run(conn, &overdue).await? {
        by_group
            .entry(get(&row, 0)?)
            .or_insert_with(|| Figures::new(months.len()))
            .past_sla = get(&row, 1)?;
    }

    let bounds: Vec<DateTime<Utc>> = months.iter().map(|m| midnight(*m)).collect();
    let mut callbacks = grouping.under_account(callback::Entity, callback::Column::AccountId);
    callbacks
        .expr(bucket(
            (callback::Entity, callback::Column::DoneAt),
            &bounds,
        ))
        .expr(count_all())
        .expr(count_if(
            Condition::all().add(callback::Column::Satisfaction.is_not_null()),
        ))
        .expr(sum_int(Expr::col((
            callback::Entity,
            callback::Column::Satisfaction,
        ))))
        .cond_where(
            Condition::all()
                .add(callback::Column::Deleted.eq(false))
                .add(callback::Column::Status.eq(CallbackStatus::Done.as_str()))
                .add(callback::Column::DoneAt.gte(from))
                .add(callback::Column::DoneAt.lt(to)),
        );
    Grouping::group(&mut callbacks, 2);
    for row in run(conn, &callbacks).await? {
        let index = usize::try_from(get::<i64>(&row, 1)?).unwrap_or(usize::MAX);
        let month = Callbacks {
            done: get(&row, 2)?,
            rated: get(&row, 3)?,
            satisfaction: get(&row, 4)?,
        };
        let figures = by_group
            .entry(get(&row, 0)?)
            .or_insert_with(|| Figures::new(months.len()));
        if let Some(slot) = figures.months.get_mut(index) {
            *slot = month;
        }
    }

    let mut total = Figures::new(months.len());
    for figures in by_group.values() {
        total.add(figures);
    }
    let rows = grouping
        .named(conn, by_group)
        .await?
        .into_iter()
        .map(|(group, figures)| figures.row(group, &labels))
        .collect();
    Ok(ServiceReport {
        group_by: grouping.group_by(),
        period: period.view(),
        rows,
        total: total.row(ReportGroup::total(), &labels),
    })
}

impl ServiceReport {
    /// The report as CSV (see docs/reports.md).
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let mut columns = vec!["tickets_opened".to_owned()];
        columns.extend(
            Severity::ALL
                .iter()
                .map(|s| format!("severity_{}", s.as_str())),
        );
        columns.extend(
            TicketType::ALL
                .iter()
                .map(|t| format!("type_{}", t.as_str())),
        );
        for column in [
            "tickets_resolved",
            "resolved_within_sla",
            "sla_compliance",
            "average_resolution_hours",
            "open_past_sla",
            "callbacks_done",
            "satisfaction_average",
        ] {
            columns.push(column.into());
        }
        for month in &self.total.satisfaction_trend {
            columns.push(format!("satisfaction_{}", month.month));
        }
        let lines = self.rows.into_iter().chain([self.total]).map(|row| {
            let mut cells = vec![row.tickets_opened.to_string()];
            cells.extend(row.by_severity.iter().map(|s| s.count.to_string()));
            cells.extend(row.by_type.iter().map(|t| t.count.to_string()));
            cells.extend([
                row.tickets_resolved.to_string(),
                row.resolved_within_sla.to_string(),
                cell(row.sla_compliance),
                cell(row.average_resolution_hours),
                row.open_past_sla.to_string(),
                row.callbacks_done.to_string(),
                cell(row.satisfaction_average),
            ]);
            cells.extend(
                row.satisfaction_trend
                    .iter()
                    .map(|m| cell(m.satisfaction_average)),
            );
            (row.group, cells)
        });
        super::csv(&columns, lines)
    }
}
