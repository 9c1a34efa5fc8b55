//! The callback (回访): a call back to the customer, routine, after a sale
//! or after a ticket, with the satisfaction they report.

use crate::error::Violation;
use crate::ids::{AccountId, ContactId, TicketId, UserId};
use crate::record::{Record, RecordKind, check_len, string_enum};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

string_enum!(
    /// Why the customer is called back.
    CallbackKind {
        /// A regular check on the relationship.
        Routine => "routine",
        /// After a sale or a delivery.
        AfterSale => "after_sale",
        /// After a ticket, to check the customer is satisfied with its resolution.
        AfterTicket => "after_ticket",
    }
);

string_enum!(
    /// Where the callback stands: planned, then done or missed.
    CallbackStatus {
        /// To be made.
        Planned => "planned",
        /// Made; the satisfaction is recorded.
        Done => "done",
        /// Not reached.
        Missed => "missed",
    }
);

impl CallbackStatus {
    /// Whether the workflow allows moving from `self` to `to` (staying put is
    /// not a move): a planned callback is done or missed; a missed one may be
    /// planned again; a done one is final.
    pub fn can_move_to(self, to: Self) -> bool {
        use CallbackStatus::*;
        matches!(
            (self, to),
            (Planned, Done) | (Planned, Missed) | (Missed, Planned)
        )
    }
}

/// Lowest satisfaction (1-5) that is not a warning sign.
pub const LOW_SATISFACTION: i64 = 2;

/// A callback to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Callback {
    /// The account called; fixed once the callback exists.
    pub account_id: AccountId,
    /// Why the customer is called.
    pub kind: CallbackKind,
    /// The ticket followed up; required for `after_ticket`, at the same account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<TicketId>,
    /// The key person called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// Who makes the call (default: whoever creates it).
    pub owner_id: UserId,
    /// The day it is planned for.
    pub scheduled_on: NaiveDate,
    /// Where it stands.
    #[serde(default = "default_status")]
    pub status: CallbackStatus,
    /// How satisfied the customer is, 1 (not at all) to 5 (fully); required when done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<i64>,
    /// What the customer said, edited by several people at once (collaborative text).
    #[serde(default)]
    pub comments: String,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

fn default_status() -> CallbackStatus {
    CallbackStatus::Planned
}

impl Record for Callback {
    const KIND: RecordKind = RecordKind::Callback;
    const FIELDS: &'static [&'static str] = &[
        "account_id",
        "kind",
        "ticket_id",
        "contact_id",
        "owner_id",
        "scheduled_on",
        "status",
        "satisfaction",
        "comments",
        "deleted",
    ];
    const TEXT_FIELDS: &'static [&'static str] = &["comments"];
    const ATOMIC_FIELDS: &'static [&'static str] = &[];

    fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        if self.kind == CallbackKind::AfterTicket && self.ticket_id.is_none() {
            out.push(Violation::new(
                "ticket_id",
                "required",
                "a callback after a ticket names the ticket",
            ));
        }
        if self.satisfaction.is_some_and(|s| !(1..=5).contains(&s)) {
            out.push(Violation::new(
                "satisfaction",
                "out_of_range",
                "runs from 1 to 5",
            ));
        }
        check_len("comments", &self.comments, 100_000, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Callback {
        Callback {
            account_id: AccountId::new_v7(),
            kind: CallbackKind::AfterTicket,
            ticket_id: Some(TicketId::new_v7()),
            contact_id: Some(ContactId::new_v7()),
            owner_id: UserId::new_v7(),
            scheduled_on: NaiveDate::MIN,
            status: CallbackStatus::Done,
            satisfaction: Some(4),
            comments: "Happy with the fix".into(),
            deleted: false,
        }
    }

    #[test]
    fn a_complete_callback_is_valid() {
        assert!(sample().violations().is_empty());
    }

    #[test]
    fn an_after_ticket_callback_names_its_ticket_and_satisfaction_runs_one_to_five() {
        let mut callback = sample();
        callback.ticket_id = None;
        callback.satisfaction = Some(6);
        let fields: Vec<_> = callback.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["ticket_id", "satisfaction"]);
    }

    #[test]
    fn a_done_callback_is_final_and_a_missed_one_may_be_planned_again() {
        use CallbackStatus::*;
        assert!(Planned.can_move_to(Done));
        assert!(Missed.can_move_to(Planned));
        assert!(!Done.can_move_to(Planned));
        assert!(!Missed.can_move_to(Done));
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let json = serde_json::to_value(sample()).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = Callback::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
