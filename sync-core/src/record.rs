//! What every record kind tells the document layer about itself.

use crate::error::Violation;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The kinds of record that live in Automerge documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// A key account ([`crate::Account`]).
    Account,
    /// A visit to an account ([`crate::Visit`]).
    Visit,
    /// A key person at an account ([`crate::Contact`]).
    Contact,
    /// A sales opportunity at an account ([`crate::Opportunity`]).
    Opportunity,
    /// An account's plan for a period ([`crate::AccountPlan`]).
    AccountPlan,
    /// A callback to an account ([`crate::Callback`]).
    Callback,
    /// A complaint, service request or question ([`crate::Ticket`]).
    Ticket,
}

impl RecordKind {
    /// Every kind, parents first: an account before the records under it,
    /// and a callback before the ticket whose closing reads it.
    pub const ALL: &'static [RecordKind] = &[
        Self::Account,
        Self::Visit,
        Self::Contact,
        Self::Opportunity,
        Self::AccountPlan,
        Self::Callback,
        Self::Ticket,
    ];

    /// The kind's stable name, as on the wire and in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Visit => "visit",
            Self::Contact => "contact",
            Self::Opportunity => "opportunity",
            Self::AccountPlan => "account_plan",
            Self::Callback => "callback",
            Self::Ticket => "ticket",
        }
    }

    /// Parses a stored or wire name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "account" => Some(Self::Account),
            "visit" => Some(Self::Visit),
            "contact" => Some(Self::Contact),
            "opportunity" => Some(Self::Opportunity),
            "account_plan" => Some(Self::AccountPlan),
            "callback" => Some(Self::Callback),
            "ticket" => Some(Self::Ticket),
            _ => None,
        }
    }

    /// The account a record of this kind belongs to: an account is its own;
    /// other records name theirs in `account_id`.
    pub fn account_of(self, id: uuid::Uuid, fields: &serde_json::Value) -> Option<uuid::Uuid> {
        match self {
            Self::Account => Some(id),
            Self::Visit
            | Self::Contact
            | Self::Opportunity
            | Self::AccountPlan
            | Self::Callback
            | Self::Ticket => fields
                .get("account_id")
                .and_then(serde_json::Value::as_str)
                .and_then(|text| uuid::Uuid::parse_str(text).ok()),
        }
    }

    pub(crate) fn shape(self) -> Shape {
        crate::with_record_type!(self, R => Shape::of::<R>())
    }
}

/// Runs `$body` with `$R` standing for the record type of `$kind`: the one
/// place that maps a [`RecordKind`] to its type, so code generic over
/// [`Record`] serves every kind without a `match` of its own.
///
/// ```
/// use kam_sync_core::{RecordKind, with_record_type};
/// let fields = with_record_type!(RecordKind::Visit, R => <R as kam_sync_core::Record>::FIELDS.len());
/// assert!(fields > 0);
/// ```
#[macro_export]
macro_rules! with_record_type {
    ($kind:expr, $R:ident => $body:expr) => {
        match $kind {
            $crate::RecordKind::Account => {
                type $R = $crate::Account;
                $body
            }
            $crate::RecordKind::Visit => {
                type $R = $crate::Visit;
                $body
            }
            $crate::RecordKind::Contact => {
                type $R = $crate::Contact;
                $body
            }
            $crate::RecordKind::Opportunity => {
                type $R = $crate::Opportunity;
                $body
            }
            $crate::RecordKind::AccountPlan => {
                type $R = $crate::AccountPlan;
                $body
            }
            $crate::RecordKind::Callback => {
                type $R = $crate::Callback;
                $body
            }
            $crate::RecordKind::Ticket => {
                type $R = $crate::Ticket;
                $body
            }
        }
    };
}

/// A record kind's document layout, as the document layer needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub text_fields: &'static [&'static str],
    pub atomic_fields: &'static [&'static str],
}

impl Shape {
    fn of<R: Record>() -> Self {
        Self {
            text_fields: R::TEXT_FIELDS,
            atomic_fields: R::ATOMIC_FIELDS,
        }
    }
}

/// A record stored as one Automerge document.
///
/// The document's root map holds the record's fields as serde names them.
/// Nested objects are Automerge maps (merged field by field) unless listed in
/// [`Record::ATOMIC_FIELDS`]; lists of scalars merge as sets; free text that
/// several people edit is an Automerge Text.
pub trait Record: Serialize + DeserializeOwned + Clone {
    /// The kind of this record.
    const KIND: RecordKind;
    /// Every top-level field a client may write.
    const FIELDS: &'static [&'static str];
    /// Dotted paths of fields held as collaborative Automerge Text.
    const TEXT_FIELDS: &'static [&'static str];
    /// Dotted paths of objects that are replaced whole, never merged member
    /// by member (a GPS fix must not mix one device's latitude with another's
    /// longitude).
    const ATOMIC_FIELDS: &'static [&'static str];

    /// The rules beyond types: lengths, ranges, consistency between fields.
    fn violations(&self) -> Vec<Violation>;
}

/// Declares a string enum with stable snake_case names on the wire, `as_str`,
/// `ALL`, `FromStr` and `Display`.
///
/// The names are taken as `tt`, not `literal`: a `literal` fragment reaches a
/// derive wrapped in an invisible group, which serde unwraps but utoipa's
/// `ToSchema` skips, so the OpenAPI document named the variants instead.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable name on the wire and in storage.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(format!("unknown {} `{other}`", stringify!($name))),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

/// Item ids are unique within their list: merging matches items by id.
pub(crate) fn check_ids(
    field: &str,
    ids: impl Iterator<Item = uuid::Uuid>,
    out: &mut Vec<Violation>,
) {
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.enumerate() {
        if !seen.insert(id) {
            out.push(Violation::new(
                format!("{field}.{i}.id"),
                "duplicate_id",
                "another entry of the list has this id",
            ));
        }
    }
}

/// Checks that a string field is not longer than `max` characters.
pub(crate) fn check_len(field: &str, value: &str, max: usize, out: &mut Vec<Violation>) {
    if value.chars().count() > max {
        out.push(Violation::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
    }
}

/// Checks a list of short labels (tags): their count and each one's length.
pub(crate) fn check_labels(
    field: &str,
    labels: &[String],
    max_count: usize,
    out: &mut Vec<Violation>,
) {
    if labels.len() > max_count {
        out.push(Violation::new(
            field,
            "too_many",
            format!("at most {max_count} entries"),
        ));
    }
    for (i, label) in labels.iter().enumerate() {
        if label.trim().is_empty() {
            out.push(Violation::new(
                format!("{field}.{i}"),
                "required",
                "must not be blank",
            ));
        }
        check_len(&format!("{field}.{i}"), label, 64, out);
    }
}
