//! Errors of record documents: broken bytes, and records that break the rules.

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
