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

/// Which answer a [`Rejection`] is, without naming a transport: the server
/// maps each to its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The request itself is malformed (400).
    BadRequest,
    /// The request conflicts with the record's state (409).
    Conflict,
    /// The request, or what it decodes to, is too large (413).
    PayloadTooLarge,
    /// Well-formed, but breaks the rules (422).
    UnprocessableEntity,
}

/// Untrusted input refused whole by one of the decoders in this crate: what
/// the server answers, with a stable `code`, a sentence for a person and,
/// for `validation_failed`, the violations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Rejection {
    /// Which answer it is.
    pub status: Status,
    /// A stable snake_case code.
    pub code: &'static str,
    /// What went wrong this time, for a person.
    pub detail: String,
    /// Field-level violations (for `validation_failed`; empty otherwise).
    pub violations: Vec<Violation>,
}

impl Rejection {
    /// A rejection with a status, a stable code and a sentence.
    pub fn new(status: Status, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            violations: Vec::new(),
        }
    }

    /// The request itself is malformed.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(Status::BadRequest, code, detail)
    }

    /// `validation_failed`: the violations, each named in the detail.
    pub fn invalid(violations: Vec<Violation>) -> Self {
        let detail = violations
            .iter()
            .map(|v| format!("{}: {}", v.field, v.message))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            status: Status::UnprocessableEntity,
            code: "validation_failed",
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
            .map_or(self.code, |v| v.code.as_str())
    }
}
