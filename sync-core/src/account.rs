//! The key account: who the customer is, how much it matters, where it stands
//! in the lifecycle, and who on our side owns it.

use crate::error::Violation;
use crate::geo::GeoPoint;
use crate::ids::{TeamId, UserId};
use crate::record::{Record, RecordKind, check_labels, check_len, string_enum};
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
    /// Lifecycle stage.
    #[serde(default = "default_stage")]
    pub stage: Stage,
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

fn default_stage() -> Stage {
    Stage::Identified
}

/// Longest account name, in characters.
pub const MAX_NAME_LEN: usize = 200;
/// Longest notes, in characters.
pub const MAX_NOTES_LEN: usize = 100_000;

impl Record for Account {
    const KIND: RecordKind = RecordKind::Account;
    const FIELDS: &'static [&'static str] = &[
        "name",
        "segment",
        "tier",
        "proposed_tier",
        "stage",
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
    const ATOMIC_FIELDS: &'static [&'static str] = &["location"];

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
            stage: Stage::Engaging,
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
}
