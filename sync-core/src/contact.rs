//! The key person (关键人): who matters at an account, how they buy, how
//! they see us, what they need, and whom they report to. Together the key
//! persons of an account draw its decision map.

use crate::error::Violation;
use crate::ids::{AccountId, ContactId};
use crate::record::{Record, RecordKind, check_len, string_enum};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

string_enum!(
    /// The part a person plays in the customer's buying decision.
    BuyingRole {
        /// Makes the final call.
        DecisionMaker => "decision_maker",
        /// Shapes the decision without making it.
        Influencer => "influencer",
        /// Uses what we sell.
        User => "user",
        /// Controls access to the others.
        Gatekeeper => "gatekeeper",
        /// Our inside champion, who guides us (教练).
        Coach => "coach",
    }
);

string_enum!(
    /// How the person stands towards us.
    Attitude {
        /// Sells us inside the customer.
        Champion => "champion",
        /// Favours us.
        Supporter => "supporter",
        /// Neither for nor against.
        Neutral => "neutral",
        /// Works against us.
        Opponent => "opponent",
    }
);

string_enum!(
    /// Personality style, as the sources teach it; it drives the approach.
    Personality {
        /// Dominant, decides fast: be brief and bring results.
        Tiger => "tiger",
        /// Expressive (孔雀型): wants recognition and a relationship.
        Peacock => "peacock",
        /// Steady: wants safety and time.
        Koala => "koala",
        /// Analytical: wants data and detail.
        Owl => "owl",
    }
);

string_enum!(
    /// What the person's organisation needs from a supplier (单位需求).
    OrgNeed {
        /// Product and delivery quality.
        Quality => "quality",
        /// Price and total cost.
        Price => "price",
        /// The supplier's reputation.
        Reputation => "reputation",
        /// Service and support.
        Service => "service",
        /// Commercial terms such as the payment period (账期).
        Terms => "terms",
        /// Help to grow.
        Growth => "growth",
    }
);

string_enum!(
    /// What the person needs for themselves (个人需求), by level.
    PersonalNeed {
        /// Safety: no risk to their position.
        Safety => "safety",
        /// Belonging: to be part of the group.
        Belonging => "belonging",
        /// Esteem: recognition.
        Esteem => "esteem",
        /// Self-actualisation: to achieve something of their own.
        SelfActualisation => "self_actualisation",
    }
);

/// A key person at an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// The account the person works at; fixed once the record exists.
    pub account_id: AccountId,
    /// Full name.
    pub name: String,
    /// Job title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// WeChat id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat: Option<String>,
    /// Birthday.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<NaiveDate>,
    /// The part played in buying decisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buying_role: Option<BuyingRole>,
    /// How they stand towards us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attitude: Option<Attitude>,
    /// Weight in the decision, 1 (little) to 5 (decisive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub influence: Option<i64>,
    /// Strength of our relationship, 1 (none) to 5 (close).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship_strength: Option<i64>,
    /// Personality style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<Personality>,
    /// The organisation's needs.
    #[serde(default)]
    pub org_needs: Vec<OrgNeed>,
    /// The person's own needs.
    #[serde(default)]
    pub personal_needs: Vec<PersonalNeed>,
    /// The key person this one reports to, at the same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reports_to: Option<ContactId>,
    /// Notes, edited by several people at once (collaborative text).
    #[serde(default)]
    pub notes: String,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

impl Record for Contact {
    const KIND: RecordKind = RecordKind::Contact;
    const FIELDS: &'static [&'static str] = &[
        "account_id",
        "name",
        "title",
        "department",
        "phone",
        "email",
        "wechat",
        "birthday",
        "buying_role",
        "attitude",
        "influence",
        "relationship_strength",
        "personality",
        "org_needs",
        "personal_needs",
        "reports_to",
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
                "a key person needs a name",
            ));
        }
        check_len("name", &self.name, 200, &mut out);
        for (field, value) in [
            ("title", &self.title),
            ("department", &self.department),
            ("phone", &self.phone),
            ("email", &self.email),
            ("wechat", &self.wechat),
        ] {
            if let Some(value) = value {
                check_len(field, value, 200, &mut out);
            }
        }
        if let Some(email) = &self.email
            && !email.contains('@')
        {
            out.push(Violation::new(
                "email",
                "invalid_value",
                "an email address has an @",
            ));
        }
        for (field, value) in [
            ("influence", self.influence),
            ("relationship_strength", self.relationship_strength),
        ] {
            if value.is_some_and(|v| !(1..=5).contains(&v)) {
                out.push(Violation::new(field, "out_of_range", "runs from 1 to 5"));
            }
        }
        check_len("notes", &self.notes, 100_000, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Contact {
        Contact {
            account_id: AccountId::new_v7(),
            name: "王建国".into(),
            title: Some("CIO".into()),
            department: Some("Information".into()),
            phone: Some("+86 571 8888 0000".into()),
            email: Some("wang@example.cn".into()),
            wechat: Some("wang_jg".into()),
            birthday: Some(NaiveDate::MIN),
            buying_role: Some(BuyingRole::DecisionMaker),
            attitude: Some(Attitude::Supporter),
            influence: Some(5),
            relationship_strength: Some(3),
            personality: Some(Personality::Owl),
            org_needs: vec![OrgNeed::Quality],
            personal_needs: vec![PersonalNeed::Esteem],
            reports_to: Some(ContactId::new_v7()),
            notes: "Prefers written proposals".into(),
            deleted: false,
        }
    }

    #[test]
    fn a_complete_key_person_is_valid() {
        assert!(sample().violations().is_empty());
    }

    #[test]
    fn influence_outside_one_to_five_is_refused() {
        let mut contact = sample();
        contact.influence = Some(6);
        contact.relationship_strength = Some(0);
        let fields: Vec<_> = contact.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["influence", "relationship_strength"]);
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let json = serde_json::to_value(sample()).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = Contact::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
