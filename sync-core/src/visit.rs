//! The visit (拜访): planned, done on the road (often offline), checked in and
//! out with GPS, worked through the five steps of an effective visit.

use crate::error::Violation;
use crate::geo::GeoPoint;
use crate::ids::{AccountId, ContactId, UserId};
use crate::record::{Record, RecordKind, check_len, string_enum};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

string_enum!(
    /// How the visit happens.
    VisitType {
        /// At the customer's site.
        Onsite => "onsite",
        /// A phone call.
        Phone => "phone",
        /// A video meeting.
        Online => "online",
        /// An event, fair or dinner.
        Event => "event",
    }
);

string_enum!(
    /// Where the visit stands.
    VisitStatus {
        /// Planned, not started.
        Planned => "planned",
        /// Checked in on site, under way.
        InProgress => "in_progress",
        /// Done (checked out, or closed by hand).
        Completed => "completed",
        /// Called off.
        Cancelled => "cancelled",
    }
);

string_enum!(
    /// How the visit went for us.
    Outcome {
        /// Moved the account forward.
        Positive => "positive",
        /// No change.
        Neutral => "neutral",
        /// Set us back.
        Negative => "negative",
    }
);

/// A check-in or check-out: when and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckPoint {
    /// When the device recorded it.
    pub at: DateTime<Utc>,
    /// Where the device was.
    pub location: GeoPoint,
    /// The device's reported GPS accuracy, in metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy_m: Option<f64>,
}

/// One step of the effective-visit model: done or not, with notes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// Whether the step was done.
    #[serde(default)]
    pub done: bool,
    /// What happened.
    #[serde(default)]
    pub notes: String,
}

/// The five steps of the "511" effective-visit model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VisitSteps {
    /// 识别接触: identify and approach the right person.
    #[serde(default)]
    pub identify: StepRecord,
    /// 需求探寻: probe needs.
    #[serde(default)]
    pub probe: StepRecord,
    /// 推荐: recommend.
    #[serde(default)]
    pub recommend: StepRecord,
    /// 促成: close or get a commitment.
    #[serde(default)]
    pub close: StepRecord,
    /// 跟进: follow up.
    #[serde(default)]
    pub follow_up: StepRecord,
}

/// An agreed next step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NextStep {
    /// What is to be done.
    pub text: String,
    /// Who does it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    /// By when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_on: Option<NaiveDate>,
    /// Whether it is done.
    #[serde(default)]
    pub done: bool,
}

/// A visit to an account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Visit {
    /// The account visited; fixed once the visit exists.
    pub account_id: AccountId,
    /// The rep who makes the visit.
    pub owner_id: UserId,
    /// Key persons met.
    #[serde(default)]
    pub key_person_ids: Vec<ContactId>,
    /// When the visit is planned.
    pub planned_at: DateTime<Utc>,
    /// How the visit happens.
    #[serde(rename = "type")]
    pub visit_type: VisitType,
    /// What the visit is for.
    #[serde(default)]
    pub purpose: String,
    /// Where the visit stands.
    #[serde(default = "default_status")]
    pub status: VisitStatus,
    /// Arrival on site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in: Option<CheckPoint>,
    /// Departure from site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_out: Option<CheckPoint>,
    /// The five effective-visit steps.
    #[serde(default)]
    pub steps: VisitSteps,
    /// Summary, edited by several people at once (collaborative text).
    #[serde(default)]
    pub summary: String,
    /// How it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// Agreed next steps.
    #[serde(default)]
    pub next_steps: Vec<NextStep>,
    /// When to come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_visit_on: Option<NaiveDate>,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

fn default_status() -> VisitStatus {
    VisitStatus::Planned
}

impl Record for Visit {
    const KIND: RecordKind = RecordKind::Visit;
    const FIELDS: &'static [&'static str] = &[
        "account_id",
        "owner_id",
        "key_person_ids",
        "planned_at",
        "type",
        "purpose",
        "status",
        "check_in",
        "check_out",
        "steps",
        "summary",
        "outcome",
        "next_steps",
        "next_visit_on",
        "deleted",
    ];
    const TEXT_FIELDS: &'static [&'static str] = &["summary"];
    const ATOMIC_FIELDS: &'static [&'static str] = &["check_in", "check_out"];

    fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        check_len("purpose", &self.purpose, 1_000, &mut out);
        check_len("summary", &self.summary, 100_000, &mut out);
        if self.key_person_ids.len() > 50 {
            out.push(Violation::new(
                "key_person_ids",
                "too_many",
                "at most 50 entries",
            ));
        }
        for (field, point) in [("check_in", &self.check_in), ("check_out", &self.check_out)] {
            if let Some(point) = point {
                point.location.check(&format!("{field}.location"), &mut out);
                if point
                    .accuracy_m
                    .is_some_and(|a| !(0.0..=100_000.0).contains(&a))
                {
                    out.push(Violation::new(
                        format!("{field}.accuracy_m"),
                        "out_of_range",
                        "accuracy runs from 0 to 100 km",
                    ));
                }
            }
        }
        if let (Some(check_in), Some(check_out)) = (&self.check_in, &self.check_out)
            && check_out.at < check_in.at
        {
            out.push(Violation::new(
                "check_out.at",
                "before_check_in",
                "check-out cannot be earlier than check-in",
            ));
        }
        if self.check_out.is_some() && self.check_in.is_none() {
            out.push(Violation::new(
                "check_out",
                "requires_check_in",
                "a visit is checked in before it is checked out",
            ));
        }
        let steps = &self.steps;
        for (field, step) in [
            ("steps.identify.notes", &steps.identify),
            ("steps.probe.notes", &steps.probe),
            ("steps.recommend.notes", &steps.recommend),
            ("steps.close.notes", &steps.close),
            ("steps.follow_up.notes", &steps.follow_up),
        ] {
            check_len(field, &step.notes, 5_000, &mut out);
        }
        if self.next_steps.len() > 50 {
            out.push(Violation::new(
                "next_steps",
                "too_many",
                "at most 50 entries",
            ));
        }
        for (i, step) in self.next_steps.iter().enumerate() {
            if step.text.trim().is_empty() {
                out.push(Violation::new(
                    format!("next_steps.{i}.text"),
                    "required",
                    "a next step says what is to be done",
                ));
            }
            check_len(&format!("next_steps.{i}.text"), &step.text, 1_000, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Visit {
        Visit {
            account_id: AccountId::new_v7(),
            owner_id: UserId::new_v7(),
            key_person_ids: vec![],
            planned_at: Utc::now(),
            visit_type: VisitType::Onsite,
            purpose: "Present the Q3 proposal".into(),
            status: VisitStatus::Planned,
            check_in: None,
            check_out: None,
            steps: VisitSteps::default(),
            summary: String::new(),
            outcome: None,
            next_steps: vec![],
            next_visit_on: None,
            deleted: false,
        }
    }

    #[test]
    fn a_planned_visit_is_valid() {
        assert!(sample().violations().is_empty());
    }

    #[test]
    fn check_out_before_check_in_is_refused() {
        let mut visit = sample();
        let at = Utc::now();
        let location = GeoPoint {
            lat: 31.0,
            lon: 121.0,
        };
        visit.check_in = Some(CheckPoint {
            at,
            location,
            accuracy_m: None,
        });
        visit.check_out = Some(CheckPoint {
            at: at - chrono::Duration::minutes(5),
            location,
            accuracy_m: None,
        });
        let codes: Vec<_> = visit.violations().into_iter().map(|v| v.code).collect();
        assert_eq!(codes, ["before_check_in"]);
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let mut visit = sample();
        let location = GeoPoint {
            lat: 31.0,
            lon: 121.0,
        };
        let point = CheckPoint {
            at: Utc::now(),
            location,
            accuracy_m: Some(3.0),
        };
        visit.check_in = Some(point.clone());
        visit.check_out = Some(point);
        visit.outcome = Some(Outcome::Positive);
        visit.next_visit_on = Some(NaiveDate::MIN);
        let json = serde_json::to_value(&visit).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = Visit::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
