//! Keeps the insight of accounts current: reads what their rows say (a
//! fixed number of grouped queries per batch of accounts, no documents),
//! assesses it ([`super::signals::assess`]) and writes what changed: the
//! warning rows, the account's insight columns and the insight part of its
//! stored view, and the at-risk proposal.
//!
//! Every write refreshes the accounts it touched, in its own transaction
//! (the unit of work calls [`accounts`] after materializing), so a view read
//! after a write is current; the sweep ([`super::sweep`]) refreshes every
//! account once per interval for the signals that time alone brings.
//!
//! On PostgreSQL the account rows are locked first, in id order: two
//! refreshes of one account (a write's and the sweep's) run one after the
//! other, and the later one reads what the earlier committed.

use super::settings::InsightSettings;
use super::signals::{
    self, Evidence, Facts, HealthBand, KeyPerson, OpenTicket, Revenue, Signal, WarningCode,
    WarningSeverity,
};
use crate::entities::{
    account, account_warning, callback, contact, contract, opportunity, ticket, visit,
};
use crate::error::{ApiError, ApiResult};
use crate::totals;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use kam_sync_core::account::{Stage, Tier};
use kam_sync_core::callback::CallbackStatus;
use kam_sync_core::contact::{Attitude, BuyingRole};
use kam_sync_core::opportunity::OpportunityStage;
use kam_sync_core::ticket::{TicketStatus, TicketType};
use kam_sync_core::visit::VisitStatus;
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Select, Set, TryGetableMany,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Accounts refreshed per batch of queries.
pub const BATCH: usize = 500;

/// Rows of each kind read per account refreshed (overdue visits, rated
/// callbacks, open tickets, key persons that count, deals, contracts
/// ending): a refresh reads a bounded number of rows, however many records
/// a user made, the rows that matter most first. Counts in a warning's
/// detail stop there.
pub const FACTS_PER_ACCOUNT: u64 = 100;

/// What a refresh does, on PostgreSQL, about an account row another
/// transaction holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locking {
    /// Wait for it: a write refreshes the accounts it touched.
    Wait,
    /// Skip it: the sweep leaves an account being written to that write's
    /// own refresh, and never waits on a writer (so the two cannot deadlock).
    SkipLocked,
}

/// A warning as an account view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Warning {
    /// The signal's stable code.
    pub code: WarningCode,
    /// How much it weighs.
    pub severity: WarningSeverity,
    /// Since when it holds.
    pub since: DateTime<Utc>,
    /// When the server first raised it (it stays while the signal holds).
    pub raised_at: DateTime<Utc>,
    /// What it says, in English.
    pub detail: String,
    /// The records that show it.
    pub evidence: Vec<Evidence>,
}

/// The insight part of an account's view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AccountInsight {
    /// Health, 0-100, from its warnings; null for an account not followed
    /// (stage `identified` or `lost`).
    #[schema(required = true)]
    pub health: Option<i64>,
    /// The band its health falls in.
    #[schema(required = true)]
    pub health_band: Option<HealthBand>,
    /// The warnings that hold, by code.
    #[schema(required = true)]
    pub warnings: Vec<Warning>,
    /// When its last effective visit was checked in.
    #[schema(required = true)]
    pub last_visit_at: Option<DateTime<Utc>>,
    /// When its next visit is due under its tier's cadence.
    #[schema(required = true)]
    pub next_visit_due: Option<DateTime<Utc>>,
    /// Whether that time has passed.
    #[schema(required = true)]
    pub visit_overdue: bool,
    /// When the server proposed moving it to `at_risk`, while a manager has
    /// not decided.
    #[schema(required = true)]
    pub at_risk_proposed_at: Option<DateTime<Utc>>,
}

impl AccountInsight {
    /// Brings `visit_overdue` up to `now`.
    pub fn as_of(&mut self, now: DateTime<Utc>) {
        self.visit_overdue = self.next_visit_due.is_some_and(|due| due < now);
    }
}

/// An account row as a refresh reads it: id, stage, tier, created, the
/// codes of a dismissed proposal, the stored view.
type AccountRow = (
    Uuid,
    String,
    Option<String>,
    DateTime<Utc>,
    Option<String>,
    Value,
);

/// A rated callback: account, id, when done, satisfaction.
type RatedRow = (Uuid, Uuid, Option<DateTime<Utc>>, Option<i64>);

/// An open ticket: account, id, type, opened, SLA due.
type TicketRow = (Uuid, Uuid, String, DateTime<Utc>, DateTime<Utc>);

/// The account row's parts a refresh reads.
struct Current {
    stage: Stage,
    tier: Option<Tier>,
    created_at: DateTime<Utc>,
    dismissed: Option<String>,
    body: Value,
}

fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> ApiResult<T> {
    text.parse()
        .map_err(|err: String| ApiError::internal(anyhow::anyhow!(err)))
}

/// Refreshes the insight of `ids` (any number, in batches of [`BATCH`]) at
/// `now`; deleted or unknown accounts are skipped. Returns the insight of
/// each refreshed account and how many changed.
pub async fn accounts(
    conn: &impl ConnectionTrait,
    settings: &InsightSettings,
    ids: &[Uuid],
    locking: Locking,
    now: DateTime<Utc>,
) -> ApiResult<(HashMap<Uuid, AccountInsight>, u64)> {
    let mut sorted: Vec<Uuid> = ids.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut all = HashMap::with_capacity(sorted.len());
    let mut changed = 0;
    for batch in sorted.chunks(BATCH) {
        changed += refresh_batch(conn, settings, batch, locking, now, &mut all).await?;
    }
    Ok((all, changed))
}

/// Refreshes one account after a write outside the unit of work (a
/// contract's), in the writer's transaction, with the settings in force.
pub async fn after_write(conn: &impl ConnectionTrait, account: Uuid) -> ApiResult<()> {
    let settings = super::settings::current(conn).await?.settings;
    accounts(conn, &settings, &[account], Locking::Wait, Utc::now())
        .await
        .map(drop)
}

async fn refresh_batch(
    conn: &impl ConnectionTrait,
    settings: &InsightSettings,
    ids: &[Uuid],
    locking: Locking,
    now: DateTime<Utc>,
    out: &mut HashMap<Uuid, AccountInsight>,
) -> ApiResult<u64> {
    let mut query = account::Entity::find()
        .select_only()
        .columns([
            account::Column::Id,
            account::Column::Stage,
            account::Column::Tier,
            account::Column::CreatedAt,
            account::Column::AtRiskDismissed,
            account::Column::Body,
        ])
        .filter(account::Column::Id.is_in(ids.iter().copied()))
        .filter(account::Column::Deleted.eq(false))
        .order_by_asc(account::Column::Id);
    if conn.get_database_backend() == DbBackend::Postgres {
        query = match locking {
            Locking::Wait => query.lock_exclusive(),
            Locking::SkipLocked => {
                query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            }
        };
    }
    let rows: Vec<AccountRow> = query.into_tuple().all(conn).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut current = HashMap::with_capacity(rows.len());
    for (id, stage, tier, created_at, dismissed, body) in rows {
        current.insert(
            id,
            Current {
                stage: parse(&stage)?,
                tier: tier.as_deref().map(parse).transpose()?,
                created_at,
                dismissed,
                body,
            },
        );
    }
    let ids: Vec<Uuid> = current.keys().copied().collect();
    let mut facts = read_facts(conn, settings, &ids, &current, now).await?;
    let mut changed = 0;
    for (id, now_current) in current {
        let Some(facts) = facts.remove(&id) else {
            continue;
        };
        let assessment = signals::assess(settings, &facts, now);
        let (insight, was_changed) =
            write_account(conn, id, now_current, &facts, assessment, now).await?;
        changed += u64::from(was_changed);
        out.insert(id, insight);
    }
    Ok(changed)
}

/// Writes what changed of account `id`'s insight; returns it, and whether
/// it changed. What it was is the insight part of the stored view (its
/// warnings are the `account_warnings` rows, written together).
async fn write_account(
    conn: &impl ConnectionTrait,
    id: Uuid,
    current: Current,
    facts: &Facts,
    assessment: signals::Assessment,
    now: DateTime<Utc>,
) -> ApiResult<(AccountInsight, bool)> {
    let mut old = AccountInsight::deserialize(&current.body).map_err(ApiError::internal)?;
    old.as_of(now);
    let raised: HashMap<WarningCode, DateTime<Utc>> =
        old.warnings.iter().map(|w| (w.code, w.raised_at)).collect();
    let warnings: Vec<Warning> = assessment
        .signals
        .into_iter()
        .map(
            |Signal {
                 code,
                 severity,
                 since,
                 detail,
                 evidence,
             }| Warning {
                raised_at: raised.get(&code).copied().unwrap_or(now),
                code,
                severity,
                since,
                detail,
                evidence,
            },
        )
        .collect();
    let codes: Vec<&str> = warnings.iter().map(|w| w.code.as_str()).collect();
    let proposable = assessment.band == Some(HealthBand::AtRisk)
        && matches!(
            current.stage,
            Stage::Engaging | Stage::Deepening | Stage::Maintaining
        );
    let dismissed: HashSet<&str> = current
        .dismissed
        .as_deref()
        .map(|d| d.split(',').collect())
        .unwrap_or_default();
    let proposed = proposable && !codes.iter().all(|c| dismissed.contains(c));
    let mut insight = AccountInsight {
        health: assessment.health,
        health_band: assessment.band,
        warnings,
        last_visit_at: facts.last_visit_at,
        next_visit_due: assessment.next_visit_due,
        visit_overdue: false,
        at_risk_proposed_at: proposed.then(|| old.at_risk_proposed_at.unwrap_or(now)),
    };
    insight.as_of(now);
    // A dismissal holds while the account stays at risk; once it recovers,
    // the next slip is proposed again.
    let keep_dismissed = if assessment.band == Some(HealthBand::AtRisk) {
        current.dismissed.clone()
    } else {
        None
    };
    if old == insight && keep_dismissed == current.dismissed {
        return Ok((insight, false));
    }
    write_warnings(conn, id, &old.warnings, &insight.warnings).await?;
    let mut body = current.body;
    if let (Value::Object(map), Value::Object(parts)) = (
        &mut body,
        serde_json::to_value(&insight).map_err(ApiError::internal)?,
    ) {
        map.extend(parts);
    }
    account::Entity::update_many()
        .col_expr(
            account::Column::LastVisitAt,
            Expr::value(insight.last_visit_at),
        )
        .col_expr(
            account::Column::NextVisitDue,
            Expr::value(insight.next_visit_due),
        )
        .col_expr(account::Column::Health, Expr::value(insight.health))
        .col_expr(
            account::Column::HealthBand,
            Expr::value(insight.health_band.map(|b| b.as_str().to_owned())),
        )
        .col_expr(
            account::Column::AtRiskProposedAt,
            Expr::value(insight.at_risk_proposed_at),
        )
        .col_expr(
            account::Column::AtRiskDismissed,
            Expr::value(keep_dismissed),
        )
        .col_expr(account::Column::Body, Expr::value(body))
        .filter(account::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok((insight, true))
}

async fn write_warnings(
    conn: &impl ConnectionTrait,
    id: Uuid,
    before: &[Warning],
    now_holding: &[Warning],
) -> ApiResult<()> {
    let holding: HashSet<WarningCode> = now_holding.iter().map(|w| w.code).collect();
    let gone: Vec<&str> = before
        .iter()
        .filter(|w| !holding.contains(&w.code))
        .map(|w| w.code.as_str())
        .collect();
    if !gone.is_empty() {
        account_warning::Entity::delete_many()
            .filter(account_warning::Column::AccountId.eq(id))
            .filter(account_warning::Column::Code.is_in(gone))
            .exec(conn)
            .await?;
    }
    let rows = now_holding
        .iter()
        .map(|w| {
            Ok(account_warning::ActiveModel {
                account_id: Set(id),
                code: Set(w.code.as_str().to_owned()),
                severity: Set(w.severity.as_str().to_owned()),
                since: Set(w.since),
                raised_at: Set(w.raised_at),
                detail: Set(w.detail.clone()),
                evidence: Set(serde_json::to_value(&w.evidence).map_err(ApiError::internal)?),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    crate::db::upsert_each(
        conn,
        rows,
        OnConflict::columns([
            account_warning::Column::AccountId,
            account_warning::Column::Code,
        ])
        .update_columns([
            account_warning::Column::Severity,
            account_warning::Column::Since,
            account_warning::Column::Detail,
            account_warning::Column::Evidence,
        ])
        .to_owned(),
    )
    .await?;
    Ok(())
}

/// The rows `query` selects for `accounts`, at most [`FACTS_PER_ACCOUNT`]
/// per account: one query for them all when that stays within their share,
/// else one per account, so that an account with a great many rows leaves
/// every other its own.
async fn bounded<E, T>(
    conn: &impl ConnectionTrait,
    accounts: &[Uuid],
    query: impl Fn(&[Uuid]) -> Select<E>,
) -> ApiResult<Vec<T>>
where
    E: EntityTrait,
    T: TryGetableMany,
{
    let share = FACTS_PER_ACCOUNT.saturating_mul(accounts.len() as u64);
    let rows: Vec<T> = query(accounts).limit(share).into_tuple().all(conn).await?;
    if (rows.len() as u64) < share {
        return Ok(rows);
    }
    let mut each = Vec::new();
    for account in accounts {
        each.extend(
            query(std::slice::from_ref(account))
                .limit(FACTS_PER_ACCOUNT)
                .into_tuple::<T>()
                .all(conn)
                .await?,
        );
    }
    Ok(each)
}

/// Reads the facts of `ids` from the rows: one query per kind, grouped or
/// at most [`FACTS_PER_ACCOUNT`] rows per account.
async fn read_facts(
    conn: &impl ConnectionTrait,
    settings: &InsightSettings,
    ids: &[Uuid],
    current: &HashMap<Uuid, Current>,
    now: DateTime<Utc>,
) -> ApiResult<HashMap<Uuid, Facts>> {
    let w = &settings.warnings;
    let in_ids = || ids.iter().copied();
    let mut facts: HashMap<Uuid, Facts> = current
        .iter()
        .map(|(id, c)| {
            (
                *id,
                Facts {
                    stage: c.stage,
                    tier: c.tier,
                    created_at: c.created_at,
                    last_visit_at: None,
                    overdue_visits: Vec::new(),
                    rated_callbacks: Vec::new(),
                    open_tickets: Vec::new(),
                    key_persons: Vec::new(),
                    lost_opportunities: Vec::new(),
                    open_opportunity: false,
                    ending_contracts: Vec::new(),
                    revenue: Vec::new(),
                },
            )
        })
        .collect();
    // Every account shows its last effective visit, followed or not.
    let last_visits: Vec<(Uuid, Option<DateTime<Utc>>)> = visit::Entity::find()
        .select_only()
        .column(visit::Column::AccountId)
        .column_as(visit::Column::CheckedInAt.max(), "last")
        .filter(visit::Column::AccountId.is_in(in_ids()))
        .filter(visit::Column::Effective.eq(true))
        .filter(visit::Column::Deleted.eq(false))
        .group_by(visit::Column::AccountId)
        .into_tuple()
        .all(conn)
        .await?;
    for (id, last) in last_visits {
        if let Some(f) = facts.get_mut(&id) {
            f.last_visit_at = last;
        }
    }

    let followed: Vec<Uuid> = current
        .iter()
        .filter(|(_, c)| signals::followed(c.stage))
        .map(|(id, _)| *id)
        .collect();
    if followed.is_empty() {
        return Ok(facts);
    }
    let in_followed = || followed.iter().copied();

    let overdue_before = now - Duration::hours(settings.visits.overdue_after_hours.into());
    let overdue: Vec<(Uuid, Uuid, DateTime<Utc>)> = bounded(conn, &followed, |accounts| {
        visit::Entity::find()
            .select_only()
            .columns([
                visit::Column::AccountId,
                visit::Column::Id,
                visit::Column::PlannedAt,
            ])
            .filter(visit::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(visit::Column::Status.eq(VisitStatus::Planned.as_str()))
            .filter(visit::Column::Deleted.eq(false))
            .filter(visit::Column::PlannedAt.lt(overdue_before))
            .order_by_asc(visit::Column::PlannedAt)
    })
    .await?;
    for (account, id, planned_at) in overdue {
        if let Some(f) = facts.get_mut(&account) {
            f.overdue_visits.push((id, planned_at));
        }
    }

    let period = Duration::days(w.satisfaction_period_days.into());
    let rated: Vec<RatedRow> = bounded(conn, &followed, |accounts| {
        callback::Entity::find()
            .select_only()
            .columns([
                callback::Column::AccountId,
                callback::Column::Id,
                callback::Column::DoneAt,
                callback::Column::Satisfaction,
            ])
            .filter(callback::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(callback::Column::Status.eq(CallbackStatus::Done.as_str()))
            .filter(callback::Column::Deleted.eq(false))
            .filter(callback::Column::Satisfaction.is_not_null())
            .filter(callback::Column::DoneAt.gte(now - period * 2))
            .order_by_desc(callback::Column::DoneAt)
    })
    .await?;
    for (account, id, done_at, satisfaction) in rated {
        if let (Some(f), Some(at), Some(score)) = (facts.get_mut(&account), done_at, satisfaction) {
            f.rated_callbacks.push((id, at, score));
        }
    }

    let open: Vec<TicketRow> = bounded(conn, &followed, |accounts| {
        ticket::Entity::find()
            .select_only()
            .columns([
                ticket::Column::AccountId,
                ticket::Column::Id,
                ticket::Column::TicketType,
                ticket::Column::CreatedAt,
                ticket::Column::SlaDueAt,
            ])
            .filter(ticket::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(ticket::Column::Status.is_not_in([
                TicketStatus::Resolved.as_str(),
                TicketStatus::Closed.as_str(),
            ]))
            .filter(ticket::Column::Deleted.eq(false))
            .order_by_asc(ticket::Column::SlaDueAt)
    })
    .await?;
    for (account, id, kind, created_at, sla_due_at) in open {
        if let Some(f) = facts.get_mut(&account) {
            f.open_tickets.push(OpenTicket {
                id,
                complaint: kind == TicketType::Complaint.as_str(),
                created_at,
                sla_due_at,
            });
        }
    }

    let persons: Vec<(Uuid, Uuid, Option<String>, Option<String>)> =
        bounded(conn, &followed, |accounts| {
            contact::Entity::find()
                .select_only()
                .columns([
                    contact::Column::AccountId,
                    contact::Column::Id,
                    contact::Column::BuyingRole,
                    contact::Column::Attitude,
                ])
                .filter(contact::Column::AccountId.is_in(accounts.iter().copied()))
                .filter(contact::Column::Deleted.eq(false))
                // Only the key persons the signals look at: decision makers, champions, coaches.
                .filter(
                    sea_orm::Condition::any()
                        .add(contact::Column::BuyingRole.is_in([
                            BuyingRole::DecisionMaker.as_str(),
                            BuyingRole::Coach.as_str(),
                        ]))
                        .add(contact::Column::Attitude.eq(Attitude::Champion.as_str())),
                )
        })
        .await?;
    for (account, id, role, attitude) in persons {
        if let Some(f) = facts.get_mut(&account) {
            let role = role.as_deref();
            let attitude = attitude.as_deref();
            f.key_persons.push(KeyPerson {
                id,
                decision_maker: role == Some(BuyingRole::DecisionMaker.as_str()),
                champion: attitude == Some(Attitude::Champion.as_str())
                    || role == Some(BuyingRole::Coach.as_str()),
                opponent: attitude == Some(Attitude::Opponent.as_str()),
            });
        }
    }

    let today = now.date_naive();
    let lost_since = today - Duration::days(w.lost_opportunity_days.into());
    let lost: Vec<(Uuid, Uuid, Option<NaiveDate>)> = bounded(conn, &followed, |accounts| {
        opportunity::Entity::find()
            .select_only()
            .columns([
                opportunity::Column::AccountId,
                opportunity::Column::Id,
                opportunity::Column::ClosesOn,
            ])
            .filter(opportunity::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(opportunity::Column::Deleted.eq(false))
            .filter(opportunity::Column::Stage.eq(OpportunityStage::Lost.as_str()))
            .filter(opportunity::Column::ClosesOn.gte(lost_since))
            .order_by_desc(opportunity::Column::ClosesOn)
    })
    .await?;
    for (account, id, closes_on) in lost {
        if let Some(f) = facts.get_mut(&account) {
            f.lost_opportunities.push((id, closes_on.unwrap_or(today)));
        }
    }
    let with_open_deal: Vec<Uuid> = opportunity::Entity::find()
        .select_only()
        .column(opportunity::Column::AccountId)
        .filter(opportunity::Column::AccountId.is_in(in_followed()))
        .filter(opportunity::Column::Deleted.eq(false))
        .filter(opportunity::Column::Stage.is_not_in([
            OpportunityStage::Won.as_str(),
            OpportunityStage::Lost.as_str(),
        ]))
        .group_by(opportunity::Column::AccountId)
        .into_tuple()
        .all(conn)
        .await?;
    for account in with_open_deal {
        if let Some(f) = facts.get_mut(&account) {
            f.open_opportunity = true;
        }
    }

    let ending_by = today + Duration::days(w.contract_ending_days.into());
    let ending: Vec<(Uuid, Uuid, Option<NaiveDate>)> = bounded(conn, &followed, |accounts| {
        contract::Entity::find()
            .select_only()
            .columns([
                contract::Column::AccountId,
                contract::Column::Id,
                contract::Column::EndOn,
            ])
            .filter(contract::Column::AccountId.is_in(accounts.iter().copied()))
            .filter(contract::Column::Status.eq("active"))
            .filter(contract::Column::EndOn.gte(today))
            .filter(contract::Column::EndOn.lte(ending_by))
            .order_by_asc(contract::Column::EndOn)
    })
    .await?;
    for (account, id, end_on) in ending {
        if let (Some(f), Some(end)) = (facts.get_mut(&account), end_on) {
            f.ending_contracts.push((id, end));
        }
    }

    let revenue_period = Duration::days(w.revenue_period_days.into());
    let split = today - revenue_period + Duration::days(1);
    let start = split - revenue_period;
    let mut revenue: HashMap<(Uuid, String), (i128, i128)> = HashMap::new();
    for (from, to, recent) in [
        (split, today, true),
        (start, split - Duration::days(1), false),
    ] {
        let [quotients, remainders] = totals::sum_parts(contract::Column::AmountMinor);
        let sums: Vec<(Uuid, String, i64, i64)> = contract::Entity::find()
            .select_only()
            .column(contract::Column::AccountId)
            .column(contract::Column::Currency)
            .column_as(quotients, "quotients")
            .column_as(remainders, "remainders")
            .filter(contract::Column::AccountId.is_in(in_followed()))
            .filter(contract::Column::Status.is_in(["active", "completed"]))
            .filter(contract::Column::SignedOn.gte(from))
            .filter(contract::Column::SignedOn.lte(to))
            .group_by(contract::Column::AccountId)
            .group_by(contract::Column::Currency)
            .into_tuple()
            .all(conn)
            .await?;
        for (account, currency, q, r) in sums {
            let entry = revenue.entry((account, currency)).or_default();
            let total = totals::total(q, r).minor();
            if recent {
                entry.0 = total;
            } else {
                entry.1 = total;
            }
        }
    }
    for ((account, currency), (recent, before)) in revenue {
        if let Some(f) = facts.get_mut(&account) {
            f.revenue.push(Revenue {
                currency,
                recent,
                before,
            });
        }
    }
    Ok(facts)
}
