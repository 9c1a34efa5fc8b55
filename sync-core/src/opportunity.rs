//! The opportunity (商机): a deal in the making at an account, from market
//! research to a signed contract, with its amount, chances, competitors and
//! the key persons who decide. Where an opportunity may move next is a pure
//! rule ([`OpportunityStage::move_to`]), so a device shows the allowed moves
//! offline and the server holds every write to the same rule.

use crate::error::Violation;
use crate::ids::{AccountId, ContactId, UserId};
use crate::line_item::{self, LineItem};
use crate::money::{Currency, Money};
use crate::record::{Record, RecordKind, check_len, string_enum};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

string_enum!(
    /// Where a deal stands (大客户销售操作流程).
    OpportunityStage {
        /// 市场调研: market research.
        Research => "research",
        /// 方案/销售计划: solution and sales plan.
        Planning => "planning",
        /// 洽谈: negotiation.
        Negotiation => "negotiation",
        /// 签约: contract being signed.
        Contract => "contract",
        /// Won: the contract is signed.
        Won => "won",
        /// Lost, with a reason.
        Lost => "lost",
    }
);

string_enum!(
    /// A competitor's price against ours.
    PricePosition {
        /// Cheaper than us.
        Low => "low",
        /// About our price.
        Similar => "similar",
        /// Dearer than us.
        High => "high",
    }
);

/// What kind of move a stage change is, when the rule allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageMove {
    /// One step forward among the open stages.
    Advance,
    /// From `contract` to `won`.
    Win,
    /// From an open stage to `lost`.
    Lose,
    /// Back: an open stage to an earlier one, `lost` to research, planning
    /// or negotiation, `won` to contract. A manager's call.
    Reopen,
}

impl OpportunityStage {
    /// Whether the deal is still being worked (not won or lost).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Won | Self::Lost)
    }

    /// The chance of winning, in percent, assumed at this stage when the
    /// opportunity gives none: research 10, planning 25, negotiation 50,
    /// contract 80, won 100, lost 0.
    pub fn default_probability(self) -> i64 {
        match self {
            Self::Research => 10,
            Self::Planning => 25,
            Self::Negotiation => 50,
            Self::Contract => 80,
            Self::Won => 100,
            Self::Lost => 0,
        }
    }

    /// Position among the open stages (`None` for won and lost).
    fn step(self) -> Option<usize> {
        [
            Self::Research,
            Self::Planning,
            Self::Negotiation,
            Self::Contract,
        ]
        .iter()
        .position(|s| *s == self)
    }

    /// The kind of move from this stage to `to`, or `None` when no one may
    /// make it (skipping a step, winning before the contract stage, leaving
    /// `won` for anything but contract). Staying put is not a move.
    pub fn move_to(self, to: Self) -> Option<StageMove> {
        use OpportunityStage::{Contract, Lost, Negotiation, Planning, Research, Won};
        match (self, to) {
            (from, to) if from == to => None,
            (Contract, Won) => Some(StageMove::Win),
            (from, Lost) if from.is_open() => Some(StageMove::Lose),
            (Lost, Research | Planning | Negotiation) | (Won, Contract) => Some(StageMove::Reopen),
            (from, to) => match (from.step(), to.step()) {
                (Some(a), Some(b)) if b == a + 1 => Some(StageMove::Advance),
                (Some(a), Some(b)) if b < a => Some(StageMove::Reopen),
                _ => None,
            },
        }
    }
}

/// A competitor for the deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Competitor {
    /// Who they are.
    pub name: String,
    /// Where they beat us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strengths: Option<String>,
    /// Where we beat them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weaknesses: Option<String>,
    /// Their price against ours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_position: Option<PricePosition>,
}

/// One stage change, as the server recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StageChange {
    /// The stage entered.
    pub stage: OpportunityStage,
    /// When the server took the change (a change made offline is dated
    /// when it reached the server).
    pub at: DateTime<Utc>,
    /// Who made it.
    pub by: UserId,
}

/// A sales opportunity at an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Opportunity {
    /// The account; fixed once the opportunity exists.
    pub account_id: AccountId,
    /// What the deal is.
    pub name: String,
    /// The user who works the deal.
    pub owner_id: UserId,
    /// Where the deal stands (default research).
    #[serde(default = "default_stage")]
    pub stage: OpportunityStage,
    /// Expected value, in major units of `currency` (at most 2 decimals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// ISO 4217 code of `amount` (default CNY).
    #[serde(default)]
    pub currency: Currency,
    /// The products the deal sells, in `currency`. With lines, `amount` is
    /// kept by the server as their sum (see [`crate::line_item`]).
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// Chance of winning, 0-100; when absent the stage's default counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<i64>,
    /// When the deal is expected to close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_close_on: Option<NaiveDate>,
    /// Who else competes for it.
    #[serde(default)]
    pub competitors: Vec<Competitor>,
    /// The key persons who decide it, at the same account.
    #[serde(default)]
    pub key_person_ids: Vec<ContactId>,
    /// Why it was lost; required at `lost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    /// The day it was won (UTC); kept by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub won_on: Option<NaiveDate>,
    /// The day it was lost (UTC); kept by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_on: Option<NaiveDate>,
    /// Every stage it entered, oldest first; kept by the server.
    #[serde(default)]
    pub stage_history: Vec<StageChange>,
    /// The next thing to do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
    /// Notes, edited by several people at once (collaborative text).
    #[serde(default)]
    pub notes: String,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

fn default_stage() -> OpportunityStage {
    OpportunityStage::Research
}

impl Opportunity {
    /// The probability that counts: the stage's at won and lost, else the
    /// one given, else the stage's default.
    pub fn effective_probability(&self) -> i64 {
        match (self.stage.is_open(), self.probability) {
            (true, Some(probability)) => probability,
            _ => self.stage.default_probability(),
        }
    }

    /// The amount weighted by [`Opportunity::effective_probability`].
    pub fn weighted_amount(&self) -> Option<Money> {
        self.amount
            .map(|amount| amount.percent(self.effective_probability()))
    }
}

impl Record for Opportunity {
    const KIND: RecordKind = RecordKind::Opportunity;
    const FIELDS: &'static [&'static str] = &[
        "account_id",
        "name",
        "owner_id",
        "stage",
        "amount",
        "currency",
        "line_items",
        "probability",
        "expected_close_on",
        "competitors",
        "key_person_ids",
        "lost_reason",
        "won_on",
        "lost_on",
        "stage_history",
        "next_step",
        "notes",
        "deleted",
    ];
    const TEXT_FIELDS: &'static [&'static str] = &["notes"];
    const ATOMIC_FIELDS: &'static [&'static str] = &[];

    fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(Violation::new(
                "name",
                "required",
                "an opportunity needs a name",
            ));
        }
        check_len("name", &self.name, 200, &mut out);
        out.extend(self.amount.and_then(|a| a.negative_violation("amount")));
        out.extend(line_item::violations("line_items", &self.line_items));
        if self.probability.is_some_and(|p| !(0..=100).contains(&p)) {
            out.push(Violation::new(
                "probability",
                "out_of_range",
                "runs from 0 to 100",
            ));
        }
        if self.competitors.len() > 20 {
            out.push(Violation::new(
                "competitors",
                "too_many",
                "at most 20 entries",
            ));
        }
        for (i, competitor) in self.competitors.iter().enumerate() {
            if competitor.name.trim().is_empty() {
                out.push(Violation::new(
                    format!("competitors.{i}.name"),
                    "required",
                    "a competitor has a name",
                ));
            }
            check_len(
                &format!("competitors.{i}.name"),
                &competitor.name,
                200,
                &mut out,
            );
            for (field, value) in [
                ("strengths", &competitor.strengths),
                ("weaknesses", &competitor.weaknesses),
            ] {
                if let Some(value) = value {
                    check_len(&format!("competitors.{i}.{field}"), value, 2_000, &mut out);
                }
            }
        }
        if self.key_person_ids.len() > 50 {
            out.push(Violation::new(
                "key_person_ids",
                "too_many",
                "at most 50 entries",
            ));
        }
        let reason_given = self
            .lost_reason
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty());
        if self.stage == OpportunityStage::Lost && !reason_given {
            out.push(Violation::new(
                "lost_reason",
                "required",
                "say why the deal was lost",
            ));
        }
        if let Some(reason) = &self.lost_reason {
            check_len("lost_reason", reason, 2_000, &mut out);
        }
        if let Some(step) = &self.next_step {
            check_len("next_step", step, 1_000, &mut out);
        }
        check_len("notes", &self.notes, 100_000, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OpportunityStage::{Contract, Lost, Negotiation, Planning, Research, Won};

    fn sample() -> Opportunity {
        Opportunity {
            account_id: AccountId::new_v7(),
            name: "Smart meters, phase 2".into(),
            owner_id: UserId::new_v7(),
            stage: Negotiation,
            amount: Money::from_minor(120_000_000),
            currency: Currency::default(),
            line_items: Vec::new(),
            probability: Some(60),
            expected_close_on: Some(NaiveDate::MIN),
            competitors: vec![Competitor {
                name: "Acme".into(),
                strengths: Some("Local service team".into()),
                weaknesses: Some("Old hardware".into()),
                price_position: Some(PricePosition::Low),
            }],
            key_person_ids: vec![ContactId::new_v7()],
            lost_reason: Some("Price".into()),
            won_on: Some(NaiveDate::MIN),
            lost_on: Some(NaiveDate::MIN),
            stage_history: vec![StageChange {
                stage: Research,
                at: Utc::now(),
                by: UserId::new_v7(),
            }],
            next_step: Some("Send the revised quote".into()),
            notes: "The CFO wants a longer payment period".into(),
            deleted: false,
        }
    }

    #[test]
    fn a_complete_opportunity_is_valid() {
        assert!(sample().violations().is_empty());
    }

    #[test]
    fn a_lost_deal_says_why() {
        let mut lost = sample();
        lost.stage = Lost;
        lost.lost_reason = Some(" ".into());
        let fields: Vec<_> = lost.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["lost_reason"]);
    }

    #[test]
    fn probability_and_amount_stay_in_range() {
        let mut deal = sample();
        deal.probability = Some(101);
        deal.amount = Money::from_minor(-1);
        let fields: Vec<_> = deal.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["amount", "probability"]);
    }

    #[test]
    fn stages_advance_one_step_and_win_only_from_contract() {
        assert_eq!(Research.move_to(Planning), Some(StageMove::Advance));
        assert_eq!(Negotiation.move_to(Contract), Some(StageMove::Advance));
        assert_eq!(Research.move_to(Negotiation), None);
        assert_eq!(Contract.move_to(Won), Some(StageMove::Win));
        assert_eq!(Negotiation.move_to(Won), None);
        assert_eq!(Planning.move_to(Lost), Some(StageMove::Lose));
        assert_eq!(Won.move_to(Lost), None);
        assert_eq!(Research.move_to(Research), None);
    }

    #[test]
    fn reopening_goes_back_to_an_open_stage() {
        assert_eq!(Lost.move_to(Planning), Some(StageMove::Reopen));
        assert_eq!(Lost.move_to(Contract), None);
        assert_eq!(Won.move_to(Contract), Some(StageMove::Reopen));
        assert_eq!(Won.move_to(Research), None);
        assert_eq!(Contract.move_to(Planning), Some(StageMove::Reopen));
    }

    #[test]
    fn the_weighted_amount_uses_the_stage_default_when_no_probability_is_given() {
        let mut deal = sample();
        deal.probability = None;
        deal.stage = Planning;
        assert_eq!(deal.weighted_amount(), Money::from_minor(30_000_000));
        deal.probability = Some(40);
        assert_eq!(deal.weighted_amount(), Money::from_minor(48_000_000));
        deal.stage = Won;
        assert_eq!(deal.effective_probability(), 100);
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let json = serde_json::to_value(sample()).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = Opportunity::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
