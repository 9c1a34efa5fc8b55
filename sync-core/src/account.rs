//! The key account: who the customer is, how much it matters, where it stands
//! in the lifecycle, and who on our side owns it.

use crate::error::Violation;
use crate::geo::GeoPoint;
use crate::ids::{TeamId, UserId};
use crate::record::{Record, RecordKind, check_labels, check_len, string_enum};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

string_enum!(
    /// Market segment (政府, 企业, ...).
    Segment {
        /// 政府: government bodies.
        Government => "government",
        /// 企业: companies.
        Enterprise => "enterprise",
        /// Banks, insurers, funds.
        Financial => "financial",
        /// Schools and universities.
        Education => "education",
        /// Hospitals and clinics.
        Healthcare => "healthcare",
        /// Anything else.
        Other => "other",
    }
);

string_enum!(
    /// How much an account matters (级别划分).
    Tier {
        /// The very few accounts that shape the year.
        Strategic => "strategic",
        /// 重点客户: the accounts that bring most revenue.
        Key => "key",
        /// 普通客户.
        Standard => "standard",
    }
);

string_enum!(
    /// Where the account stands in the key-account lifecycle (大客户全生命周期).
    Stage {
        /// 识别与筛选: found and being scored.
        Identified => "identified",
        /// 接触与建立关系: first contacts.
        Engaging => "engaging",
        /// 深化关系: account plan, high-level relationships.
        Deepening => "deepening",
        /// 维护: regular visits, service, callbacks.
        Maintaining => "maintaining",
        /// 流失预警: churn warning.
        AtRisk => "at_risk",
        /// Churned.
        Lost => "lost",
    }
);

impl Stage {
    /// Whether anyone working the account may move it from this stage to
    /// `to` (大客户全生命周期): one step forward on the way to maintaining;
    /// from any stage with a relationship to at_risk (流失预警); from at_risk
    /// to lost; and from at_risk or lost back to maintaining (won back, 挽回).
    /// Other moves (skipping a stage, stepping back) are corrections, which
    /// only a manager or above makes.
    pub fn moves_to(self, to: Stage) -> bool {
        use Stage::{AtRisk, Deepening, Engaging, Identified, Lost, Maintaining};
        matches!(
            (self, to),
            (Identified, Engaging)
                | (Engaging, Deepening)
                | (Deepening, Maintaining)
                | (Engaging | Deepening | Maintaining, AtRisk)
                | (AtRisk, Lost)
                | (AtRisk | Lost, Maintaining)
        )
    }

    /// Whether moving from this stage to `to` wins the account back (挽回).
    pub fn wins_back(self, to: Stage) -> bool {
        matches!(
            (self, to),
            (Stage::AtRisk | Stage::Lost, Stage::Maintaining)
        )
    }

    /// Whether the account is at risk or lost: the stages that carry reasons.
    pub fn is_churning(self) -> bool {
        matches!(self, Stage::AtRisk | Stage::Lost)
    }
}

/// A tier proposal a manager turned down, and why; kept by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TierRejection {
    /// The tier that was proposed.
    pub tier: Tier,
    /// Why it was turned down.
    pub reason: String,
    /// The manager who turned it down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<UserId>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The scores an account is tiered on, each 0-100 (识别与定位).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scores {
    /// The customer's need for what we sell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need: Option<i64>,
    /// 购买力.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchasing_power: Option<i64>,
    /// 忠诚度.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty: Option<i64>,
    /// Size of the organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    /// Strategic value to us (reference customer, new market).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategic_value: Option<i64>,
}

/// A postal address. Every part is optional: reps fill in what they know.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street and number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Province or state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A key account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// The customer's name.
    pub name: String,
    /// Market segment.
    pub segment: Segment,
    /// The confirmed tier; only a manager or above sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// A tier the owner proposes, waiting for a manager to confirm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposed_tier: Option<Tier>,
    /// The last tier proposal a manager turned down; kept by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_rejection: Option<TierRejection>,
    /// Lifecycle stage.
    #[serde(default = "default_stage")]
    pub stage: Stage,
    /// Why the account is at risk (流失预警); required to move it to at_risk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk_reasons: Vec<String>,
    /// Why the account was lost; required to move it to lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_reason: Option<String>,
    /// How many times the account was won back (挽回); kept by the server.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub won_back_count: u32,
    /// When the account was last won back; kept by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub won_back_at: Option<DateTime<Utc>>,
    /// The rep who owns the account; only a manager or above reassigns it.
    pub owner_id: UserId,
    /// The owner's team, kept by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<TeamId>,
    /// Other users who work on the account with the owner.
    #[serde(default)]
    pub shared_with: Vec<UserId>,
    /// Tiering scores.
    #[serde(default)]
    pub scores: Scores,
    /// Industry, in the customer's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<String>,
    /// Switchboard phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Web site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    /// Postal address.
    #[serde(default)]
    pub address: Address,
    /// Where the customer is, for check-in distance checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    /// Free labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Notes, edited by several people at once (collaborative text).
    #[serde(default)]
    pub notes: String,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

fn default_stage() -> Stage {
    Stage::Identified
}

/// Longest account name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Longest notes, in characters.
pub const MAX_NOTES_LEN: usize = 100_000;
/// Most risk reasons an account carries.
pub const MAX_RISK_REASONS: usize = 20;
/// Longest risk reason, lost reason or tier rejection reason, in characters.
pub const MAX_REASON_LEN: usize = 500;

impl Record for Account {
    const KIND: RecordKind = RecordKind::Account;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "segment",
        "tier",
        "proposed_tier",
        "tier_rejection",
        "stage",
        "risk_reasons",
        "lost_reason",
        "won_back_count",
        "won_back_at",
        "owner_id",
        "team_id",
        "shared_with",
        "scores",
        "industry",
        "phone",
        "website",
        "address",
        "location",
        "tags",
        "notes",
        "deleted",
    ];
    const TEXT_FIELDS: &'static [&'static str] = &["notes"];
    const ATOMIC_FIELDS: &'static [&'static str] = &["location", "tier_rejection"];

    fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() {
            out.push(Violation::new(
                "name",
                "required",
                "the account needs a name",
            ));
        }
        check_len("name", &self.name, MAX_NAME_LEN, &mut out);
        for (field, score) in [
            ("scores.need", self.scores.need),
            ("scores.purchasing_power", self.scores.purchasing_power),
            ("scores.loyalty", self.scores.loyalty),
            ("scores.size", self.scores.size),
            ("scores.strategic_value", self.scores.strategic_value),
        ] {
            if score.is_some_and(|s| !(0..=100).contains(&s)) {
                out.push(Violation::new(
                    field,
                    "out_of_range",
                    "scores run from 0 to 100",
                ));
            }
        }
        for (field, value) in [
            ("industry", &self.industry),
            ("phone", &self.phone),
            ("website", &self.website),
            ("address.street", &self.address.street),
            ("address.city", &self.address.city),
            ("address.region", &self.address.region),
            ("address.postal_code", &self.address.postal_code),
            ("address.country", &self.address.country),
        ] {
            if let Some(value) = value {
                check_len(field, value, 200, &mut out);
            }
        }
        if let Some(location) = &self.location {
            location.check("location", &mut out);
        }
        check_labels("tags", &self.tags, 50, &mut out);
        if self.risk_reasons.len() > MAX_RISK_REASONS {
            out.push(Violation::new(
                "risk_reasons",
                "too_many",
                format!("at most {MAX_RISK_REASONS} entries"),
            ));
        }
        for (i, reason) in self.risk_reasons.iter().enumerate() {
            let field = format!("risk_reasons.{i}");
            if reason.trim().is_empty() {
                out.push(Violation::new(&field, "required", "must not be blank"));
            }
            check_len(&field, reason, MAX_REASON_LEN, &mut out);
        }
        if let Some(reason) = &self.lost_reason {
            check_len("lost_reason", reason, MAX_REASON_LEN, &mut out);
        }
        if let Some(rejection) = &self.tier_rejection {
            check_len(
                "tier_rejection.reason",
                &rejection.reason,
                MAX_REASON_LEN,
                &mut out,
            );
        }
        if self.shared_with.len() > 50 {
            out.push(Violation::new(
                "shared_with",
                "too_many",
                "at most 50 entries",
            ));
        }
        check_len("notes", &self.notes, MAX_NOTES_LEN, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Account {
        Account {
            name: "Shanghai Metro Group".into(),
            segment: Segment::Government,
            tier: Some(Tier::Key),
            proposed_tier: None,
            tier_rejection: None,
            stage: Stage::Engaging,
            risk_reasons: vec![],
            lost_reason: None,
            won_back_count: 0,
            won_back_at: None,
            owner_id: UserId::new_v7(),
            team_id: None,
            shared_with: vec![],
            scores: Scores::default(),
            industry: None,
            phone: None,
            website: None,
            address: Address::default(),
            location: None,
            tags: vec!["transport".into()],
            notes: String::new(),
            deleted: false,
        }
    }

    #[test]
    fn a_plain_account_is_valid() {
        assert!(sample().violations().is_empty());
    }

    #[test]
    fn blank_name_and_wild_scores_are_reported_by_field() {
        let mut account = sample();
        account.name = "  ".into();
        account.scores.loyalty = Some(101);
        let fields: Vec<_> = account.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["name", "scores.loyalty"]);
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let mut account = sample();
        account.team_id = Some(TeamId::new_v7());
        account.proposed_tier = Some(Tier::Strategic);
        account.tier_rejection = Some(TierRejection {
            tier: Tier::Key,
            reason: "too small".into(),
            by: None,
            at: chrono::DateTime::UNIX_EPOCH,
        });
        account.lost_reason = Some("moved to a competitor".into());
        account.won_back_at = Some(chrono::DateTime::UNIX_EPOCH);
        account.won_back_count = 1;
        account.risk_reasons = vec!["no visit in 60 days".into()];
        account.industry = Some("rail".into());
        account.phone = Some("021".into());
        account.website = Some("example.cn".into());
        account.location = Some(GeoPoint {
            lat: 31.0,
            lon: 121.0,
        });
        let json = serde_json::to_value(&account).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = Account::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }

    #[test]
    fn an_account_moves_forward_one_stage_at_a_time() {
        use Stage::*;
        assert!(Identified.moves_to(Engaging));
        assert!(Engaging.moves_to(Deepening));
        assert!(Deepening.moves_to(Maintaining));
        assert!(!Identified.moves_to(Deepening), "no skipping");
        assert!(!Deepening.moves_to(Engaging), "no stepping back");
        assert!(!Maintaining.moves_to(Identified));
    }

    #[test]
    fn churn_moves_go_through_at_risk_and_come_back_to_maintaining() {
        use Stage::*;
        for from in [Engaging, Deepening, Maintaining] {
            assert!(from.moves_to(AtRisk), "{from} to at_risk");
        }
        assert!(!Identified.moves_to(AtRisk), "nothing to lose yet");
        assert!(AtRisk.moves_to(Lost));
        assert!(!Maintaining.moves_to(Lost), "lost only after a warning");
        assert!(AtRisk.moves_to(Maintaining) && AtRisk.wins_back(Maintaining));
        assert!(Lost.moves_to(Maintaining) && Lost.wins_back(Maintaining));
        assert!(!Lost.moves_to(Engaging));
        assert!(!Deepening.wins_back(Maintaining));
    }

    #[test]
    fn blank_or_long_reasons_are_reported_by_field() {
        let mut account = sample();
        account.risk_reasons = vec!["no visit in 60 days".into(), " ".into()];
        account.lost_reason = Some("x".repeat(MAX_REASON_LEN + 1));
        let fields: Vec<_> = account.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["risk_reasons.1", "lost_reason"]);
    }

    #[test]
    fn an_account_written_before_the_lifecycle_fields_still_reads() {
        let old = serde_json::json!({
            "name": "Old Co",
            "segment": "other",
            "owner_id": UserId::new_v7(),
            "stage": "at_risk",
        });
        let account: Result<Account, _> = serde_json::from_value(old);
        let account = account.map_err(|err| err.to_string());
        assert_eq!(account.as_ref().map(|a| a.won_back_count), Ok(0));
        assert_eq!(account.map(|a| a.risk_reasons.is_empty()), Ok(true));
    }
}
