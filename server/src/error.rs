//! The one error type of the HTTP API. Every 4xx and 5xx is an RFC 9457
//! `application/problem+json` body with a stable snake_case `code`;
//! unexpected errors log their cause chain and answer an opaque 500.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use kam_sync_core::error::{Rejection, Status};
use kam_sync_core::{RecordError, Violation};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

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
    status: StatusCode,
    code: &'static str,
    detail: String,
    violations: Vec<Violation>,
    cause: Option<anyhow::Error>,
}

/// The API's result type.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with a status, a stable code and a sentence.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            violations: Vec::new(),
            cause: None,
        }
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail)
    }

    /// 403: the caller sees the record but may not do this to it.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404: no such record, or none the caller may see (the two are not told apart).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 409: the request conflicts with the record's state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422: well-formed, but breaks the record's rules.
    pub fn invalid(violations: Vec<Violation>) -> Self {
        Rejection::invalid(violations).into()
    }

    /// 422 for a single field.
    pub fn invalid_field(field: &str, code: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![Violation::new(field, code, message)])
    }

    /// 500: logs the cause chain, tells the client nothing about it.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal_error",
            detail: "the server failed; the request may be retried".into(),
            violations: Vec::new(),
            cause: Some(cause.into()),
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The most specific code: the first violation's for a
    /// `validation_failed`, else the problem's own.
    pub fn specific_code(&self) -> &str {
        self.violations
            .first()
            .map_or(self.code, |v| v.code.as_str())
    }

    /// The sentence for a person.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The body this error renders.
    pub fn problem(&self) -> Problem {
        Problem {
            problem_type: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            violations: self.violations.clone(),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)?;
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
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(self.problem())
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        // A check-then-insert that lost a race to a concurrent writer.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Self::conflict("already_exists", "a record with this key exists");
        }
        Self::internal(err)
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        let status = match rejection.status {
            Status::BadRequest => StatusCode::BAD_REQUEST,
            Status::Conflict => StatusCode::CONFLICT,
            Status::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Status::UnprocessableEntity => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self {
            status,
            code: rejection.code,
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

/// OpenAPI response sets: the problems a kind of route can answer.
pub mod responses {
    use super::{PROBLEM_JSON, Problem};
    use std::collections::BTreeMap;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
    use utoipa::{IntoResponses, ToSchema};

    fn problems(list: &[(u16, &str)]) -> BTreeMap<String, RefOr<Response>> {
        list.iter()
            .map(|(status, description)| {
                let content = ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(Problem::name())))
                    .build();
                let response = ResponseBuilder::new()
                    .description(*description)
                    .content(PROBLEM_JSON, content)
                    .build();
                (status.to_string(), RefOr::T(response))
            })
            .collect()
    }

    const BAD_REQUEST: (u16, &str) = (
        400,
        "Malformed request: bad JSON, a member sent twice, a bad path or query (`malformed_json`, `duplicate_member`, `invalid_path`, `invalid_query`)",
    );
    const UNAUTHORIZED: (u16, &str) = (
        401,
        "No valid access token (`missing_token`, `invalid_token`, `session_revoked`, `user_inactive`)",
    );
    const FORBIDDEN: (u16, &str) = (
        403,
        "The caller sees the record but may not do this (`role_forbidden`, `owner_change_forbidden`, `tier_confirmation_forbidden`, ...)",
    );
    const NOT_FOUND: (u16, &str) = (
        404,
        "No such record, or none the caller may see (`not_found`)",
    );
    const CONFLICT: (u16, &str) = (
        409,
        "The request conflicts with the record's state (`already_exists`, `already_checked_in`, `history_full`, ...)",
    );
    const PRECONDITION: (u16, &str) = (
        412,
        "If-Match did not match the current ETag (`precondition_failed`)",
    );
    const TOO_LARGE: (u16, &str) = (
        413,
        "The body, or what it holds, is larger than the server takes (`payload_too_large`; a sync request also `too_many_documents`, `too_many_changes`, `too_large_decoded`)",
    );
    const MEDIA_TYPE: (u16, &str) = (415, "The body is not JSON (`unsupported_media_type`)");
    const INVALID: (u16, &str) = (
        422,
        "Well-formed but breaks the rules; `violations` names each field (`validation_failed`, with violation codes such as `invalid_value` for text holding a NUL character and `too_deep` for maps and lists nested more than 16 levels; `invalid_body`)",
    );
    const INTERNAL: (u16, &str) = (
        500,
        "The server failed; the request may be retried (`internal_error`)",
    );

    /// Problems of routes that read records.
    pub struct ReadErrors;

    impl IntoResponses for ReadErrors {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, INTERNAL])
        }
    }

    /// Problems of routes that read records some roles may not read at all.
    pub struct RoleReadErrors;

    impl IntoResponses for RoleReadErrors {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[
                BAD_REQUEST,
                UNAUTHORIZED,
                (
                    403,
                    "The caller's role may not read these records (`role_forbidden`)",
                ),
                NOT_FOUND,
                INTERNAL,
            ])
        }
    }

    /// Problems of routes that list records.
    pub struct ListErrors;

    impl IntoResponses for ListErrors {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, INTERNAL])
        }
    }

    /// Problems of routes that create or change records.
    pub struct WriteErrors;

    impl IntoResponses for WriteErrors {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[
                BAD_REQUEST,
                UNAUTHORIZED,
                FORBIDDEN,
                NOT_FOUND,
                CONFLICT,
                PRECONDITION,
                TOO_LARGE,
                MEDIA_TYPE,
                INVALID,
                INTERNAL,
            ])
        }
    }

    /// Problems of the sync endpoint (its codes are explained in
    /// docs/sync-protocol.md, "Errors").
    pub struct SyncErrors;

    impl IntoResponses for SyncErrors {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[
                (
                    400,
                    "The body or a part of it does not parse (`malformed_json`, `malformed_cbor`, `unreadable_body`, `duplicate_member`), the cursor is not one this server gave out (`invalid_cursor`), or a push's `changes` are not Automerge bytes (`invalid_automerge`)",
                ),
                UNAUTHORIZED,
                (
                    413,
                    "The body is larger than the sync limit (`payload_too_large`), or it pushes too much: more than 1000 documents (`too_many_documents`), more than 20,000 changes for one document (`too_many_changes`), or bytes decoding to more than 64 MiB (`too_large_decoded`)",
                ),
                (
                    415,
                    "The body is neither `application/json` nor `application/cbor` (`unsupported_media_type`)",
                ),
                (
                    422,
                    "Well-formed but not a valid request (`invalid_body`: an unknown member, a bad UUID, an unknown `kind`, bad base64; `validation_failed` with `violations`: `foreign_document`, `kind_mismatch`, `unknown_document`, `duplicate_document`, `too_deep`, `invalid_value` for a `limit` of 0)",
                ),
                INTERNAL,
            ])
        }
    }

    /// Problems of the login and refresh routes (no access token needed).
    pub struct CredentialErrors;

    impl IntoResponses for CredentialErrors {
        fn responses() -> BTreeMap<String, RefOr<Response>> {
            problems(&[
                BAD_REQUEST,
                (
                    401,
                    "Wrong credentials, or an unknown, expired or reused refresh token (`invalid_credentials`, `invalid_refresh_token`, `refresh_token_reused`, `session_revoked`)",
                ),
                TOO_LARGE,
                MEDIA_TYPE,
                INVALID,
                (
                    429,
                    "Too many failed logins from this address or for this username; wait `Retry-After` seconds (`too_many_attempts`)",
                ),
                INTERNAL,
                (
                    503,
                    "Too many logins at once; wait `Retry-After` seconds (`server_busy`)",
                ),
            ])
        }
    }
}
