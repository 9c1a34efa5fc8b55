//! The warnings (流失预警) an account's rows show, its health and its visit
//! cadence: pure functions from what [`super::refresh`] reads about an
//! account to what it stores. Each warning has a stable code, a severity,
//! the time since which it holds and the records that show it.

use super::settings::InsightSettings;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use kam_sync_core::account::{Stage, Tier};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The signals the server watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// No effective visit within the tier's cadence (critical past twice it).
    NoRecentVisit,
    /// Planned visits past their time, not done.
    VisitsOverdue,
    /// The last callback's satisfaction at or below the threshold.
    LowSatisfaction,
    /// Average satisfaction fell period over period.
    SatisfactionFalling,
    /// A complaint not yet resolved.
    OpenComplaint,
    /// A ticket not resolved by its SLA time.
    TicketPastSla,
    /// No key person is a decision maker.
    NoDecisionMaker,
    /// No key person is a champion (or an inside coach).
    NoChampion,
    /// A decision maker is an opponent.
    DecisionMakerOpposed,
    /// An opportunity was lost recently.
    OpportunityLost,
    /// A contract ends soon and no opportunity is open to renew it.
    ContractEnding,
    /// Signed revenue fell against the period before.
    RevenueFalling,
}

impl WarningCode {
    /// Every value, in declaration order.
    pub const ALL: &'static [Self] = &[
        Self::NoRecentVisit,
        Self::VisitsOverdue,
        Self::LowSatisfaction,
        Self::SatisfactionFalling,
        Self::OpenComplaint,
        Self::TicketPastSla,
        Self::NoDecisionMaker,
        Self::NoChampion,
        Self::DecisionMakerOpposed,
        Self::OpportunityLost,
        Self::ContractEnding,
        Self::RevenueFalling,
    ];

    /// The stable code, as stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoRecentVisit => "no_recent_visit",
            Self::VisitsOverdue => "visits_overdue",
            Self::LowSatisfaction => "low_satisfaction",
            Self::SatisfactionFalling => "satisfaction_falling",
            Self::OpenComplaint => "open_complaint",
            Self::TicketPastSla => "ticket_past_sla",
            Self::NoDecisionMaker => "no_decision_maker",
            Self::NoChampion => "no_champion",
            Self::DecisionMakerOpposed => "decision_maker_opposed",
            Self::OpportunityLost => "opportunity_lost",
            Self::ContractEnding => "contract_ending",
            Self::RevenueFalling => "revenue_falling",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == code)
    }
}

/// How much a warning weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningSeverity {
    /// Worth knowing.
    Info,
    /// Needs action.
    Warning,
    /// Needs action now.
    Critical,
}

impl WarningSeverity {
    /// Every value, in declaration order.
    pub const ALL: &'static [Self] = &[Self::Info, Self::Warning, Self::Critical];

    /// The stable code, as stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == code)
    }
}

/// The band an account's health falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthBand {
    /// Nothing or little to act on.
    Healthy,
    /// Worth a look.
    Watch,
    /// Slipping: the server proposes the `at_risk` stage.
    AtRisk,
}

impl HealthBand {
    /// Every value, in declaration order.
    pub const ALL: &'static [Self] = &[Self::Healthy, Self::Watch, Self::AtRisk];

    /// The stable code, as stored and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Healthy => "healthy",
            Self::Watch => "watch",
            Self::AtRisk => "at_risk",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == code)
    }
}

/// A record that shows a warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    /// Its kind: `visit`, `callback`, `ticket`, `contact`, `opportunity` or `contract`.
    pub kind: String,
    /// Its id.
    pub id: Uuid,
}

impl Evidence {
    fn of(kind: &str, id: Uuid) -> Self {
        Self {
            kind: kind.to_owned(),
            id,
        }
    }
}

/// The most records one warning names.
pub const MAX_EVIDENCE: usize = 20;

/// A warning that holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Which.
    pub code: WarningCode,
    /// How much it weighs.
    pub severity: WarningSeverity,
    /// Since when it holds.
    pub since: DateTime<Utc>,
    /// What it says.
    pub detail: String,
    /// The records that show it (at most [`MAX_EVIDENCE`]).
    pub evidence: Vec<Evidence>,
}

/// An open ticket.
#[derive(Debug, Clone)]
pub struct OpenTicket {
    /// Id.
    pub id: Uuid,
    /// Whether it is a complaint.
    pub complaint: bool,
    /// When it was opened.
    pub created_at: DateTime<Utc>,
    /// When it is due under its SLA.
    pub sla_due_at: DateTime<Utc>,
}

/// A key person's place on the decision map.
#[derive(Debug, Clone)]
pub struct KeyPerson {
    /// Id.
    pub id: Uuid,
    /// A decision maker.
    pub decision_maker: bool,
    /// A champion, or an inside coach.
    pub champion: bool,
    /// An opponent.
    pub opponent: bool,
}

/// Signed revenue in one currency: the current period and the one before,
/// in minor units.
#[derive(Debug, Clone)]
pub struct Revenue {
    /// The currency.
    pub currency: String,
    /// Signed in the current period.
    pub recent: i128,
    /// Signed in the period before.
    pub before: i128,
}

/// What the rows say about one account, as [`super::refresh`] reads them.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Its lifecycle stage.
    pub stage: Stage,
    /// Its confirmed tier.
    pub tier: Option<Tier>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its last effective visit was checked in.
    pub last_visit_at: Option<DateTime<Utc>>,
    /// Planned visits past their time plus the grace hours: id and planned time.
    pub overdue_visits: Vec<(Uuid, DateTime<Utc>)>,
    /// Callbacks with a satisfaction, done within two satisfaction periods:
    /// id, when and how satisfied.
    pub rated_callbacks: Vec<(Uuid, DateTime<Utc>, i64)>,
    /// Tickets not resolved or closed.
    pub open_tickets: Vec<OpenTicket>,
    /// Its key persons.
    pub key_persons: Vec<KeyPerson>,
    /// Opportunities lost within the window: id and the day.
    pub lost_opportunities: Vec<(Uuid, NaiveDate)>,
    /// Whether an opportunity is open (not won or lost).
    pub open_opportunity: bool,
    /// Active contracts ending within the window: id and the last day.
    pub ending_contracts: Vec<(Uuid, NaiveDate)>,
    /// Signed revenue per currency, this period and the one before.
    pub revenue: Vec<Revenue>,
}

/// What the server keeps about an account.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// The warnings that hold, in code order.
    pub signals: Vec<Signal>,
    /// Health 0-100; `None` for an account insight does not follow.
    pub health: Option<i64>,
    /// Its band.
    pub band: Option<HealthBand>,
    /// When the next visit is due.
    pub next_visit_due: Option<DateTime<Utc>>,
}

/// Whether insight follows an account in `stage`: from first contact until
/// it is lost. An account still being identified is screened, not served,
/// and a lost one is won back by hand (`won_back`), not by cadence.
pub fn followed(stage: Stage) -> bool {
    !matches!(stage, Stage::Identified | Stage::Lost)
}

fn start_of(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(NaiveTime::MIN).and_utc()
}

fn days(n: u32) -> Duration {
    Duration::days(i64::from(n))
}

/// The warnings, health and next visit due of an account, at `now`.
pub fn assess(settings: &InsightSettings, facts: &Facts, now: DateTime<Utc>) -> Assessment {
    if !followed(facts.stage) {
        return Assessment {
            signals: Vec::new(),
            health: None,
            band: None,
            next_visit_due: None,
        };
    }
    let mut signals = Vec::new();
    let next_visit_due = cadence(settings, facts, now, &mut signals);
    overdue_visits(settings, facts, &mut signals);
    satisfaction(settings, facts, now, &mut signals);
    service(facts, now, &mut signals);
    decision_map(facts, &mut signals);
    selling(settings, facts, now, &mut signals);
    revenue(settings, facts, now, &mut signals);
    signals.sort_by_key(|s| s.code.as_str());
    let h = &settings.health;
    let penalty: u32 = signals
        .iter()
        .map(|s| match s.severity {
            WarningSeverity::Critical => h.critical_penalty,
            WarningSeverity::Warning => h.warning_penalty,
            WarningSeverity::Info => h.info_penalty,
        })
        .sum();
    let health = 100 - i64::from(penalty.min(100));
    let band = if health < i64::from(h.at_risk_below) {
        HealthBand::AtRisk
    } else if health < i64::from(h.watch_below) {
        HealthBand::Watch
    } else {
        HealthBand::Healthy
    };
    Assessment {
        signals,
        health: Some(health),
        band: Some(band),
        next_visit_due: Some(next_visit_due),
    }
}

fn cadence(
    settings: &InsightSettings,
    facts: &Facts,
    now: DateTime<Utc>,
    out: &mut Vec<Signal>,
) -> DateTime<Utc> {
    let every = days(settings.cadence.days(facts.tier));
    let from = facts.last_visit_at.unwrap_or(facts.created_at);
    let due = from + every;
    if now > due {
        let critical = now > from + every * 2;
        let detail = match facts.last_visit_at {
            Some(last) => format!(
                "no effective visit since {}; the cadence is every {} days",
                last.date_naive(),
                every.num_days()
            ),
            None => format!(
                "no effective visit yet; the cadence is every {} days",
                every.num_days()
            ),
        };
        out.push(Signal {
            code: WarningCode::NoRecentVisit,
            severity: if critical {
                WarningSeverity::Critical
            } else {
                WarningSeverity::Warning
            },
            since: due,
            detail,
            evidence: Vec::new(),
        });
    }
    due
}

fn overdue_visits(settings: &InsightSettings, facts: &Facts, out: &mut Vec<Signal>) {
    let Some(earliest) = facts.overdue_visits.iter().map(|(_, at)| *at).min() else {
        return;
    };
    out.push(Signal {
        code: WarningCode::VisitsOverdue,
        severity: WarningSeverity::Warning,
        since: earliest + Duration::hours(settings.visits.overdue_after_hours.into()),
        detail: format!(
            "{} planned visit(s) past their time, the earliest planned for {}",
            facts.overdue_visits.len(),
            earliest.date_naive()
        ),
        evidence: facts
            .overdue_visits
            .iter()
            .take(MAX_EVIDENCE)
            .map(|(id, _)| Evidence::of("visit", *id))
            .collect(),
    });
}

fn satisfaction(
    settings: &InsightSettings,
    facts: &Facts,
    now: DateTime<Utc>,
    out: &mut Vec<Signal>,
) {
    let w = &settings.warnings;
    if let Some((id, at, score)) = facts.rated_callbacks.iter().max_by_key(|(_, at, _)| *at)
        && *score <= i64::from(w.low_satisfaction_at_most)
    {
        out.push(Signal {
            code: WarningCode::LowSatisfaction,
            severity: if *score <= 1 {
                WarningSeverity::Critical
            } else {
                WarningSeverity::Warning
            },
            since: *at,
            detail: format!("the last callback rated satisfaction {score} of 5"),
            evidence: vec![Evidence::of("callback", *id)],
        });
    }
    let period = days(w.satisfaction_period_days);
    let average = |from: DateTime<Utc>, to: DateTime<Utc>| {
        let scores: Vec<i64> = facts
            .rated_callbacks
            .iter()
            .filter(|(_, at, _)| *at >= from && *at < to)
            .map(|(_, _, s)| *s)
            .collect();
        (!scores.is_empty()).then(|| scores.iter().sum::<i64>() as f64 / scores.len() as f64)
    };
    let current_start = now - period;
    if let (Some(recent), Some(before)) = (
        average(current_start, now + Duration::seconds(1)),
        average(current_start - period, current_start),
    ) && before - recent >= w.satisfaction_drop - f64::EPSILON
    {
        out.push(Signal {
            code: WarningCode::SatisfactionFalling,
            severity: WarningSeverity::Warning,
            since: current_start,
            detail: format!(
                "average satisfaction fell from {before:.1} to {recent:.1} over {} days",
                period.num_days()
            ),
            evidence: facts
                .rated_callbacks
                .iter()
                .filter(|(_, at, _)| *at >= current_start)
                .take(MAX_EVIDENCE)
                .map(|(id, _, _)| Evidence::of("callback", *id))
                .collect(),
        });
    }
}

fn service(facts: &Facts, now: DateTime<Utc>, out: &mut Vec<Signal>) {
    let complaints: Vec<&OpenTicket> = facts.open_tickets.iter().filter(|t| t.complaint).collect();
    if let Some(since) = complaints.iter().map(|t| t.created_at).min() {
        out.push(Signal {
            code: WarningCode::OpenComplaint,
            severity: WarningSeverity::Warning,
            since,
            detail: format!("{} complaint(s) not yet resolved", complaints.len()),
            evidence: complaints
                .iter()
                .take(MAX_EVIDENCE)
                .map(|t| Evidence::of("ticket", t.id))
                .collect(),
        });
    }
    let late: Vec<&OpenTicket> = facts
        .open_tickets
        .iter()
        .filter(|t| t.sla_due_at < now)
        .collect();
    if let Some(since) = late.iter().map(|t| t.sla_due_at).min() {
        out.push(Signal {
            code: WarningCode::TicketPastSla,
            severity: WarningSeverity::Critical,
            since,
            detail: format!("{} ticket(s) past their SLA", late.len()),
            evidence: late
                .iter()
                .take(MAX_EVIDENCE)
                .map(|t| Evidence::of("ticket", t.id))
                .collect(),
        });
    }
}

fn decision_map(facts: &Facts, out: &mut Vec<Signal>) {
    let persons = &facts.key_persons;
    if !persons.iter().any(|p| p.decision_maker) {
        out.push(Signal {
            code: WarningCode::NoDecisionMaker,
            severity: WarningSeverity::Warning,
            since: facts.created_at,
            detail: "no key person is marked as the decision maker".into(),
            evidence: Vec::new(),
        });
    }
    if !persons.iter().any(|p| p.champion) {
        out.push(Signal {
            code: WarningCode::NoChampion,
            severity: WarningSeverity::Info,
            since: facts.created_at,
            detail: "no key person is a champion or an inside coach".into(),
            evidence: Vec::new(),
        });
    }
    let opposed: Vec<&KeyPerson> = persons
        .iter()
        .filter(|p| p.decision_maker && p.opponent)
        .collect();
    if !opposed.is_empty() {
        out.push(Signal {
            code: WarningCode::DecisionMakerOpposed,
            severity: WarningSeverity::Critical,
            since: facts.created_at,
            detail: "a decision maker is an opponent".into(),
            evidence: opposed
                .iter()
                .take(MAX_EVIDENCE)
                .map(|p| Evidence::of("contact", p.id))
                .collect(),
        });
    }
}

fn selling(settings: &InsightSettings, facts: &Facts, now: DateTime<Utc>, out: &mut Vec<Signal>) {
    let w = &settings.warnings;
    if let Some(latest) = facts.lost_opportunities.iter().map(|(_, day)| *day).max() {
        out.push(Signal {
            code: WarningCode::OpportunityLost,
            severity: WarningSeverity::Warning,
            since: start_of(latest),
            detail: format!(
                "{} opportunity(ies) lost in the last {} days",
                facts.lost_opportunities.len(),
                w.lost_opportunity_days
            ),
            evidence: facts
                .lost_opportunities
                .iter()
                .take(MAX_EVIDENCE)
                .map(|(id, _)| Evidence::of("opportunity", *id))
                .collect(),
        });
    }
    if facts.open_opportunity {
        return;
    }
    if let Some(first) = facts.ending_contracts.iter().map(|(_, day)| *day).min() {
        let since = (start_of(first) - days(w.contract_ending_days)).min(now);
        out.push(Signal {
            code: WarningCode::ContractEnding,
            severity: WarningSeverity::Warning,
            since,
            detail: format!("a contract ends on {first} and no opportunity is open to renew it"),
            evidence: facts
                .ending_contracts
                .iter()
                .take(MAX_EVIDENCE)
                .map(|(id, _)| Evidence::of("contract", *id))
                .collect(),
        });
    }
}

fn revenue(settings: &InsightSettings, facts: &Facts, now: DateTime<Utc>, out: &mut Vec<Signal>) {
    let w = &settings.warnings;
    let falling: Vec<&Revenue> = facts
        .revenue
        .iter()
        .filter(|r| {
            r.before > 0
                && (r.before - r.recent) * 100 > r.before * i128::from(w.revenue_drop_percent)
        })
        .collect();
    let Some(worst) = falling
        .iter()
        .max_by_key(|r| ((r.before - r.recent) * 1000) / r.before)
    else {
        return;
    };
    let drop = ((worst.before - worst.recent) * 100) / worst.before;
    out.push(Signal {
        code: WarningCode::RevenueFalling,
        severity: WarningSeverity::Critical,
        since: now - days(w.revenue_period_days),
        detail: format!(
            "signed revenue in {} down {drop}% against the {} days before",
            worst.currency, w.revenue_period_days
        ),
        evidence: Vec::new(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        // 2026-12-01T00:00:00Z
        DateTime::from_timestamp(1_796_083_200, 0).unwrap_or_default()
    }

    fn quiet(stage: Stage) -> Facts {
        Facts {
            stage,
            tier: Some(Tier::Key),
            created_at: now() - Duration::days(400),
            last_visit_at: Some(now() - Duration::days(3)),
            overdue_visits: Vec::new(),
            rated_callbacks: Vec::new(),
            open_tickets: Vec::new(),
            key_persons: vec![KeyPerson {
                id: Uuid::nil(),
                decision_maker: true,
                champion: true,
                opponent: false,
            }],
            lost_opportunities: Vec::new(),
            open_opportunity: false,
            ending_contracts: Vec::new(),
            revenue: Vec::new(),
        }
    }

    fn codes(a: &Assessment) -> Vec<(WarningCode, WarningSeverity)> {
        a.signals.iter().map(|s| (s.code, s.severity)).collect()
    }

    #[test]
    fn a_looked_after_account_is_healthy_and_due_by_its_cadence() {
        let settings = InsightSettings::default();
        let a = assess(&settings, &quiet(Stage::Maintaining), now());
        assert!(a.signals.is_empty());
        assert_eq!(a.health, Some(100));
        assert_eq!(a.band, Some(HealthBand::Healthy));
        assert_eq!(a.next_visit_due, Some(now() + Duration::days(27)));
    }

    #[test]
    fn identified_and_lost_accounts_are_not_followed() {
        let mut facts = quiet(Stage::Identified);
        facts.last_visit_at = None;
        let a = assess(&InsightSettings::default(), &facts, now());
        assert_eq!((a.health, a.band, a.next_visit_due), (None, None, None));
        assert!(a.signals.is_empty());
    }

    #[test]
    fn no_visit_warns_past_the_cadence_and_is_critical_past_twice_it() {
        let settings = InsightSettings::default();
        let mut facts = quiet(Stage::Maintaining);
        facts.last_visit_at = Some(now() - Duration::days(31));
        let a = assess(&settings, &facts, now());
        assert_eq!(
            codes(&a),
            [(WarningCode::NoRecentVisit, WarningSeverity::Warning)]
        );
        assert_eq!(a.signals[0].since, now() - Duration::days(1));
        assert_eq!(a.health, Some(85));
        assert_eq!(a.band, Some(HealthBand::Watch));
        facts.last_visit_at = Some(now() - Duration::days(61));
        let a = assess(&settings, &facts, now());
        assert_eq!(
            codes(&a),
            [(WarningCode::NoRecentVisit, WarningSeverity::Critical)]
        );
        facts.tier = Some(Tier::Standard);
        assert!(assess(&settings, &facts, now()).signals.is_empty());
    }

    #[test]
    fn service_signals_name_their_tickets() {
        let mut facts = quiet(Stage::Maintaining);
        let late = Uuid::now_v7();
        facts.open_tickets = vec![OpenTicket {
            id: late,
            complaint: true,
            created_at: now() - Duration::days(5),
            sla_due_at: now() - Duration::days(1),
        }];
        let a = assess(&InsightSettings::default(), &facts, now());
        assert_eq!(
            codes(&a),
            [
                (WarningCode::OpenComplaint, WarningSeverity::Warning),
                (WarningCode::TicketPastSla, WarningSeverity::Critical),
            ]
        );
        assert_eq!(a.signals[1].evidence, [Evidence::of("ticket", late)]);
        assert_eq!(a.health, Some(45));
        assert_eq!(a.band, Some(HealthBand::AtRisk));
    }

    #[test]
    fn satisfaction_warns_when_low_or_falling() {
        let mut facts = quiet(Stage::Maintaining);
        facts.rated_callbacks = vec![
            (Uuid::now_v7(), now() - Duration::days(120), 5),
            (Uuid::now_v7(), now() - Duration::days(10), 4),
        ];
        let a = assess(&InsightSettings::default(), &facts, now());
        assert_eq!(
            codes(&a),
            [(WarningCode::SatisfactionFalling, WarningSeverity::Warning)]
        );
        facts.rated_callbacks.push((Uuid::now_v7(), now(), 2));
        let a = assess(&InsightSettings::default(), &facts, now());
        assert_eq!(
            codes(&a),
            [
                (WarningCode::LowSatisfaction, WarningSeverity::Warning),
                (WarningCode::SatisfactionFalling, WarningSeverity::Warning),
            ]
        );
    }

    #[test]
    fn the_decision_map_and_selling_signals() {
        let mut facts = quiet(Stage::Deepening);
        facts.key_persons = vec![KeyPerson {
            id: Uuid::nil(),
            decision_maker: true,
            champion: false,
            opponent: true,
        }];
        facts.lost_opportunities = vec![(Uuid::nil(), now().date_naive())];
        facts.ending_contracts = vec![(Uuid::nil(), now().date_naive() + Duration::days(20))];
        facts.revenue = vec![Revenue {
            currency: "CNY".into(),
            recent: 60,
            before: 100,
        }];
        let a = assess(&InsightSettings::default(), &facts, now());
        assert_eq!(
            codes(&a),
            [
                (WarningCode::ContractEnding, WarningSeverity::Warning),
                (WarningCode::DecisionMakerOpposed, WarningSeverity::Critical),
                (WarningCode::NoChampion, WarningSeverity::Info),
                (WarningCode::OpportunityLost, WarningSeverity::Warning),
                (WarningCode::RevenueFalling, WarningSeverity::Critical),
            ]
        );
        assert_eq!(a.health, Some(0));
        facts.open_opportunity = true;
        facts.revenue[0].recent = 71;
        let a = assess(&InsightSettings::default(), &facts, now());
        assert!(
            !codes(&a).iter().any(|(c, _)| matches!(
                c,
                WarningCode::ContractEnding | WarningCode::RevenueFalling
            ))
        );
    }
}
