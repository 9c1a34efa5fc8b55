//! The accounts report, by the account's owner: the accounts (not deleted)
//! by tier and by lifecycle stage as they stand now, and what moved in the
//! period: accounts created, won back (from at risk or lost back to
//! maintaining), lost, and moved to at risk, from the stage history
//! ([`crate::records::stage_moves`]).

use super::{
    GroupBy, Grouping, Period, ReportGroup, ReportParams, ReportPeriod, count_all, count_if, get,
    run,
};
use crate::auth::AuthUser;
use crate::entities::{account, stage_move};
use crate::error::ApiResult;
use crate::records::stage_moves::ACCOUNT;
use crate::records::targets::midnight;
use kam_sync_core::account::{Stage, Tier};
use sea_orm::sea_query::{Condition, Query};
use sea_orm::{ColumnTrait, ConnectionTrait};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

/// Accounts of one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TierCount {
    /// The confirmed tier; null for accounts without one.
    pub tier: Option<Tier>,
    /// How many accounts.
    pub count: i64,
}

/// Accounts at one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StageCount {
    /// The lifecycle stage.
    pub stage: Stage,
    /// How many accounts.
    pub count: i64,
}

/// One group's accounts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountsRow {
    /// The group.
    pub group: ReportGroup,
    /// Its accounts now.
    pub accounts: i64,
    /// Those by tier: strategic, key, standard, then none.
    pub by_tier: Vec<TierCount>,
    /// Those by stage, every stage in lifecycle order.
    pub by_stage: Vec<StageCount>,
    /// Accounts created in the period.
    pub created: i64,
    /// Moves in the period from at risk or lost back to maintaining (挽回).
    pub won_back: i64,
    /// Moves in the period to lost.
    pub lost: i64,
    /// Moves in the period to at risk (流失预警).
    pub moved_to_at_risk: i64,
}

/// The accounts report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountsReport {
    /// What the rows are grouped by.
    pub group_by: GroupBy,
    /// The days whose creations and moves are counted.
    pub period: ReportPeriod,
    /// One row per group with an account or a move, by name.
    pub rows: Vec<AccountsRow>,
    /// The sums of the rows.
    pub total: AccountsRow,
}

/// A group's figures while they are read.
#[derive(Debug, Clone, Default)]
struct Figures {
    /// Per (tier, stage): accounts, and those created in the period.
    accounts: HashMap<(Option<String>, String), (i64, i64)>,
    won_back: i64,
    lost: i64,
    at_risk: i64,
}

impl Figures {
    fn add(&mut self, other: &Self) {
        for (key, (count, created)) in &other.accounts {
            let mine = self.accounts.entry(key.clone()).or_default();
            mine.0 += count;
            mine.1 += created;
        }
        self.won_back += other.won_back;
        self.lost += other.lost;
        self.at_risk += other.at_risk;
    }

    fn count(&self, matches: impl Fn(&Option<String>, &String) -> bool) -> i64 {
        self.accounts
            .iter()
            .filter(|((tier, stage), _)| matches(tier, stage))
            .map(|(_, (count, _))| count)
            .sum()
    }

    fn row(&self, group: ReportGroup) -> AccountsRow {
        let tiers = Tier::ALL.iter().map(|t| Some(*t)).chain([None]);
        AccountsRow {
            group,
            accounts: self.count(|_, _| true),
            by_tier: tiers
                .map(|tier| TierCount {
                    tier,
                    count: self.count(|t, _| t.as_deref() == tier.map(Tier::as_str)),
                })
                .collect(),
            by_stage: Stage::ALL
                .iter()
                .map(|stage| StageCount {
                    stage: *stage,
                    count: self.count(|_, s| s == stage.as_str()),
                })
                .collect(),
            created: self.accounts.values().map(|(_, created)| created).sum(),
            won_back: self.won_back,
            lost: self.lost,
            moved_to_at_risk: self.at_risk,
        }
    }
}

/// The accounts report for `caller`.
pub async fn report(
    conn: &impl ConnectionTrait,
    caller: &AuthUser,
    params: &ReportParams,
    period: Period,
) -> ApiResult<AccountsReport> {
    caller.require(super::SALES_READERS)?;
    let grouping = Grouping::new(caller, params);
    let (from, to) = (midnight(period.start), midnight(period.end));
    let mut by_group: BTreeMap<Option<Uuid>, Figures> = BTreeMap::new();

    let mut accounts = Query::select();
    accounts.from(account::Entity);
    grouping.place(
        &mut accounts,
        (account::Entity, account::Column::OwnerId),
        (account::Entity, account::Column::Id),
    );
    accounts
        .column((account::Entity, account::Column::Tier))
        .column((account::Entity, account::Column::Stage))
        .expr(count_all())
        .expr(count_if(
            Condition::all()
                .add(account::Column::CreatedAt.gte(from))
                .add(account::Column::CreatedAt.lt(to)),
        ))
        .and_where(account::Column::Deleted.eq(false));
    Grouping::group(&mut accounts, 3);
    for row in run(conn, &accounts).await? {
        let key: (Option<String>, String) = (get(&row, 1)?, get(&row, 2)?);
        let counts: (i64, i64) = (get(&row, 3)?, get(&row, 4)?);
        by_group
            .entry(get(&row, 0)?)
            .or_default()
            .accounts
            .insert(key, counts);
    }

    // An account's own moves: their record is the account.
    let mut moves = grouping.under_account(stage_move::Entity, stage_move::Column::AccountId);
    let to_stage =
        |stage: Stage| Condition::all().add(stage_move::Column::ToStage.eq(stage.as_str()));
    moves
        .expr(count_if(to_stage(Stage::Maintaining).add(
            stage_move::Column::FromStage.is_in([Stage::AtRisk.as_str(), Stage::Lost.as_str()]),
        )))
        .expr(count_if(to_stage(Stage::Lost)))
        .expr(count_if(to_stage(Stage::AtRisk)))
        .cond_where(
            Condition::all()
                .add(stage_move::Column::RecordKind.eq(ACCOUNT))
                .add(stage_move::Column::MovedAt.gte(from))
                .add(stage_move::Column::MovedAt.lt(to))
                .add(account::Column::Deleted.eq(false)),
        );
    Grouping::group(&mut moves, 1);
    for row in run(conn, &moves).await? {
        let (won_back, lost, at_risk): (i64, i64, i64) =
            (get(&row, 1)?, get(&row, 2)?, get(&row, 3)?);
        if won_back + lost + at_risk == 0 {
            continue;
        }
        let figures = by_group.entry(get(&row, 0)?).or_default();
        figures.won_back = won_back;
        figures.lost = lost;
        figures.at_risk = at_risk;
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
    Ok(AccountsReport {
        group_by: grouping.group_by(),
        period: period.view(),
        rows,
        total: total.row(ReportGroup::total()),
    })
}

impl AccountsReport {
    /// The report as CSV (see docs/reports.md).
    pub fn csv(self) -> ApiResult<Vec<u8>> {
        let mut columns = vec!["accounts".to_owned()];
        columns.extend(Tier::ALL.iter().map(|t| format!("tier_{}", t.as_str())));
        columns.push("tier_none".into());
        columns.extend(Stage::ALL.iter().map(|s| format!("stage_{}", s.as_str())));
        for column in ["created", "won_back", "lost", "moved_to_at_risk"] {
            columns.push(column.into());
        }
        let lines = self.rows.into_iter().chain([self.total]).map(|row| {
            let mut cells = vec![row.accounts.to_string()];
            cells.extend(row.by_tier.iter().map(|t| t.count.to_string()));
            cells.extend(row.by_stage.iter().map(|s| s.count.to_string()));
            cells.extend([
                row.created.to_string(),
                row.won_back.to_string(),
                row.lost.to_string(),
                row.moved_to_at_risk.to_string(),
            ]);
            (row.group, cells)
        });
        super::csv(&columns, lines)
    }
}
