//! The funnel report, by the deal's owner, from the stage history
//! (`stage_moves`, see [`crate::records::stage_moves`]) and the deals'
//! rows: how many deals entered each stage in the period, the conversion
//! from each open stage to the next (deals entering the next stage over
//! deals entering this one, both in the period; `contract` converts to
//! `won`), the average days a deal spent in each stage it left in the
//! period, the deals won and lost in the period with the win rate (won
//! over won and lost) and the won amount, the average cycle (days from
//! creation to won) of the deals won, and the loss reasons ranked.
//! Deleted deals are left out.

use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, average, cell, count_all,
    count_if, get, ratio, run, sum_int,
};
use crate::auth::AuthUser;
use crate::entities::{opportunity, stage_move};
use crate::error::ApiResult;
use crate::records::stage_moves::OPPORTUNITY;
use crate::records::targets::midnight;
use crate::totals;
use kam_sync_core::money::Total;
use kam_sync_core::opportunity::OpportunityStage;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, JoinType, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// How many loss reasons a row lists, and the report.
const ROW_REASONS: usize = 5;
const REPORT_REASONS: usize = 10;

/// The stages a deal moves through, in order, and where each converts to.
const FLOW: [(OpportunityStage, OpportunityStage); 4] = [
    (OpportunityStage::Research, OpportunityStage::Planning),
    (OpportunityStage::Planning, OpportunityStage::Negotiation),
    (OpportunityStage::Negotiation, OpportunityStage::Contract),
    (OpportunityStage::Contract, OpportunityStage::Won),
];

/// One stage of the funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StageFlow {
    /// The stage.
    pub stage: OpportunityStage,
    /// How many deals entered it in the period (new deals enter research).
    pub entered: i64,
    /// The stage it converts to (the next; `won` after `contract`).
    pub next: OpportunityStage,
    /// Deals entering the next stage over deals entering this one, to four
    /// decimals; null when none entered this one.
    pub conversion: Option<f64>,
    /// The average days spent in it by the deals that left it in the
    /// period, to two decimals; null when none left it (or its entry
    /// predates the stage history).
    pub average_days: Option<f64>,
}

/// A loss reason and how many deals were lost for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LossReason {
    /// The reason, as given (trimmed).
    pub reason: String,
    /// How many deals.
    pub count: i64,
}

/// One group's funnel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunnelRow {
    /// The group.
    pub group: ReportGroup,
    /// The open stages in order.
    pub stages: Vec<StageFlow>,
    /// Deals won in the period.
    pub won: i64,
    /// Deals lost in the period.
    pub lost: i64,
    /// Won over won and lost, to four decimals; null when none closed.
    pub win_rate: Option<f64>,
    /// The amounts of the deals won, in the report's currency.
    #[schema(value_type = f64)]
    pub won_amount: Total,
    /// The average days from creation to won of the deals won, to two decimals.
    pub average_cycle_days: Option<f64>,
    /// The group's most frequent loss reasons (at most 5), most first.
    pub loss_reasons: Vec<LossReason>,
}

/// The funnel report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FunnelReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days covered.
    pub period: ReportPeriod,
    /// The currency of amounts.
    pub currency: String,
    /// One row per group with a move or a closed deal, by name.
    pub rows: Vec<FunnelRow>,
    /// The sums of the rows.
    pub total: FunnelRow,
    /// The most frequent loss reasons of the whole report (at most 10), most first.
    pub loss_reasons: Vec<LossReason>,
}

/// A group's figures while they are read.
#[derive(Debug, Clone, Default)]
struct Figures {
    entered: HashMap<String, i64>,
    /// Per stage left: the moves with a known time in it, and its seconds.
    left: HashMap<String, (i64, i64)>,
    won: i64,
    lost: i64,
    won_amount: Total,
    cycle_days: i64,
    cycles: i64,
    reasons: HashMap<String, i64>,
}

impl Figures {
    fn add(&mut self, other: &Self) {
        for (stage, count) in &other.entered {
            *self.entered.entry(stage.clone()).or_default() += count;
        }
        for (stage, (moves, secs)) in &other.left {
            let mine = self.left.entry(stage.clone()).or_default();
            mine.0 += moves;
            mine.1 += secs;
        }
        self.won += other.won;
        self.lost += other.lost;
        self.won_amount += other.won_amount;
        self.cycle_days += other.cycle_days;
        self.cycles += other.cycles;
        for (reason, count) in &other.reasons {
            *self.reasons.entry(reason.clone()).or_default() += count;
        }
    }

    fn entered(&self, stage: OpportunityStage) -> i64 {
        self.entered
            .get(stage.as_str())
            .copied()
            .unwrap_or_default()
    }

    fn row(&self, group: ReportGroup) -> FunnelRow {
        FunnelRow {
            group,
            stages: FLOW
                .iter()
                .map(|(stage, next)| StageFlow {
                    stage: *stage,
                    entered: self.entered(*stage),
                    next: *next,
                    conversion: ratio(self.entered(*next), self.entered(*stage)),
                    average_days: self
                        .left
                        .get(stage.as_str())
                        .and_then(|(moves, secs)| average(*secs, *moves * 86_400)),
                })
                .collect(),
            won: self.won,
            lost: self.lost,
            win_rate: ratio(self.won, self.won + self.lost),
            won_amount: self.won_amount,
            average_cycle_days: average(self.cycle_days, self.cycles),
            loss_reasons: ranked(&self.reasons, ROW_REASONS),
        }
    }
}

/// The `limit` most frequent reasons, most first (then by text).
fn ranked(reasons: &HashMap<String, i64>, limit: usize) -> Vec<LossReason> {
    let mut list: Vec<LossReason> = reasons
        .iter()
        .map(|(reason, count)| LossReason {
            reason: reason.clone(),
            count: *count,
        })
        .collect();
    list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
    list.truncate(limit);
    list
}

/// The funnel report for `caller`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
) -> ApiResult<FunnelReport> {
    caller.require(super::SALES_READERS)?;
    let currency = params.currency()?;
    let grouping = Grouping::new(caller, params);
    let mut by_group: BTreeMap<Option<Uuid>, Figures> = BTreeMap::new();

    let moves = |stage: stage_move::Column| {
        let mut select = Query::select();
        select.from(stage_move::Entity).join(
            JoinType::InnerJoin,
            opportunity::Entity,
            Expr::col((opportunity::Entity, opportunity::Column::Id))
                .equals((stage_move::Entity, stage_move::Column::RecordId)),
        );
        grouping.place(
            &mut select,
            (opportunity::Entity, opportunity::Column::OwnerId),
            (stage_move::Entity, stage_move::Column::AccountId),
        );
        select.column((stage_move::Entity, stage)).cond_where(
            Condition::all()
                .add(stage_move::Column::RecordKind.eq(OPPORTUNITY))
                .add(stage_move::Column::MovedAt.gte(midnight(period.start)))
                .add(stage_move::Column::MovedAt.lt(midnight(period.end)))
                .add(opportunity::Column::Deleted.eq(false)),
        );
        select
    };
    let mut entered = moves(stage_move::Column::ToStage);
    entered.expr(count_all());
    Grouping::group(&mut entered, 2);
    for row in run(conn, &entered).await? {
        let count: i64 = get(&row, 2)?;
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .entered
            .insert(get(&row, 1)?, count);
    }
    let mut left = moves(stage_move::Column::FromStage);
    let timed = stage_move::Column::SecsInFromStage.is_not_null();
    left.expr(count_if(Condition::all().add(timed)))
        .expr(sum_int(Expr::col((
            stage_move::Entity,
            stage_move::Column::SecsInFromStage,
        ))))
        .and_where(stage_move::Column::FromStage.is_not_null());
    Grouping::group(&mut left, 2);
    for row in run(conn, &left).await? {
        let (moves, secs): (i64, i64) = (get(&row, 2)?, get(&row, 3)?);
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .left
            .insert(get(&row, 1)?, (moves, secs));
    }

    let closed = |select: &mut SelectStatement, stages: &[OpportunityStage]| {
        select.from(opportunity::Entity);
        grouping.place(
            select,
            (opportunity::Entity, opportunity::Column::OwnerId),
            (opportunity::Entity, opportunity::Column::AccountId),
        );
        select.cond_where(
            Condition::all()
                .add(opportunity::Column::Deleted.eq(false))
                .add(opportunity::Column::Stage.is_in(stages.iter().map(|s| s.as_str())))
                .add(opportunity::Column::ClosesOn.gte(period.start))
                .add(opportunity::Column::ClosesOn.lt(period.end)),
        );
    };
    let mut outcomes = Query::select();
    closed(
        &mut outcomes,
        &[OpportunityStage::Won, OpportunityStage::Lost],
    );
    let won =
        || Condition::all().add(opportunity::Column::Stage.eq(OpportunityStage::Won.as_str()));
    let [high, low] = totals::sum_parts_of(
        Expr::case(
            won().add(opportunity::Column::Currency.eq(currency.clone())),
            Expr::col((opportunity::Entity, opportunity::Column::AmountMinor)),
        )
        .into(),
    );
    outcomes
        .expr(count_if(won()))
        .expr(count_all())
        .expr(high)
        .expr(low)
        .expr(sum_int(Expr::col((
            opportunity::Entity,
            opportunity::Column::CycleDays,
        ))))
        .expr(count_if(
            won().add(opportunity::Column::CycleDays.is_not_null()),
        ));
    Grouping::group(&mut outcomes, 1);
    for row in run(conn, &outcomes).await? {
        let figures = by_group.entry(get(&row, 0)?).or_default();
        figures.won = get(&row, 1)?;
        figures.lost = get::<i64>(&row, 2)? - figures.won;
        figures.won_amount = totals::total(get(&row, 3)?, get(&row, 4)?);
        figures.cycle_days = get(&row, 5)?;
        figures.cycles = get(&row, 6)?;
    }

    let mut reasons = Query::select();
    closed(&mut reasons, &[OpportunityStage::Lost]);
    reasons
        .column((opportunity::Entity, opportunity::Column::LostReason))
        .expr(count_all())
        .and_where(opportunity::Column::LostReason.is_not_null());
    Grouping::group(&mut reasons, 2);
    for row in run(conn, &reasons).await? {
        let count: i64 = get(&row, 2)?;
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .reasons
            .insert(get(&row, 1)?, count);
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
    Ok(FunnelReport {
        group_by: grouping.group_by(),
        period: period.view(),
        currency,
        rows,
        loss_reasons: ranked(&total.reasons, REPORT_REASONS),
        total: total.row(ReportGroup::total()),
    })
}

impl FunnelReport {
    /// The report as CSV (see docs/reports.md); the loss reasons as one
    /// cell, `reason (count)` joined by `; `.
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let mut columns = Vec::new();
        for (stage, next) in FLOW {
            let stage = stage.as_str();
            columns.push(format!("{stage}_entered"));
            columns.push(format!("{stage}_to_{}", next.as_str()));
            columns.push(format!("{stage}_average_days"));
        }
        for column in [
            "won",
            "lost",
            "win_rate",
            "won_amount",
            "average_cycle_days",
            "loss_reasons",
            "currency",
        ] {
            columns.push(column.into());
        }
        let currency = self.currency.clone();
        let lines = self.rows.into_iter().chain([self.total]).map(|row| {
            let mut cells = Vec::new();
            for stage in &row.stages {
                cells.push(stage.entered.to_string());
                cells.push(cell(stage.conversion));
                cells.push(cell(stage.average_days));
            }
            let reasons: Vec<String> = row
                .loss_reasons
                .iter()
                .map(|r| format!("{} ({})", r.reason, r.count))
                .collect();
            cells.extend([
                row.won.to_string(),
                row.lost.to_string(),
                cell(row.win_rate),
                row.won_amount.to_string(),
                cell(row.average_cycle_days),
                crate::csv_io::neutralize(reasons.join("; ")),
                currency.clone(),
            ]);
            (row.group, cells)
        });
        super::csv(&columns, lines)
    }
}
