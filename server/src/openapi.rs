//! The OpenAPI document's frame: title, security scheme, tags. Paths and
//! schemas come from the `#[utoipa::path]` handlers as they are mounted.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "KAM Sync API",
        description = "Offline-first key-account management: accounts, visits and the people around them, \
                       merged conflict-free from field devices. Every error is an RFC 9457 \
                       `application/problem+json` body with a stable `code`.",
    ),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Login, token refresh, logout"),
        (name = "admin", description = "Branches, teams, users and their devices"),
        (name = "accounts", description = "Key accounts"),
        (name = "visits", description = "Visits to accounts"),
        (name = "contracts", description = "Contracts under accounts; edited online, terminated rather than deleted"),
        (name = "targets", description = "Sales targets per period and org level, their decomposition and progress"),
        (name = "import", description = "Records in and out as CSV"),
        (name = "sync", description = "Offline-first sync of record documents (see docs/sync-protocol.md)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Access token from POST /api/v1/auth/login"))
                    .build(),
            ),
        );
    }
}

/// The frame every route is added to.
pub fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Lets the schemas flattened into others (`allOf`: `Account` into
/// `AccountView`) accept other properties. utoipa closes a
/// `deny_unknown_fields` type with `additionalProperties: false`, which in an
/// `allOf` rejects every field the view adds: each view answered would break
/// its own schema. The request bodies copy the record's schema and stay closed.
pub fn open_flattened_schemas(document: &mut utoipa::openapi::OpenApi) {
    fn flattened(value: &serde_json::Value, names: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Array(parts)) = map.get("allOf") {
                    names.extend(parts.iter().filter_map(|part| {
                        part.get("$ref")?
                            .as_str()?
                            .strip_prefix("#/components/schemas/")
                            .map(str::to_owned)
                    }));
                }
                map.values().for_each(|v| flattened(v, names));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| flattened(v, names)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    if let Ok(json) = serde_json::to_value(&*document) {
        flattened(&json, &mut names);
    }
    let Some(components) = document.components.as_mut() else {
        return;
    };
    for name in names {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&name) {
            object.additional_properties = None;
        }
    }
}

/// Documents the `Idempotency-Key` header on every `POST` that honours it
/// (see [`crate::idempotency`]).
pub fn document_idempotency_keys(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{ObjectBuilder, Required, Type};
    for (path, item) in document.paths.paths.iter_mut() {
        let Some(operation) = item.post.as_mut() else {
            continue;
        };
        if !crate::idempotency::is_keyed(path) {
            continue;
        }
        let header = ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "Makes the request safe to repeat: a repeat with the same key answers what the \
                 first answered (marked `Idempotent-Replayed: true`) and has no further effect. \
                 Keys are per user and kept 24 hours; a key reused for another request is a 422 \
                 `idempotency_key_reused`, one whose first request still runs a 409 \
                 `idempotency_key_in_flight`.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(crate::idempotency::MAX_KEY_LEN))
                    .pattern(Some("^[!-~]+$")),
            ))
            .build();
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(header));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    /// The committed document, regenerated with
    /// `cargo run -p kam-server -- openapi > openapi/openapi.json`
    /// (or by running this test with `KAM_UPDATE_OPENAPI=1`).
    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/openapi.json")
    }

    #[test]
    fn committed_openapi_document_matches_the_code() {
        let generated = crate::startup::openapi_document()
            .to_pretty_json()
            .unwrap_or_else(|err| panic!("cannot render the OpenAPI document: {err}"));
        let path = committed_path();
        if std::env::var_os("KAM_UPDATE_OPENAPI").is_some() {
            std::fs::write(&path, format!("{generated}\n")).unwrap_or_else(|err| panic!("{err}"));
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed.trim_end() == generated.trim_end(),
            "openapi/openapi.json is stale: run `cargo run -p kam-server -- openapi > openapi/openapi.json` and commit it"
        );
    }

    #[test]
    fn every_operation_documents_its_errors() {
        let document = crate::startup::openapi_document();
        for (path, item) in &document.paths.paths {
            for (method, operation) in [
                ("get", &item.get),
                ("post", &item.post),
                ("put", &item.put),
                ("patch", &item.patch),
                ("delete", &item.delete),
            ] {
                let Some(operation) = operation else { continue };
                let statuses: Vec<&String> = operation.responses.responses.keys().collect();
                let has_error = statuses
                    .iter()
                    .any(|s| s.starts_with('4') || s.starts_with('5'));
                let liveness = path == "/healthz";
                assert!(
                    has_error || liveness,
                    "{method} {path} documents no error responses: {statuses:?}"
                );
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let public = path.starts_with("/healthz")
                    || path.starts_with("/readyz")
                    || path.ends_with("/auth/login")
                    || path.ends_with("/auth/refresh");
                assert!(secured || public, "{method} {path} declares no security");
                if secured {
                    assert!(
                        statuses.iter().any(|s| *s == "401"),
                        "{method} {path} does not document 401"
                    );
                }
            }
        }
    }
}
