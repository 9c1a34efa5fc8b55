//! Errors of record documents (broken bytes, records that break the rules)
//! and of the decoders of untrusted input ([`Rejection`]).

use serde::{Deserialize, Serialize};

/// One broken rule, pinned to the field that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Violation {
    /// The field's path, dotted for nested fields (`location.lat`, `steps.probe.notes`).
    pub field: String,
    /// A stable snake_case code (`required`, `invalid_value`, `too_long`, `out_of_range`, ...).
    pub code: String,
    /// A sentence for a person.
    pub message: String,
}

impl Violation {
    /// A violation of `field` with a stable `code`.
    pub fn new(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Why a record document could not be read, written or changed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The bytes are not an Automerge document or change set.
    #[error("not a valid Automerge document: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// The document or the patch breaks the record's rules.
    #[error("the record breaks {} rule(s)", .0.len())]
    Invalid(Vec<Violation>),
}

/// Which refusal a [`Rejection`] is, without naming a transport: each has
/// a stable snake_case wire name, and the server maps each to its own error
/// code (which carries the HTTP status) with an exhaustive match, so a code
/// added here does not compile in the server until it is answered there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionCode {
    /// `malformed_json`: the body is not JSON.
    MalformedJson,
    /// `malformed_cbor`: the body is not CBOR of a sync request.
    MalformedCbor,
    /// `duplicate_member`: a JSON object names a member twice.
    DuplicateMember,
    /// `invalid_body`: JSON that does not fit the request's shape.
    InvalidBody,
    /// `validation_failed`: well-formed, but breaks the rules; the
    /// violations name the fields.
    ValidationFailed,
    /// `invalid_automerge`: pushed changes that are not Automerge bytes.
    InvalidAutomerge,
    /// `invalid_cursor`: a cursor the server did not give out.
    InvalidCursor,
    /// `too_many_changes`: too many changes pushed for one document.
    TooManyChanges,
    /// `too_large_decoded`: pushed bytes that decode to more than the budget.
    TooLargeDecoded,
    /// `history_full`: a record at its limit of changes.
    HistoryFull,
}

impl RejectionCode {
    /// The stable snake_case name clients see.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MalformedJson => "malformed_json",
            Self::MalformedCbor => "malformed_cbor",
            Self::DuplicateMember => "duplicate_member",
            Self::InvalidBody => "invalid_body",
            Self::ValidationFailed => "validation_failed",
            Self::InvalidAutomerge => "invalid_automerge",
            Self::InvalidCursor => "invalid_cursor",
            Self::TooManyChanges => "too_many_changes",
            Self::TooLargeDecoded => "too_large_decoded",
            Self::HistoryFull => "history_full",
        }
    }
}

impl std::fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Untrusted input refused whole by one of the decoders in this crate: what
/// the server answers, with a stable `code`, a sentence for a person and,
/// for `validation_failed`, the violations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Rejection {
    /// Which refusal it is.
    pub code: RejectionCode,
    /// What went wrong this time, for a person.
    pub detail: String,
    /// Field-level violations (for `validation_failed`; empty otherwise).
    pub violations: Vec<Violation>,
}

impl Rejection {
    /// A rejection with a stable code and a sentence.
    pub fn new(code: RejectionCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            violations: Vec::new(),
        }
    }

    /// `validation_failed`: the violations, each named in the detail.
    pub fn invalid(violations: Vec<Violation>) -> Self {
        let detail = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            code: RejectionCode::ValidationFailed,
            detail,
            violations,
        }
    }

    /// `validation_failed` for a single field.
    pub fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![Violation::new(field, code, message)])
    }

    /// The most specific code: the first violation's for a
    /// `validation_failed`, else the rejection's own.
    pub fn specific_code(&self) -> &str {
        self.violations
            .first()
            .map_or(self.code.as_str(), |v| v.code.as_str())
    }
}
