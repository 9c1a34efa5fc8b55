//! The pipeline report: the open opportunities (research, planning,
//! negotiation, contract; not deleted) of each group by the deal's owner,
//! as they stand now, with their amounts and amounts weighted by their
//! probability, by stage; and those expected to close in each month of the
//! period. Amounts are in the report's currency (deals in others are
//! counted, not summed).

use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, bucket, count_all, get, run,
};
use crate::auth::AuthUser;
use crate::entities::opportunity;
use crate::error::{ApiError, ApiResult};
use crate::totals;
use kam_sync_core::money::Total;
use kam_sync_core::opportunity::OpportunityStage;
use sea_orm::sea_query::{Condition, Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// The open stages, in order.
const OPEN: [OpportunityStage; 4] = [
    OpportunityStage::Research,
    OpportunityStage::Planning,
    OpportunityStage::Negotiation,
    OpportunityStage::Contract,
];

/// Deals and their amounts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DealFigures {
    /// How many deals.
    pub count: i64,
    /// Their amounts, in the report's currency (major units).
    #[schema(value_type = f64)]
    pub amount: Total,
    /// Their amounts times their probability.
    #[schema(value_type = f64)]
    pub weighted_amount: Total,
}

impl DealFigures {
    fn add(&mut self, other: &Self) {
        self.count += other.count;
        self.amount += other.amount;
        self.weighted_amount += other.weighted_amount;
    }

    fn cells(&self) -> [String; 3] {
        [
            self.count.to_string(),
            self.amount.to_string(),
            self.weighted_amount.to_string(),
        ]
    }
}

/// The open deals at one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupStageFigures {
    /// The stage.
    pub stage: OpportunityStage,
    /// Its deals.
    #[serde(flatten)]
    pub figures: DealFigures,
}

/// The open deals expected to close in one month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MonthFigures {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// Its deals.
    #[serde(flatten)]
    pub figures: DealFigures,
}

/// One group's pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PipelineRow {
    /// The group.
    pub group: ReportGroup,
    /// Every open deal.
    pub open: DealFigures,
    /// The open deals by stage, every open stage in order.
    pub by_stage: Vec<GroupStageFigures>,
    /// The open deals expected to close in each month of the period, in order.
    pub closing: Vec<MonthFigures>,
}

/// The pipeline report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PipelineReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days whose expected closes are counted.
    pub period: ReportPeriod,
    /// The currency of amounts.
    pub currency: String,
    /// One row per group with an open deal, by name.
    pub rows: Vec<PipelineRow>,
    /// The sums of the rows.
    pub total: PipelineRow,
}

/// A group's figures while they are read.
#[derive(Debug, Clone)]
struct Figures {
    by_stage: [DealFigures; 4],
    closing: Vec<DealFigures>,
}

impl Figures {
    fn new(months: usize) -> Self {
        Self {
            by_stage: [DealFigures::default(); 4],
            closing: vec![DealFigures::default(); months],
        }
    }

    fn add(&mut self, other: &Self) {
        for (mine, theirs) in self.by_stage.iter_mut().zip(&other.by_stage) {
            mine.add(theirs);
        }
        for (mine, theirs) in self.closing.iter_mut().zip(&other.closing) {
            mine.add(theirs);
        }
    }

    fn row(&self, group: ReportGroup, labels: &[String]) -> PipelineRow {
        let mut open = DealFigures::default();
        for stage in &self.by_stage {
            open.add(stage);
        }
        PipelineRow {
            group,
            open,
            by_stage: OPEN
                .iter()
                .zip(self.by_stage)
                .map(|(stage, figures)| GroupStageFigures {
                    stage: *stage,
                    figures,
                })
                .collect(),
            closing: labels
                .iter()
                .zip(&self.closing)
                .map(|(month, figures)| MonthFigures {
                    month: month.clone(),
                    figures: *figures,
                })
                .collect(),
        }
    }
}

/// Selects, after the group (and any bucket), the deals' count and the
/// parts of their amounts and weighted amounts in `currency`.
fn deal_figures(select: &mut SelectStatement, currency: &str) {
    let of = |column: opportunity::Column| {
        totals::sum_parts_of(
            Expr::case(
                opportunity::Column::Currency.eq(currency),
                Expr::col((opportunity::Entity, column)),
            )
            .into(),
        )
    };
    let [amount_high, amount_low] = of(opportunity::Column::AmountMinor);
    let [weighted_high, weighted_low] = of(opportunity::Column::WeightedMinor);
    select
        .expr(count_all())
        .expr(amount_high)
        .expr(amount_low)
        .expr(weighted_high)
        .expr(weighted_low);
}

/// The figures of columns `first..first + 5` of a row of [`deal_figures`].
fn read_deals(row: &sea_orm::QueryResult, first: usize) -> ApiResult<DealFigures> {
    Ok(DealFigures {
        count: get(row, first)?,
        amount: totals::total(get(row, first + 1)?, get(row, first + 2)?),
        weighted_amount: totals::total(get(row, first + 3)?, get(row, first + 4)?),
    })
}

/// The deals still being worked: open stages, not deleted.
pub(super) fn open_deals() -> Condition {
    Condition::all()
        .add(opportunity::Column::Deleted.eq(false))
        .add(opportunity::Column::Stage.is_in(OPEN.iter().map(|s| s.as_str())))
}

/// The pipeline report for `caller`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
) -> ApiResult<PipelineReport> {
    caller.require(super::SALES_READERS)?;
    let currency = params.currency()?;
    let grouping = Grouping::new(caller, params);
    let months = period.months();
    let labels: Vec<String> = months
        .iter()
        .map(|m| m.format("%Y-%m").to_string())
        .collect();
    let mut by_group: BTreeMap<Option<Uuid>, Figures> = BTreeMap::new();
    let place = |select: &mut SelectStatement| {
        select.from(opportunity::Entity);
        grouping.place(
            select,
            (opportunity::Entity, opportunity::Column::OwnerId),
            (opportunity::Entity, opportunity::Column::AccountId),
        );
    };

    let mut stages = Query::select();
    place(&mut stages);
    stages.column((opportunity::Entity, opportunity::Column::Stage));
    deal_figures(&mut stages, &currency);
    stages.cond_where(open_deals());
    Grouping::group(&mut stages, 2);
    for row in run(conn, &stages).await? {
        let stage: String = get(&row, 1)?;
        let index = OPEN
            .iter()
            .position(|s| s.as_str() == stage)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("open stage {stage}")))?;
        by_group
            .entry(get(&row, 0)?)
            .or_insert_with(|| Figures::new(months.len()))
            .by_stage[index] = read_deals(&row, 2)?;
    }

    let mut closing = Query::select();
    place(&mut closing);
    closing.expr(bucket(
        (opportunity::Entity, opportunity::Column::ExpectedCloseOn),
        &months,
    ));
    deal_figures(&mut closing, &currency);
    closing.cond_where(
        open_deals()
            .add(opportunity::Column::ExpectedCloseOn.gte(period.start))
            .add(opportunity::Column::ExpectedCloseOn.lt(period.end)),
    );
    Grouping::group(&mut closing, 2);
    for row in run(conn, &closing).await? {
        let index = usize::try_from(get::<i64>(&row, 1)?).unwrap_or(usize::MAX);
        let figures = by_group
            .entry(get(&row, 0)?)
            .or_insert_with(|| Figures::new(months.len()));
        if let Some(month) = figures.closing.get_mut(index) {
            *month = read_deals(&row, 2)?;
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
    Ok(PipelineReport {
        group_by: grouping.group_by(),
        period: period.view(),
        currency,
        rows,
        total: total.row(ReportGroup::total(), &labels),
    })
}

impl PipelineReport {
    /// The report as CSV (see docs/reports.md).
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let parts = ["count", "amount", "weighted"];
        let mut columns: Vec<String> = parts.iter().map(|p| format!("open_{p}")).collect();
        for stage in OPEN {
            columns.extend(parts.iter().map(|p| format!("{}_{p}", stage.as_str())));
        }
        for month in &self.total.closing {
            columns.extend(parts.iter().map(|p| format!("close_{}_{p}", month.month)));
        }
        columns.push("currency".into());
        let currency = self.currency.clone();
        let lines = self.rows.into_iter().chain([self.total]).map(|row| {
            let mut cells: Vec<String> = row.open.cells().into();
            for stage in &row.by_stage {
                cells.extend(stage.figures.cells());
            }
            for month in &row.closing {
                cells.extend(month.figures.cells());
            }
            cells.push(currency.clone());
            (row.group, cells)
        });
        super::csv(&columns, lines)
    }
}
