//! The one error type of the HTTP API. Every 4xx and 5xx is an RFC 9457
//! `application/problem+json` body with a stable snake_case `code`;
//! unexpected errors log their cause chain and answer an opaque 500.
//!
//! Which codes there are, and the status of each, is [`ErrorCode`] (in
//! `code`); this module is its HTTP edge: the body, the actix status and
//! headers. The rest of the server names a code, never an error status.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use kam_sync_core::error::Rejection;
use kam_sync_core::{RecordError, Violation};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

mod code;
pub mod responses;

pub use code::{ErrorCode, Status};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem details body.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type: `/problems/{code}`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a person.
    pub detail: String,
    /// A stable snake_case code for programs to branch on.
    pub code: String,
    /// Field-level rule violations, for `validation_failed` and friends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<Violation>,
}

/// An error answered to an API client.
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    violations: Vec<Violation>,
    cause: Option<anyhow::Error>,
}

/// The API's result type.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a stable code (which carries its status) and a sentence.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            violations: Vec::new(),
            cause: None,
        }
    }

    /// `not_found`: no such record, or none the caller may see (the two are
    /// not told apart).
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// `validation_failed`: well-formed, but breaks the record's rules.
    pub fn invalid(violations: Vec<Violation>) -> Self {
        Rejection::invalid(violations).into()
    }

    /// `validation_failed` for a single field.
    pub fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![Violation::new(field, code, message)])
    }

    /// `internal_error`: logs the cause chain, tells the client nothing
    /// about it.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            code: ErrorCode::InternalError,
            detail: "the server failed; the request may be retried".into(),
            violations: Vec::new(),
            cause: Some(cause.into()),
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The most specific code: the first violation's for a
    /// `validation_failed`, else the problem's own.
    pub fn specific_code(&self) -> &str {
        self.violations
            .first()
            .map_or(self.code.wire_name(), |v| v.code.as_str())
    }

    /// The sentence for a person.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The body this error renders.
    pub fn problem(&self) -> Problem {
        let status = http_status(self.code.status());
        Problem {
            problem_type: format!("/problems/{}", self.code),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.wire_name().to_owned(),
            violations: self.violations.clone(),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.status().as_u16(),
            self.code,
            self.detail
        )?;
        if let Some(cause) = &self.cause {
            write!(f, " ({cause:#})")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        http_status(self.code.status())
    }

    fn error_response(&self) -> HttpResponse {
        crate::metrics::problem(self.code.wire_name());
        if let Some(cause) = &self.cause {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if self.code.status() == Status::Unauthorized {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(self.problem())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        // A check-then-insert that lost a race to a concurrent writer.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Self::new(ErrorCode::AlreadyExists, "a record with this key exists");
        }
        Self::internal(err)
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self {
            code: rejection.code.into(),
            detail: rejection.detail,
            violations: rejection.violations,
            cause: None,
        }
    }
}

impl From<RecordError> for ApiError {
    fn from(err: RecordError) -> Self {
        match err {
            RecordError::Invalid(violations) => Self::invalid(violations),
            RecordError::Automerge(err) => Self::internal(err),
        }
    }
}

/// The actix status of a [`Status`].
fn http_status(status: Status) -> StatusCode {
    match status {
        Status::BadRequest => StatusCode::BAD_REQUEST,
        Status::Unauthorized => StatusCode::UNAUTHORIZED,
        Status::Forbidden => StatusCode::FORBIDDEN,
        Status::NotFound => StatusCode::NOT_FOUND,
        Status::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        Status::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        Status::Conflict => StatusCode::CONFLICT,
        Status::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Status::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Status::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        Status::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
        Status::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        Status::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
        Status::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}
