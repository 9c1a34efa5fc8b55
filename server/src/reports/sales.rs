//! The sales report: revenue and contracts signed, new key accounts and
//! completed visits per group, each against its sales target (attainment).
//! What counts is what targets count ([`targets::signed_contracts`],
//! [`targets::new_key_accounts`], [`targets::completed_visits`]), so a
//! group's figure is its target's progress: contracts active or completed
//! signed in the period, by the user they count for; accounts created in
//! the period that are strategic or key now, by their owner; completed
//! visits planned in the period, by their rep, and of those the effective
//! ones (有效拜访, the visit row's `effective`). Targets are those set at
//! the grouping's level (branch, team, rep) for a calendar period equal to
//! the report's; a range of days has none.

use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, cell, count_all, count_if,
    get, run,
};
use crate::auth::AuthUser;
use crate::entities::{account, contract, visit};
use crate::error::ApiResult;
use crate::records::targets::{self, Metric};
use crate::totals;
use kam_sync_core::money::Total;
use sea_orm::sea_query::{Condition, Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// A figure against its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attainment {
    /// The target: money in major units for revenue, else a count.
    #[schema(value_type = f64)]
    pub target: Total,
    /// The figure divided by the target (1.0 is reached), to four
    /// decimals; null for a target of 0.
    pub attainment: Option<f64>,
}

/// One group's sales.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SalesRow {
    /// The group.
    pub group: ReportGroup,
    /// The amounts of the contracts signed, in the report's currency (major units).
    #[schema(value_type = f64)]
    pub revenue: Total,
    /// How many contracts were signed (in any currency).
    pub contracts_signed: i64,
    /// How many strategic or key accounts were created.
    pub new_key_accounts: i64,
    /// How many visits planned in the period were completed.
    pub visits_completed: i64,
    /// How many of those were effective visits (有效拜访: checked in near
    /// the account and out, each of the five steps recorded).
    pub effective_visits: i64,
    /// Revenue against the revenue target in the report's currency; null
    /// without one.
    pub revenue_target: Option<Attainment>,
    /// Contracts signed against their target; null without one.
    pub contracts_target: Option<Attainment>,
    /// New key accounts against their target; null without one.
    pub new_key_accounts_target: Option<Attainment>,
    /// Completed visits against their target; null without one.
    pub visits_target: Option<Attainment>,
}

/// The sales report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SalesReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days covered.
    pub period: ReportPeriod,
    /// The currency of revenue.
    pub currency: String,
    /// One row per group with any figure, by name (a group with a target
    /// and nothing counted yet has no row).
    pub rows: Vec<SalesRow>,
    /// The sums of the rows; each target the sum of the groups' that have
    /// one, against those groups' figures.
    pub total: SalesRow,
}

/// The CSV columns after the group's.
const COLUMNS: [&str; 14] = [
    "revenue",
    "contracts_signed",
    "new_key_accounts",
    "visits_completed",
    "effective_visits",
    "revenue_target",
    "revenue_attainment",
    "contracts_target",
    "contracts_attainment",
    "new_key_accounts_target",
    "new_key_accounts_attainment",
    "visits_target",
    "visits_attainment",
    "currency",
];

/// What a group counts: per metric, the actual (stored units) and target.
#[derive(Debug, Clone, Default)]
struct Figures {
    actual: BTreeMap<MetricKey, i128>,
    target: BTreeMap<MetricKey, i128>,
}

/// The metrics, ordered, as map keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum MetricKey {
    Revenue,
    Contracts,
    NewKeyAccounts,
    Visits,
    /// Not a target's metric: effective visits are counted beside.
    EffectiveVisits,
}

impl MetricKey {
    fn of(metric: Metric) -> Self {
        match metric {
            Metric::Revenue => Self::Revenue,
            Metric::SignedContracts => Self::Contracts,
            Metric::NewKeyAccounts => Self::NewKeyAccounts,
            Metric::Visits => Self::Visits,
        }
    }

    fn metric(self) -> Metric {
        match self {
            Self::Revenue => Metric::Revenue,
            Self::Contracts => Metric::SignedContracts,
            Self::NewKeyAccounts => Metric::NewKeyAccounts,
            Self::Visits | Self::EffectiveVisits => Metric::Visits,
        }
    }
}

/// `actual` against `target`, both in stored units.
fn attainment(key: MetricKey, actual: i128, target: i128) -> Attainment {
    Attainment {
        target: key.metric().total(target),
        attainment: (target != 0).then(|| {
            let ratio = actual as f64 / target as f64;
            (ratio * 10_000.0).round() / 10_000.0
        }),
    }
}

impl Figures {
    fn actual(&self, key: MetricKey) -> i128 {
        self.actual.get(&key).copied().unwrap_or_default()
    }

    fn count(&self, key: MetricKey) -> i64 {
        i64::try_from(self.actual(key)).unwrap_or(i64::MAX)
    }

    fn against(&self, key: MetricKey) -> Option<Attainment> {
        let target = *self.target.get(&key)?;
        Some(attainment(key, self.actual(key), target))
    }

    fn row(&self, group: ReportGroup) -> SalesRow {
        SalesRow {
            group,
            revenue: Total::from_minor(self.actual(MetricKey::Revenue)),
            contracts_signed: self.count(MetricKey::Contracts),
            new_key_accounts: self.count(MetricKey::NewKeyAccounts),
            visits_completed: self.count(MetricKey::Visits),
            effective_visits: self.count(MetricKey::EffectiveVisits),
            revenue_target: self.against(MetricKey::Revenue),
            contracts_target: self.against(MetricKey::Contracts),
            new_key_accounts_target: self.against(MetricKey::NewKeyAccounts),
            visits_target: self.against(MetricKey::Visits),
        }
    }
}

/// The sales report for `caller`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
) -> ApiResult<SalesReport> {
    caller.require(super::SALES_READERS)?;
    let currency = params.currency()?;
    let grouping = Grouping::new(caller, params);
    let mut by_group: BTreeMap<Option<Uuid>, Figures> = BTreeMap::new();

    let mut contracts = Query::select();
    contracts.from(contract::Entity);
    grouping.place(
        &mut contracts,
        (contract::Entity, contract::Column::OwnerId),
        (contract::Entity, contract::Column::AccountId),
    );
    let in_currency = Expr::case(
        contract::Column::Currency.eq(currency.clone()),
        Expr::col((contract::Entity, contract::Column::AmountMinor)),
    );
    let [high, low] = totals::sum_parts_of(in_currency.into());
    contracts
        .expr(count_all())
        .expr(high)
        .expr(low)
        .cond_where(targets::signed_contracts(period.start, period.end));
    Grouping::group(&mut contracts, 1);
    for row in run(conn, &contracts).await? {
        let figures = by_group.entry(get(&row, 0)?).or_default();
        figures
            .actual
            .insert(MetricKey::Contracts, i128::from(get::<i64>(&row, 1)?));
        let revenue = totals::total(get(&row, 2)?, get(&row, 3)?);
        figures.actual.insert(MetricKey::Revenue, revenue.minor());
    }

    let mut accounts = Query::select();
    accounts.from(account::Entity);
    grouping.place(
        &mut accounts,
        (account::Entity, account::Column::OwnerId),
        (account::Entity, account::Column::Id),
    );
    accounts
        .expr(count_all())
        .cond_where(targets::new_key_accounts(period.start, period.end));
    Grouping::group(&mut accounts, 1);
    for row in run(conn, &accounts).await? {
        let count = i128::from(get::<i64>(&row, 1)?);
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .actual
            .insert(MetricKey::NewKeyAccounts, count);
    }

    let mut visits = Query::select();
    visits.from(visit::Entity);
    grouping.place(
        &mut visits,
        (visit::Entity, visit::Column::OwnerId),
        (visit::Entity, visit::Column::AccountId),
    );
    visits
        .expr(count_all())
        .expr(count_if(
            Condition::all().add(visit::Column::Effective.eq(true)),
        ))
        .cond_where(targets::completed_visits(period.start, period.end));
    Grouping::group(&mut visits, 1);
    for row in run(conn, &visits).await? {
        let (count, effective): (i64, i64) = (get(&row, 1)?, get(&row, 2)?);
        let actual = &mut by_group.entry(get(&row, 0)?).or_default().actual;
        actual.insert(MetricKey::Visits, i128::from(count));
        actual.insert(MetricKey::EffectiveVisits, i128::from(effective));
    }

    if let Some(kind) = period.kind {
        let subjects: Vec<Uuid> = by_group.keys().copied().flatten().collect();
        let set = targets::set_for(
            conn,
            kind,
            period.start,
            grouping.group_by().level(),
            subjects,
        )
        .await?;
        for target in set {
            let key = MetricKey::of(target.metric);
            if key == MetricKey::Revenue && target.currency.as_deref() != Some(currency.as_str()) {
                continue;
            }
            if let Some(figures) = by_group.get_mut(&Some(target.subject)) {
                figures.target.insert(key, i128::from(target.value));
            }
        }
    }

    let mut total = Figures::default();
    for figures in by_group.values() {
        for (key, value) in &figures.actual {
            *total.actual.entry(*key).or_default() += value;
        }
    }
    let mut total_row = total.row(ReportGroup::total());
    // A total target is the sum of the groups' that have one, measured
    // against those groups' figures only.
    let against = |key: MetricKey| {
        let with_target: Vec<(i128, i128)> = by_group
            .values()
            .filter_map(|f| f.target.get(&key).map(|target| (f.actual(key), *target)))
            .collect();
        (!with_target.is_empty()).then(|| {
            let actual = with_target.iter().map(|(a, _)| a).sum();
            let target = with_target.iter().map(|(_, t)| t).sum();
            attainment(key, actual, target)
        })
    };
    total_row.revenue_target = against(MetricKey::Revenue);
    total_row.contracts_target = against(MetricKey::Contracts);
    total_row.new_key_accounts_target = against(MetricKey::NewKeyAccounts);
    total_row.visits_target = against(MetricKey::Visits);
    let rows = grouping
        .named(conn, by_group)
        .await?
        .into_iter()
        .map(|(group, figures)| figures.row(group))
        .collect();
    Ok(SalesReport {
        group_by: grouping.group_by(),
        period: period.view(),
        currency,
        rows,
        total: total_row,
    })
}

impl SalesReport {
    /// The report as CSV (see docs/reports.md).
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let columns: Vec<String> = COLUMNS.iter().map(|c| (*c).to_owned()).collect();
        let currency = self.currency.clone();
        let money =
            |a: &Option<Attainment>| a.as_ref().map(|a| a.target.to_string()).unwrap_or_default();
        // A count is held as whole major units (see `Metric::total`).
        let count = |a: &Option<Attainment>| {
            a.as_ref()
                .map(|a| (a.target.minor() / 100).to_string())
                .unwrap_or_default()
        };
        let reached = |a: &Option<Attainment>| cell(a.as_ref().and_then(|a| a.attainment));
        let lines = self.rows.into_iter().chain([self.total]).map(|row| {
            let cells = vec![
                row.revenue.to_string(),
                row.contracts_signed.to_string(),
                row.new_key_accounts.to_string(),
                row.visits_completed.to_string(),
                row.effective_visits.to_string(),
                money(&row.revenue_target),
                reached(&row.revenue_target),
                count(&row.contracts_target),
                reached(&row.contracts_target),
                count(&row.new_key_accounts_target),
                reached(&row.new_key_accounts_target),
                count(&row.visits_target),
                reached(&row.visits_target),
                currency.clone(),
            ];
            (row.group, cells)
        });
        super::csv(&columns, lines)
    }
}
