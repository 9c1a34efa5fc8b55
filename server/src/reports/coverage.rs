//! The coverage report (issue 14, section 2), by the account's owner: the
//! accounts (not deleted) per tier, how many are visited within their
//! tier's cadence now (`next_visit_due` not past), how many are overdue,
//! (an account insight does not follow, `identified` or `lost`, has no
//! visit due and is neither), and the minutes of visits (check-in to check-out, `visit_minutes`)
//! checked in during the period per tier beside the tier's share of the
//! accounts, so the 30% rule reads off a row: standard accounts, about 30%
//! of the accounts, should take about 30% of the time; strategic and key
//! accounts about 70%. Beside the rows, the most overdue accounts.

use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, cell, count_all, count_if,
    get, ratio, run, sum_int,
};
use crate::auth::AuthUser;
use crate::entities::{account, visit};
use crate::error::ApiResult;
use crate::records::targets::midnight;
use chrono::{DateTime, Utc};
use kam_sync_core::account::Tier;
use sea_orm::sea_query::{Condition, Expr, Order, Query};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// How many overdue accounts the report lists.
pub const OVERDUE_LISTED: u64 = 100;

/// One tier's coverage in a group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TierCoverage {
    /// The confirmed tier; null for accounts without one.
    pub tier: Option<Tier>,
    /// Accounts of the tier.
    pub accounts: i64,
    /// Their share of the group's accounts, to four decimals.
    pub account_share: Option<f64>,
    /// Those whose next visit is not due yet (visited within cadence).
    pub within_cadence: i64,
    /// Within cadence over accounts, to four decimals.
    pub within_cadence_share: Option<f64>,
    /// Those whose next visit is past due.
    pub overdue: i64,
    /// Minutes of the tier's visits checked in during the period.
    pub visit_minutes: i64,
    /// Their share of the group's visit minutes, to four decimals.
    pub time_share: Option<f64>,
}

/// One group's coverage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CoverageRow {
    /// The group.
    pub group: ReportGroup,
    /// Its accounts.
    pub accounts: i64,
    /// Those visited within cadence.
    pub within_cadence: i64,
    /// Within cadence over accounts, to four decimals.
    pub within_cadence_share: Option<f64>,
    /// Those overdue.
    pub overdue: i64,
    /// Minutes of visits checked in during the period.
    pub visit_minutes: i64,
    /// Per tier: strategic, key, standard, then none.
    pub tiers: Vec<TierCoverage>,
}

/// An account whose next visit is past due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OverdueAccount {
    /// The account.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its tier.
    pub tier: Option<Tier>,
    /// Its owner.
    pub owner_id: Uuid,
    /// When its next visit was due.
    pub next_visit_due: DateTime<Utc>,
    /// When its last effective visit was checked in.
    pub last_visit_at: Option<DateTime<Utc>>,
}

/// The coverage report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CoverageReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days whose visit minutes are counted.
    pub period: ReportPeriod,
    /// When cadence was judged.
    pub as_of: DateTime<Utc>,
    /// One row per group with an account or a visit, by name.
    pub rows: Vec<CoverageRow>,
    /// The sums of the rows.
    pub total: CoverageRow,
    /// The most overdue accounts (at most 100), most overdue first.
    pub overdue: Vec<OverdueAccount>,
}

/// One tier's counts while they are read.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    accounts: i64,
    within: i64,
    overdue: i64,
    minutes: i64,
}

/// A group's figures while they are read, by tier code.
#[derive(Debug, Clone, Default)]
struct Figures {
    tiers: HashMap<Option<String>, Counts>,
}

impl Figures {
    fn add(&mut self, other: &Self) {
        for (tier, counts) in &other.tiers {
            let mine = self.tiers.entry(tier.clone()).or_default();
            mine.accounts += counts.accounts;
            mine.within += counts.within;
            mine.overdue += counts.overdue;
            mine.minutes += counts.minutes;
        }
    }

    fn row(&self, group: ReportGroup) -> CoverageRow {
        let mut all = Counts::default();
        for counts in self.tiers.values() {
            all.accounts += counts.accounts;
            all.within += counts.within;
            all.overdue += counts.overdue;
            all.minutes += counts.minutes;
        }
        let tiers = Tier::ALL.iter().map(|t| Some(*t)).chain([None]);
        CoverageRow {
            group,
            accounts: all.accounts,
            within_cadence: all.within,
            within_cadence_share: ratio(all.within, all.accounts),
            overdue: all.overdue,
            visit_minutes: all.minutes,
            tiers: tiers
                .map(|tier| {
                    let code = tier.map(|t| t.as_str().to_owned());
                    let counts = self.tiers.get(&code).copied().unwrap_or_default();
                    TierCoverage {
                        tier,
                        accounts: counts.accounts,
                        account_share: ratio(counts.accounts, all.accounts),
                        within_cadence: counts.within,
                        within_cadence_share: ratio(counts.within, counts.accounts),
                        overdue: counts.overdue,
                        visit_minutes: counts.minutes,
                        time_share: ratio(counts.minutes, all.minutes),
                    }
                })
                .collect(),
        }
    }
}

/// The coverage report for `caller`, cadence judged at `now`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
    now: DateTime<Utc>,
) -> ApiResult<CoverageReport> {
    caller.require(super::SALES_READERS)?;
    let grouping = Grouping::new(caller, params);
    let mut by_group: BTreeMap<Option<Uuid>, Figures> = BTreeMap::new();
    let live = || Condition::all().add(account::Column::Deleted.eq(false));

    let mut accounts = Query::select();
    accounts.from(account::Entity);
    grouping.place(
        &mut accounts,
        (account::Entity, account::Column::OwnerId),
        (account::Entity, account::Column::Id),
    );
    accounts
        .column((account::Entity, account::Column::Tier))
        .expr(count_all())
        .expr(count_if(
            Condition::all().add(account::Column::NextVisitDue.gte(now)),
        ))
        .expr(count_if(
            Condition::all().add(account::Column::NextVisitDue.lt(now)),
        ))
        .cond_where(live());
    Grouping::group(&mut accounts, 2);
    for row in run(conn, &accounts).await? {
        let tier: Option<String> = get(&row, 1)?;
        let counts = Counts {
            accounts: get(&row, 2)?,
            within: get(&row, 3)?,
            overdue: get(&row, 4)?,
            minutes: 0,
        };
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .tiers
            .insert(tier, counts);
    }

    let mut visits = grouping.under_account(visit::Entity, visit::Column::AccountId);
    visits
        .column((account::Entity, account::Column::Tier))
        .expr(sum_int(Expr::col((
            visit::Entity,
            visit::Column::VisitMinutes,
        ))))
        .cond_where(
            live()
                .add(visit::Column::Deleted.eq(false))
                .add(visit::Column::VisitMinutes.is_not_null())
                .add(visit::Column::CheckedInAt.gte(midnight(period.start)))
                .add(visit::Column::CheckedInAt.lt(midnight(period.end))),
        );
    Grouping::group(&mut visits, 2);
    for row in run(conn, &visits).await? {
        let tier: Option<String> = get(&row, 1)?;
        let minutes: i64 = get(&row, 2)?;
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .tiers
            .entry(tier)
            .or_default()
            .minutes = minutes;
    }

    let mut overdue = Query::select();
    overdue.from(account::Entity);
    grouping.place(
        &mut overdue,
        (account::Entity, account::Column::OwnerId),
        (account::Entity, account::Column::Id),
    );
    overdue
        .columns([
            (account::Entity, account::Column::Id),
            (account::Entity, account::Column::Name),
            (account::Entity, account::Column::Tier),
            (account::Entity, account::Column::OwnerId),
            (account::Entity, account::Column::NextVisitDue),
            (account::Entity, account::Column::LastVisitAt),
        ])
        .cond_where(live().add(account::Column::NextVisitDue.lt(now)))
        .order_by((account::Entity, account::Column::NextVisitDue), Order::Asc)
        .order_by((account::Entity, account::Column::Id), Order::Asc)
        .limit(OVERDUE_LISTED);
    let mut listed = Vec::new();
    for row in run(conn, &overdue).await? {
        let tier: Option<String> = get(&row, 3)?;
        listed.push(OverdueAccount {
            id: get(&row, 1)?,
            name: get(&row, 2)?,
            tier: tier.and_then(|t| t.parse().ok()),
            owner_id: get(&row, 4)?,
            next_visit_due: get(&row, 5)?,
            last_visit_at: get(&row, 6)?,
        });
    }

    let mut total = Figures::default();
    for figures in by_group.values() {
        total.add(figures);
    }
    let rows = grouping
        .named(conn, by_group)
        .await?
        .into_iter()
        .map(|(group, figures)| figures.row(group))
        .collect();
    Ok(CoverageReport {
        group_by: grouping.group_by(),
        period: period.view(),
        as_of: now,
        rows,
        total: total.row(ReportGroup::total()),
        overdue: listed,
    })
}

impl CoverageReport {
    /// The report as CSV (see docs/reports.md); the overdue list is in
    /// the JSON only.
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let mut columns: Vec<String> = [
            "accounts",
            "within_cadence",
            "within_cadence_share",
            "overdue",
            "visit_minutes",
        ]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
        let names = Tier::ALL.iter().map(|t| t.as_str()).chain(["none"]);
        for tier in names {
            for part in [
                "accounts",
                "account_share",
                "within_cadence",
                "overdue",
                "visit_minutes",
                "time_share",
            ] {
                columns.push(format!("{tier}_{part}"));
            }
        }
        let lines = self.rows.into_iter().chain([self.total]).map(|row| {
            let mut cells = vec![
                row.accounts.to_string(),
                row.within_cadence.to_string(),
                cell(row.within_cadence_share),
                row.overdue.to_string(),
                row.visit_minutes.to_string(),
            ];
            for tier in &row.tiers {
                cells.extend([
                    tier.accounts.to_string(),
                    cell(tier.account_share),
                    tier.within_cadence.to_string(),
                    tier.overdue.to_string(),
                    tier.visit_minutes.to_string(),
                    cell(tier.time_share),
                ]);
            }
            (row.group, cells)
        });
        super::csv(&columns, lines)
    }
}
