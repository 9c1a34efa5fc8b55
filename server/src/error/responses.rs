//! OpenAPI response sets: the problems a kind of route can answer, each set
//! named by its [`ErrorCode`]s. A status's description lists its codes with
//! their meaning, so the document says what [`ErrorCode`] says.

use super::{ErrorCode, PROBLEM_JSON, Problem};
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use ErrorCode::*;

/// The responses of `groups`' codes: one per status, its description the
/// status's summary and a list of its codes.
fn problems(groups: &[&[ErrorCode]]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in groups.iter().copied().flatten() {
        let codes = by_status.entry(code.status().as_u16()).or_default();
        if !codes.contains(code) {
            codes.push(*code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build();
            let response = ResponseBuilder::new()
                .description(describe(&codes))
                .content(PROBLEM_JSON, content)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// `codes` (all of one status) as a description: the status's summary, then
/// one line per code.
fn describe(codes: &[ErrorCode]) -> String {
    let summary = codes.first().map_or("", |code| code.status().summary());
    let lines: Vec<String> = codes
        .iter()
        .map(|code| format!("- `{code}`: {}", code.description()))
        .collect();
    format!("{summary}:\n\n{}", lines.join("\n"))
}

/// Malformed requests any route can answer.
const MALFORMED: &[ErrorCode] = &[MalformedJson, DuplicateMember, InvalidPath, InvalidQuery];
/// Malformed bodies of the routes that write.
const MALFORMED_WRITE: &[ErrorCode] = &[
    UnreadableBody,
    UnreadableKeyedBody,
    InvalidIdempotencyKey,
    InvalidCsv,
    DuplicateColumn,
    UnknownColumn,
];
/// A missing, bad or ended access token.
const TOKEN: &[ErrorCode] = &[MissingToken, InvalidToken, SessionRevoked, UserInactive];
/// Refusals by role alone.
const ROLE: &[ErrorCode] = &[RoleForbidden, ReadOnlyRole];
/// Refusals of one change by the caller's place.
const CHANGE_FORBIDDEN: &[ErrorCode] = &[
    OwnerChangeForbidden,
    ShareChangeForbidden,
    TierConfirmationForbidden,
    StageReopenForbidden,
    ApprovalForbidden,
    TargetScopeForbidden,
];
/// Nothing the caller may see.
const MISSING: &[ErrorCode] = &[NotFound];
/// A change that conflicts with the record's state.
const CONFLICTS: &[ErrorCode] = &[
    AlreadyExists,
    HistoryFull,
    IdempotencyKeyInFlight,
    LastAdmin,
    AlreadyCheckedIn,
    NotCheckedIn,
    AlreadyCheckedOut,
    VisitClosed,
    NoTierProposal,
    OpportunityNotWon,
    ContractExists,
    ContractNumberTaken,
    ProductCodeTaken,
    ContractClosed,
    ContractStatusMove,
    TargetExists,
];
/// A body too large, or not JSON.
const BODY: &[ErrorCode] = &[PayloadTooLarge, UnsupportedMediaType];
/// A body that does not fit its shape or breaks the rules.
const INVALID: &[ErrorCode] = &[ValidationFailed, InvalidBody];
/// A change the record's rules refuse whole.
const RULES: &[ErrorCode] = &[
    IdempotencyKeyReused,
    InvalidStageMove,
    InvalidStatusMove,
    PlanExists,
    TooManyKeyPersons,
    DecompositionExceeded,
    CallbackRequired,
];
/// The server failed.
const FAILED: &[ErrorCode] = &[InternalError];

/// Problems of routes that read records.
pub struct ReadErrors;

impl IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[MALFORMED, TOKEN, MISSING, FAILED])
    }
}

/// Problems of routes that read records some roles may not read at all.
pub struct RoleReadErrors;

impl IntoResponses for RoleReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[MALFORMED, TOKEN, &[RoleForbidden], MISSING, FAILED])
    }
}

/// Problems of routes that list records.
pub struct ListErrors;

impl IntoResponses for ListErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[MALFORMED, &[InvalidCursor], TOKEN, ROLE, FAILED])
    }
}

/// Problems of the report routes: a bad period or currency is a 422
/// `validation_failed` naming the parameter.
pub struct ReportErrors;

impl IntoResponses for ReportErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            MALFORMED,
            TOKEN,
            &[RoleForbidden],
            &[ValidationFailed],
            FAILED,
        ])
    }
}

/// Problems of the worklist: a list with no cursor, where a caller may
/// ask for someone they may not look at.
pub struct WorklistErrors;

impl IntoResponses for WorklistErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[MALFORMED, TOKEN, &[RoleForbidden], FAILED])
    }
}

/// Problems of recording a look at the worklist: a body it can do without,
/// but JSON of its shape when sent, and the `Idempotency-Key` of a `POST`.
pub struct LookErrors;

impl IntoResponses for LookErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            MALFORMED,
            &[UnreadableBody, InvalidIdempotencyKey],
            TOKEN,
            &[IdempotencyKeyInFlight],
            BODY,
            &[InvalidBody, IdempotencyKeyReused],
            FAILED,
        ])
    }
}

/// Problems of routes that create or change records.
pub struct WriteErrors;

impl IntoResponses for WriteErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            MALFORMED,
            MALFORMED_WRITE,
            TOKEN,
            ROLE,
            CHANGE_FORBIDDEN,
            MISSING,
            CONFLICTS,
            &[PreconditionFailed],
            BODY,
            INVALID,
            RULES,
            FAILED,
        ])
    }
}

/// Problems of the sync endpoint (docs/sync-protocol.md, "Errors", tells a
/// client what to do about each).
pub struct SyncErrors;

impl IntoResponses for SyncErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[
            &[
                MalformedJson,
                MalformedCbor,
                UnreadableBody,
                DuplicateMember,
                InvalidCursor,
                InvalidAutomerge,
            ],
            TOKEN,
            &[
                PayloadTooLarge,
                TooManyDocuments,
                TooManyChanges,
                TooLargeDecoded,
                UnsupportedMediaType,
            ],
            INVALID,
            FAILED,
        ])
    }
}

/// The problems of logging in and refreshing.
const CREDENTIAL: &[&[ErrorCode]] = &[
    MALFORMED,
    &[
        InvalidCredentials,
        InvalidRefreshToken,
        RefreshTokenReused,
        SessionRevoked,
        UserInactive,
    ],
    BODY,
    INVALID,
    &[TooManyAttempts],
    FAILED,
    &[ServerBusy],
];

/// Problems of the login and refresh routes (no access token needed).
pub struct CredentialErrors;

impl IntoResponses for CredentialErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(CREDENTIAL)
    }
}

/// Problems of the console's session routes: the credential problems, and
/// a request from another site's page.
pub struct ConsoleSessionErrors;

impl IntoResponses for ConsoleSessionErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[CREDENTIAL, &[&[CrossSiteRefused]]].concat())
    }
}

/// Problems of the console's logout: a token's problems, and a request
/// from another site's page.
pub struct ConsoleLogoutErrors;

impl IntoResponses for ConsoleLogoutErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[MALFORMED, TOKEN, &[CrossSiteRefused], FAILED])
    }
}

/// Problems of the readiness probe.
pub struct ReadinessErrors;

impl IntoResponses for ReadinessErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problems(&[&[DatabaseUnavailable]])
    }
}
