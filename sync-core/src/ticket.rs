//! The ticket (投诉/服务): a complaint, service request or question from an
//! account, worked by service staff from open to closed under an SLA.

use crate::error::Violation;
use crate::ids::{AccountId, ContactId, UserId};
use crate::record::{Record, RecordKind, check_len, string_enum};
use serde::{Deserialize, Serialize};

string_enum!(
    /// What the customer brings.
    TicketType {
        /// Something went wrong and the customer is unhappy (投诉).
        Complaint => "complaint",
        /// The customer asks for work to be done (服务).
        ServiceRequest => "service_request",
        /// The customer asks something.
        Question => "question",
    }
);

string_enum!(
    /// How urgent the ticket is; it sets the SLA.
    Severity {
        /// Business stopped.
        Critical => "critical",
        /// Business hurt.
        High => "high",
        /// An inconvenience.
        Medium => "medium",
        /// When convenient.
        Low => "low",
    }
);

string_enum!(
    /// Where the ticket stands: open → assigned → in_progress → resolved → closed.
    TicketStatus {
        /// Reported, nobody works it yet.
        Open => "open",
        /// Someone is named to work it.
        Assigned => "assigned",
        /// Being worked.
        InProgress => "in_progress",
        /// A resolution is given; waiting to close (a complaint after its callback).
        Resolved => "resolved",
        /// Done.
        Closed => "closed",
    }
);

impl TicketStatus {
    /// Whether the ticket is still to be worked (not resolved nor closed).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Resolved | Self::Closed)
    }

    /// Whether a ticket in this status must name who works it: from
    /// assigned to resolved (a ticket closed straight from open, a question
    /// answered on the spot, was never assigned).
    pub fn needs_assignee(self) -> bool {
        matches!(self, Self::Assigned | Self::InProgress | Self::Resolved)
    }

    /// Whether a ticket in this status must carry its resolution.
    pub fn needs_resolution(self) -> bool {
        matches!(self, Self::Resolved | Self::Closed)
    }

    /// Whether the workflow allows moving from `self` to `to` (staying put is
    /// not a move). Tickets go forward one step at a time; a resolved ticket
    /// may be reopened (back to in_progress); a ticket still open may be
    /// closed at once, which the server allows only for non-complaints that
    /// carry a resolution (a question answered on the spot, a duplicate).
    pub fn can_move_to(self, to: Self) -> bool {
        use TicketStatus::*;
        matches!(
            (self, to),
            (Open, Assigned)
                | (Assigned, InProgress)
                | (InProgress, Resolved)
                | (Resolved, Closed)
                | (Resolved, InProgress)
                | (Open | Assigned | InProgress, Closed)
        )
    }
}

/// A complaint, service request or question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Ticket {
    /// The account it comes from; fixed once the ticket exists.
    pub account_id: AccountId,
    /// What the customer brings.
    #[serde(rename = "type")]
    pub ticket_type: TicketType,
    /// A one-line summary.
    pub title: String,
    /// What happened, edited by several people at once (collaborative text).
    #[serde(default)]
    pub description: String,
    /// How urgent it is; sets the SLA.
    pub severity: Severity,
    /// Where it stands.
    #[serde(default = "default_status")]
    pub status: TicketStatus,
    /// Who works it; required from `assigned` on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_id: Option<UserId>,
    /// The key person who reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    /// How it was resolved; required from `resolved` on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// Soft deletion; merges like any edit.
    #[serde(default)]
    pub deleted: bool,
}

fn default_status() -> TicketStatus {
    TicketStatus::Open
}

impl Record for Ticket {
    const KIND: RecordKind = RecordKind::Ticket;
    const FIELDS: &'static [&'static str] = &[
        "account_id",
        "type",
        "title",
        "description",
        "severity",
        "status",
        "assignee_id",
        "contact_id",
        "resolution",
        "deleted",
    ];
    const TEXT_FIELDS: &'static [&'static str] = &["description"];
    const ATOMIC_FIELDS: &'static [&'static str] = &[];

    fn violations(&self) -> Vec<Violation> {
        let mut out = Vec::new();
        if self.title.trim().is_empty() {
            out.push(Violation::new(
                "title",
                "required",
                "a ticket needs a title",
            ));
        }
        check_len("title", &self.title, 200, &mut out);
        check_len("description", &self.description, 100_000, &mut out);
        if let Some(resolution) = &self.resolution {
            check_len("resolution", resolution, 10_000, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ticket {
        Ticket {
            account_id: AccountId::new_v7(),
            ticket_type: TicketType::Complaint,
            title: "Meter readings wrong since March".into(),
            description: "Three sites report doubled readings.".into(),
            severity: Severity::High,
            status: TicketStatus::Resolved,
            assignee_id: Some(UserId::new_v7()),
            contact_id: Some(ContactId::new_v7()),
            resolution: Some("Firmware rolled back".into()),
            deleted: false,
        }
    }

    #[test]
    fn a_complete_ticket_is_valid() {
        assert!(sample().violations().is_empty());
    }

    #[test]
    fn a_ticket_needs_a_title() {
        let mut ticket = sample();
        ticket.title = "  ".into();
        let fields: Vec<_> = ticket.violations().into_iter().map(|v| v.field).collect();
        assert_eq!(fields, ["title"]);
    }

    #[test]
    fn tickets_move_forward_one_step_and_reopen_from_resolved() {
        use TicketStatus::*;
        assert!(Open.can_move_to(Assigned));
        assert!(InProgress.can_move_to(Resolved));
        assert!(Resolved.can_move_to(InProgress));
        assert!(Open.can_move_to(Closed));
        assert!(!Open.can_move_to(Resolved));
        assert!(!Closed.can_move_to(Open));
        assert!(!Resolved.can_move_to(Open));
        assert!(!Assigned.can_move_to(Open));
    }

    #[test]
    fn fields_list_matches_the_serialized_record() {
        let json = serde_json::to_value(sample()).unwrap_or_default();
        let mut keys: Vec<_> = json
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys().cloned())
            .collect();
        let mut fields: Vec<_> = Ticket::FIELDS.iter().map(|f| f.to_string()).collect();
        keys.sort();
        fields.sort();
        assert_eq!(keys, fields);
    }
}
