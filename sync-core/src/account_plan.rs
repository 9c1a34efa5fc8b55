//! The account plan (大客户计划): for one account and one period, the goals,
//! the strategies to reach them, the actions with their owners and due
//! dates, and the resources asked of the company (资源支持).
//!
//! Goals, actions and resource requests are lists of objects that carry
//! their own `id`, so that two devices editing different items (or
//! different fields of one item) offline merge item by item
//! ([`crate::doc`] patches such lists in place).

use crate::error::Violation;
use crate::ids::{AccountId, UserId};
use crate::record::{Record, RecordKind, check_ids, check_len, string_enum};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

string_enum!(
    /// The length of the period a plan covers.
    PeriodKind {
        /// A calendar year, from 1 January.
        Year => "year",
        /// A calendar quarter, from 1 January, April, July or October.
        Quarter => "quarter",
        /// A calendar month, from its first day.
        Month => "month",
    }
);

impl PeriodKind {
    /// Whether `day` is the first day of a period of this kind.
    pub fn starts_on(self, day: NaiveDate) -> bool {
        day.day() == 1
            && match self {
                Self::Year => day.month() == 1,
                Self::Quarter => matches!(day.month(), 1 | 4 | 7 | 10),
                Self::Month => true,
            }
    }
}

string_enum!(
    /// Where a plan stands: drafted, then worked (active), then closed.
    PlanStatus {
        /// Being written; not yet the plan of record.
        Draft => "draft",
        /// The plan the team works to; at most one per account and period.
        Active => "active",
        /// The period is over or the plan was replaced.
        Closed => "closed",
    }
);

impl PlanStatus {
    /// Whether a plan may move from `self` to `next` (staying is always
    /// allowed): draft → active → closed, in that order only.
    pub fn can_move_to(self, next: PlanStatus) -> bool {
        self == next
            || matches!(
                (self, next),
                (Self::Draft, Self::Active) | (Self::Active, Self::Closed)
            )
    }
}

string_enum!(
    /// Where an action stands.
    ActionStatus {
        /// Not started.
        Todo => "todo",
        /// Under way.
        InProgress => "in_progress",
        /// Done.
        Done => "done",
        /// Stuck; the notes or the plan say on what.
        Blocked => "blocked",
    }
);

string_enum!(
    /// What kind of support a plan asks the company for.
    ResourceKind {
        /// People: presales engineers, delivery staff.
        People => "people",
        /// Money: entertainment, discounts, events.
        Budget => "budget",
        /// Technical support: demos, pilots, solutions.
        Technical => "technical",
        /// An executive who sponsors the account (高层支持).
        ExecutiveSponsor => "executive_sponsor",
        /// Anything else.
        Other => "other",
    }
);

string_enum!(
    /// The decision on a resource request; only a manager or above decides.
    ResourceStatus {
        /// Asked for, not decided.
        Requested => "requested",
        /// Granted.
        Approved => "approved",
        /// Refused.
        Rejected => "rejected",
    }
);

impl ResourceStatus {
    /// Whether this status is a decision (which only a manager or above makes).
    pub fn is_decision(self) -> bool {
        self != Self::Requested
    }
}

/// A goal of the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanGoal {
    /// The goal's id, chosen by whoever adds it.
    pub id: Uuid,
    /// What is to be achieved.
    pub text: String,
    /// How it is measured (revenue, share of wallet, key persons covered, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// The value to reach, in the metric's unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_value: Option<f64>,
    /// Whether it was achieved.
    #[serde(default)]
    pub achieved: bool,
}

/// An action of the plan: who does what by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanAction {
    /// The action's id, chosen by whoever adds it.
    pub id: Uuid,
    /// What is to be done.
    pub text: String,
    /// Who does it: an active user who can see the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    /// By when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_on: Option<NaiveDate>,
    /// Where it stands.
    #[serde(default = "default_action_status")]
    pub status: ActionStatus,
}

fn default_action_status() -> ActionStatus {
    ActionStatus::Todo
}

/// Support the plan asks the company for (资源支持).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    /// The request's id, chosen by whoever adds it.
    pub id: Uuid,
    /// What kind of support.
    pub kind: ResourceKind,
    /// What exactly, and why.
    pub description: String,
    /// What it costs, in the plan's currency's major unit (at most 2 decimals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<f64>,
    /// The decision.
    #[serde(default = "default_resource_status")]
    pub status: ResourceStatus,
    /// Who decided; set by the server when the status becomes a decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<UserId>,
}

fn default_resource_status() -> ResourceStatus {
    ResourceStatus::Requested
}

/// An account plan for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountPlan {
    /// The account planned for; fixed once the plan exists.
    pub account_id: AccountId,
    /// The length of the period.
    pub period_kind: PeriodKind,
    /// The period's first day (1 January, the first day of a quarter or of a month).
    pub period_start: NaiveDate,
    /// A short name.
    pub title: String,
    /// Who is responsible for the plan.
    pub owner_id: UserId,
    /// Where the plan stands.
    #[serde(default = "default_plan_status")]
    pub status: PlanStatus,
    /// The goals.
    #[serde(default)]
    pub goals: Vec<PlanGoal>,
    /// How the goals are to be reached, written by several people at once
    /// (collaborative text).
    #[serde(default)]
    pub strategies: String,
    /// The actions.
    #[serde(default)]
    pub actions: Vec<PlanAction>,
    /// The support asked for.
    #[serde(default)]
    pub resources: Vec<ResourceRequest>,
    /// The currency of the resource amounts (ISO 4217).
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Notes, edited by several people at once (collaborative text).
    #[serde(default)]
    pub notes: String,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

fn default_plan_status() -> PlanStatus {
    PlanStatus::Draft
}

fn default_currency() -> String {
    "CNY".to_owned()
}

/// Most goals, actions or resource requests in one plan.
pub const MAX_ITEMS: usize = 200;

/// Largest amount, in major units: a trillion, as for every amount
/// ([`crate::money::MAX_MAJOR`]).
pub const MAX_AMOUNT: f64 = crate::money::MAX_MAJOR as f64;

/// An amount in minor units (cents), if it is a non-negative number up to
/// [`MAX_AMOUNT`] with at most two decimals.
pub fn amount_minor(amount: f64) -> Option<i64> {
    if !(0.0..=MAX_AMOUNT).contains(&amount) {
        return None;
    }
    let cents = (amount * 100.0).round();
    // Within a trillion, cents are exact in an f64 and a third decimal
    // shows as a difference far above rounding noise.
    ((amount * 100.0 - cents).abs() < 1e-6).then_some(cents as i64)
}

impl Record for AccountPlan {
    const KIND: RecordKind = RecordKind::AccountPlan;
    const FIELDS: &'static [&'static str] = &[
        "account_id",
        "period_kind",
        "period_start",
        "title",
        "owner_id",
        "status",
        "goals",
        "strategies",
        "actions",
        "resources",
        "currency",
        "notes",
        "deleted",
    ];
    const TEXT_FIELDS: &'static [&'static str] = &["strategies", "notes"];
    const ATOMIC_FIELDS: &'static [&'static str] = &[];

    fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        if !self.period_kind.starts_on(self.period_start) {
            out.push(Violation::new(
                "period_start",
                "not_period_start",
                format!(
                    "a {} starts on its first day (1 January, 1 April, 1 July or 1 October for a quarter, the 1st for a month)",
                    self.period_kind.as_str()
                ),
            ));
        }
        if self.title.trim().is_empty() {
            out.push(Violation::new("title", "required", "a plan needs a title"));
        }
        check_len("title", &self.title, 200, &mut out);
        check_len("strategies", &self.strategies, 100_000, &mut out);
        check_len("notes", &self.notes, 100_000, &mut out);
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            out.push(Violation::new(
                "currency",
                "invalid_value",
                "an ISO 4217 code such as CNY",
            ));
        }
        for (field, count) in [
            ("goals", self.goals.len()),
            ("actions", self.actions.len()),
            ("resources", self.resources.len()),
        ] {
            if count > MAX_ITEMS {
                out.push(Violation::new(
                    field,
                    "too_many",
                    format!("at most {MAX_ITEMS} entries"),
                ));
            }
        }
        check_ids("goals", self.goals.iter().map(|g| g.id), &mut out);
        check_ids("actions", self.actions.iter().map(|a| a.id), &mut out);
        check_ids("resources", self.resources.iter().map(|r| r.id), &mut out);
        for (i, goal) in self.goals.iter().enumerate() {
            check_text(&format!("goals.{i}.text"), &goal.text, &mut out);
            if let Some(metric) = &goal.metric {
                check_len(&format!("goals.{i}.metric"), metric, 200, &mut out);
            }
            if goal.target_value.is_some_and(|v| !v.is_finite()) {
                out.push(Violation::new(
                    format!("goals.{i}.target_value"),
                    "invalid_value",
                    "a finite number",
                ));
            }
        }
        for (i, action) in self.actions.iter().enumerate() {
            check_text(&format!("actions.{i}.text"), &action.text, &mut out);
        }
        for (i, resource) in self.resources.iter().enumerate() {
            check_text(
                &format!("resources.{i}.description"),
                &resource.description,
                &mut out,
            );
            if resource.amount.is_some_and(|a| amount_minor(a).is_none()) {
                out.push(Violation::new(
                    format!("resources.{i}.amount"),
                    "invalid_amount",
                    "a non-negative amount up to a trillion with at most 2 decimals",
                ));
            }
        }
        out
    }
}

fn check_text(field: &str, text: &str, out: &mut Vec<Violation>) {
    if text.trim().is_empty() {
        out.push(Violation::new(field, "required", "must not be blank"));
    }
    check_len(field, text, 2_000, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn sample() -> AccountPlan {
        AccountPlan {
            account_id: AccountId::new_v7(),
            period_kind: PeriodKind::Quarter,
            period_start: day(2026, 10, 1),
            title: "Q4: win the metro tender".into(),
            owner_id: UserId::new_v7(),
            status: PlanStatus::Active,
            goals: vec![PlanGoal {
                id: Uuid::now_v7(),
                text: "Sign the framework contract".into(),
                metric: Some("revenue".into()),
                target_value: Some(2_000_000.0),
                achieved: false,
            }],
            strategies: "Win the CIO through a pilot.".into(),
            actions: vec![PlanAction {
                id: Uuid::now_v7(),
                text: "Run the pilot".into(),
                owner_id: Some(UserId::new_v7()),
                due_on: Some(day(2026, 11, 15)),
                status: ActionStatus::InProgress,
            }],
            resources: vec![ResourceRequest {
                id: Uuid::now_v7(),
                kind: ResourceKind::Technical,
                description: "Two presales engineers for the pilot".into(),
                amount: Some(12_345.67),
                status: ResourceStatus::Approved,
                decided_by: Some(UserId::new_v7()),
            }],
            currency: "CNY".into(),
            notes: "The tender opens in November.".into(),
            deleted: false,
        }
    }

    fn codes(plan: &AccountPlan) -> Vec<String> {
        plan.violations().into_iter().map(|v| v.code).collect()
    }

    #[test]
    fn a_complete_plan_is_valid() {
        assert!(
            sample().violations().is_empty(),
            "{:?}",
            sample().violations()
        );
    }

    #[test]
    fn periods_start_on_their_first_day() {
        assert!(PeriodKind::Year.starts_on(day(2026, 1, 1)));
        assert!(!PeriodKind::Year.starts_on(day(2026, 4, 1)));
        assert!(PeriodKind::Quarter.starts_on(day(2026, 7, 1)));
        assert!(!PeriodKind::Quarter.starts_on(day(2026, 8, 1)));
        assert!(PeriodKind::Month.starts_on(day(2026, 8, 1)));
        assert!(!PeriodKind::Month.starts_on(day(2026, 8, 2)));
        let mut plan = sample();
        plan.period_start = day(2026, 11, 1);
        assert_eq!(codes(&plan), ["not_period_start"]);
    }

    #[test]
    fn plans_move_from_draft_to_active_to_closed_only() {
        use PlanStatus::*;
        assert!(Draft.can_move_to(Active));
        assert!(Active.can_move_to(Closed));
        assert!(Closed.can_move_to(Closed));
        assert!(!Draft.can_move_to(Closed));
        assert!(!Closed.can_move_to(Active));
        assert!(!Active.can_move_to(Draft));
    }

    #[test]
    fn amounts_have_at_most_two_decimals_and_are_counted_in_cents() {
        assert_eq!(amount_minor(0.1), Some(10));
        assert_eq!(amount_minor(12_345.67), Some(1_234_567));
        assert_eq!(amount_minor(999_999_999_999.99), Some(99_999_999_999_999));
        assert_eq!(amount_minor(MAX_AMOUNT), Some(crate::money::MAX_MINOR));
        assert_eq!(amount_minor(1_000_000_000_000.01), None);
        assert_eq!(amount_minor(0.001), None);
        assert_eq!(amount_minor(-1.0), None);
        assert_eq!(amount_minor(f64::NAN), None);
        let mut plan = sample();
        plan.resources[0].amount = Some(1.005);
        plan.currency = "cny".into();
        assert_eq!(codes(&plan), ["invalid_value", "invalid_amount"]);
    }

    #[test]
    fn item_ids_are_unique_within_a_list() {
        let mut plan = sample();
        plan.actions.push(plan.actions[0].clone());
        let violations = plan.violations();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "actions.1.id");
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let json = serde_json::to_value(sample()).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = AccountPlan::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
