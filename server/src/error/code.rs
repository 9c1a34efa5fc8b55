//! Every problem `code` the server answers ([`ErrorCode`]), each with its
//! HTTP status ([`Status`]) and a line for the docs. The problem bodies, the
//! OpenAPI error lists and the table in docs/errors.md come from here.

use kam_sync_core::error::RejectionCode;
use std::fmt;

/// The HTTP statuses of problems, without naming a web framework (the HTTP
/// edge in [`crate::error`] maps them to its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// 400: the request itself is malformed.
    BadRequest,
    /// 401: no valid credentials.
    Unauthorized,
    /// 403: the caller sees the record but may not do this to it.
    Forbidden,
    /// 404: no such record or route.
    NotFound,
    /// 405: the path does not answer this method.
    MethodNotAllowed,
    /// 408: the body did not arrive in time.
    RequestTimeout,
    /// 409: the request conflicts with the record's state.
    Conflict,
    /// 412: `If-Match` did not match.
    PreconditionFailed,
    /// 413: the body, or what it holds, is too large.
    PayloadTooLarge,
    /// 415: the body's media type is not one the route takes.
    UnsupportedMediaType,
    /// 422: well-formed, but breaks the rules.
    UnprocessableEntity,
    /// 429: too many attempts; wait.
    TooManyRequests,
    /// 500: the server failed.
    InternalServerError,
    /// 503: the server cannot answer now; wait.
    ServiceUnavailable,
}

impl Status {
    /// The numeric status.
    pub const fn as_u16(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::Conflict => 409,
            Self::PreconditionFailed => 412,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::UnprocessableEntity => 422,
            Self::TooManyRequests => 429,
            Self::InternalServerError => 500,
            Self::ServiceUnavailable => 503,
        }
    }

    /// What every problem of this status means, for the docs.
    pub const fn summary(self) -> &'static str {
        match self {
            Self::BadRequest => "The request is malformed",
            Self::Unauthorized => "No valid credentials",
            Self::Forbidden => "The caller sees the record but may not do this",
            Self::NotFound => "Nothing found",
            Self::MethodNotAllowed => "The path does not answer this method",
            Self::RequestTimeout => "The body did not arrive in time",
            Self::Conflict => "The request conflicts with the record's state",
            Self::PreconditionFailed => "A precondition of the request failed",
            Self::PayloadTooLarge => "The body, or what it holds, is larger than the server takes",
            Self::UnsupportedMediaType => "The body's media type is not one the route takes",
            Self::UnprocessableEntity => "Well-formed, but breaks the rules",
            Self::TooManyRequests => "Too many attempts",
            Self::InternalServerError => "The server failed",
            Self::ServiceUnavailable => "The server cannot answer now",
        }
    }
}

/// Declares [`ErrorCode`]: each variant with its wire name, its status and
/// the line that documents it.
macro_rules! error_codes {
    ($($variant:ident = ($wire:literal, $status:ident, $description:literal),)*) => {
        /// A problem the server answers: the `code` of its body.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $(
                #[doc = concat!("`", $wire, "`: ", $description)]
                $variant,
            )*
        }

        impl ErrorCode {
            /// Every code, in the order declared (by status).
            pub const ALL: &[ErrorCode] = &[$(Self::$variant),*];

            /// The stable snake_case `code` clients see.
            pub const fn wire_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)*
                }
            }

            /// The HTTP status it is answered with.
            pub const fn status(self) -> Status {
                match self {
                    $(Self::$variant => Status::$status,)*
                }
            }

            /// What it means, in one line.
            pub const fn description(self) -> &'static str {
                match self {
                    $(Self::$variant => $description,)*
                }
            }
        }
    };
}

error_codes! {
    MalformedJson = ("malformed_json", BadRequest, "the body is not JSON"),
    MalformedCbor = ("malformed_cbor", BadRequest, "the body is not CBOR of a sync request"),
    DuplicateMember = ("duplicate_member", BadRequest, "a JSON object of the body names a member twice"),
    UnreadableBody = ("unreadable_body", BadRequest, "the body could not be read"),
    UnreadableKeyedBody = ("invalid_body", BadRequest, "the body of a request with an `Idempotency-Key` could not be read"),
    InvalidPath = ("invalid_path", BadRequest, "a path parameter is not of its type"),
    InvalidQuery = ("invalid_query", BadRequest, "a query parameter is not of its type or out of its range"),
    InvalidCursor = ("invalid_cursor", BadRequest, "the cursor is not one this server gave out"),
    InvalidAutomerge = ("invalid_automerge", BadRequest, "a push's changes are not Automerge bytes"),
    InvalidIdempotencyKey = ("invalid_idempotency_key", BadRequest, "the `Idempotency-Key` is empty, too long or not visible ASCII"),
    InvalidCsv = ("invalid_csv", BadRequest, "the CSV file does not parse"),
    DuplicateColumn = ("duplicate_column", BadRequest, "the CSV header names a column twice"),
    UnknownColumn = ("unknown_column", BadRequest, "the CSV header names a column the kind does not have"),
    MissingToken = ("missing_token", Unauthorized, "no access token"),
    InvalidToken = ("invalid_token", Unauthorized, "the access token is malformed, forged or expired"),
    SessionRevoked = ("session_revoked", Unauthorized, "the session was ended; log in again"),
    UserInactive = ("user_inactive", Unauthorized, "the user is deactivated"),
    InvalidCredentials = ("invalid_credentials", Unauthorized, "wrong username or password"),
    InvalidRefreshToken = ("invalid_refresh_token", Unauthorized, "the refresh token is unknown or expired"),
    RefreshTokenReused = ("refresh_token_reused", Unauthorized, "the refresh token was used before; its session is ended"),
    CrossSiteRefused = ("cross_site_refused", Forbidden, "a console session request that did not come from the console's own page"),
    RoleForbidden = ("role_forbidden", Forbidden, "the caller's role may not do this"),
    ReadOnlyRole = ("read_only_role", Forbidden, "the caller's role only reads records of this kind"),
    OwnerChangeForbidden = ("owner_change_forbidden", Forbidden, "the caller may not reassign the record"),
    ShareChangeForbidden = ("share_change_forbidden", Forbidden, "the caller may not change whom the account is shared with"),
    TierConfirmationForbidden = ("tier_confirmation_forbidden", Forbidden, "only the account's managers confirm or reject its tier"),
    StageReopenForbidden = ("stage_reopen_forbidden", Forbidden, "only the account's managers move a deal back"),
    ApprovalForbidden = ("approval_forbidden", Forbidden, "only the account's managers approve or reject a plan's resource requests"),
    TargetScopeForbidden = ("target_scope_forbidden", Forbidden, "targets at this place in the org are set by someone above the caller"),
    NotFound = ("not_found", NotFound, "no such record, or none the caller may see (the two are not told apart)"),
    RouteNotFound = ("route_not_found", NotFound, "no route has this path"),
    MethodNotAllowed = ("method_not_allowed", MethodNotAllowed, "the path does not answer this method; `Allow` lists those it does"),
    BodyTimeout = ("body_timeout", RequestTimeout, "the body did not arrive in time"),
    AlreadyExists = ("already_exists", Conflict, "a record with this key exists"),
    HistoryFull = ("history_full", Conflict, "the record has reached its limit of changes"),
    IdempotencyKeyInFlight = ("idempotency_key_in_flight", Conflict, "the first request with this `Idempotency-Key` still runs"),
    LastAdmin = ("last_admin", Conflict, "the change would leave the org without an active admin"),
    AlreadyCheckedIn = ("already_checked_in", Conflict, "the visit is checked in already"),
    NotCheckedIn = ("not_checked_in", Conflict, "the visit is not checked in"),
    AlreadyCheckedOut = ("already_checked_out", Conflict, "the visit is checked out already"),
    VisitClosed = ("visit_closed", Conflict, "the visit is done or cancelled"),
    VisitNotCheckedOut = ("onsite_visit_not_checked", UnprocessableEntity, "an onsite visit is completed by checking in and out on site (setting visits.onsite_completion_requires_check)"),
    AtRiskDecisionForbidden = ("at_risk_decision_forbidden", Forbidden, "only the account's managers confirm or dismiss an at-risk proposal"),
    NoAtRiskProposal = ("no_at_risk_proposal", Conflict, "the account has no at-risk proposal to confirm or dismiss"),
    NoTierProposal = ("no_tier_proposal", Conflict, "the account has no tier proposal to confirm or reject"),
    OpportunityNotWon = ("opportunity_not_won", Conflict, "only a won opportunity becomes a contract"),
    ContractExists = ("contract_exists", Conflict, "the opportunity has a contract already"),
    ContractNumberTaken = ("contract_number_taken", Conflict, "another contract has this number"),
    ProductCodeTaken = ("product_code_taken", Conflict, "another product has this code"),
    ContractClosed = ("contract_closed", Conflict, "the contract is closed; only its notes change"),
    ContractStatusMove = ("invalid_status_move", Conflict, "a contract does not move between these statuses (the other kinds answer this code with 422)"),
    TargetExists = ("target_exists", Conflict, "a target for this scope and period exists"),
    PreconditionFailed = ("precondition_failed", PreconditionFailed, "`If-Match` does not match the record's current ETag"),
    PayloadTooLarge = ("payload_too_large", PayloadTooLarge, "the body is larger than the route takes"),
    TooManyDocuments = ("too_many_documents", PayloadTooLarge, "a sync request pushes more than 1000 documents"),
    TooManyChanges = ("too_many_changes", PayloadTooLarge, "a sync request pushes more than 20,000 changes for one document"),
    TooLargeDecoded = ("too_large_decoded", PayloadTooLarge, "a sync request's pushed bytes decode to more than 64 MiB"),
    UnsupportedMediaType = ("unsupported_media_type", UnsupportedMediaType, "the body's `Content-Type` is not one the route takes"),
    ValidationFailed = ("validation_failed", UnprocessableEntity, "well-formed, but breaks the rules; `violations` names each field with its own code (such as `required`, `invalid_value`, `too_long`, `too_deep`)"),
    InvalidBody = ("invalid_body", UnprocessableEntity, "JSON that does not fit the body's shape: an unknown member, a wrong type, a bad UUID"),
    IdempotencyKeyReused = ("idempotency_key_reused", UnprocessableEntity, "the `Idempotency-Key` was used for another request"),
    InvalidStageMove = ("invalid_stage_move", UnprocessableEntity, "the account or opportunity does not move to this stage"),
    InvalidStatusMove = ("invalid_status_move", UnprocessableEntity, "the record does not move to this status"),
    PlanExists = ("plan_exists", UnprocessableEntity, "the account has an active plan for this period already"),
    TooManyKeyPersons = ("too_many_key_persons", UnprocessableEntity, "the account has as many key persons as it may"),
    DecompositionExceeded = ("decomposition_exceeded", UnprocessableEntity, "the parts of a target would add up to more than the whole"),
    CallbackRequired = ("callback_required", UnprocessableEntity, "a complaint closes only once a callback after it is done"),
    TooManyAttempts = ("too_many_attempts", TooManyRequests, "too many failed logins from this address or for this username; wait `Retry-After` seconds"),
    InternalError = ("internal_error", InternalServerError, "the server failed; the request may be retried"),
    ServerBusy = ("server_busy", ServiceUnavailable, "too many logins at once; wait `Retry-After` seconds"),
    DatabaseUnavailable = ("database_unavailable", ServiceUnavailable, "the database does not answer"),
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire_name())
    }
}

impl From<RejectionCode> for ErrorCode {
    fn from(code: RejectionCode) -> Self {
        match code {
            RejectionCode::MalformedJson => ErrorCode::MalformedJson,
            RejectionCode::MalformedCbor => ErrorCode::MalformedCbor,
            RejectionCode::DuplicateMember => ErrorCode::DuplicateMember,
            RejectionCode::InvalidBody => ErrorCode::InvalidBody,
            RejectionCode::ValidationFailed => ErrorCode::ValidationFailed,
            RejectionCode::InvalidAutomerge => ErrorCode::InvalidAutomerge,
            RejectionCode::InvalidCursor => ErrorCode::InvalidCursor,
            RejectionCode::TooManyChanges => ErrorCode::TooManyChanges,
            RejectionCode::TooLargeDecoded => ErrorCode::TooLargeDecoded,
            RejectionCode::HistoryFull => ErrorCode::HistoryFull,
        }
    }
}
