//! The OpenAPI document's frame: title, security scheme, tags, servers.
//! Paths and schemas come from the `#[utoipa::path]` handlers as they are
//! mounted; the functions here finish what utoipa leaves for a third party's
//! generator and linter (one-line summaries, described responses, public
//! routes marked public, camelCase operation ids, named list items).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "KAM Sync API",
        description = "Offline-first key-account management: accounts, visits and the people around them, \
                       merged conflict-free from field devices. Every error is an RFC 9457 \
                       `application/problem+json` body with a stable `code`.",
        contact(name = "KAM Sync maintainers"),
    ),
    servers((url = "/", description = "The server that serves this document")),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Login, token refresh, logout"),
        (name = "admin", description = "Branches, teams, users and their devices"),
        (name = "accounts", description = "Key accounts"),
        (name = "visits", description = "Visits to accounts"),
        (name = "contacts", description = "Key persons at accounts (关键人) and the account's org chart"),
        (name = "opportunities", description = "Sales opportunities, their stages and the pipeline"),
        (name = "account_plans", description = "Account plans per period: goals, actions and resource requests"),
        (name = "tickets", description = "Service tickets and complaints, with their SLA"),
        (name = "callbacks", description = "Satisfaction callbacks after service and visits"),
        (name = "contracts", description = "Contracts under accounts; edited online, terminated rather than deleted"),
        (name = "products", description = "The product catalogue that line items of opportunities and contracts name"),
        (name = "targets", description = "Sales targets per period and org level, their decomposition and progress"),
        (name = "reports", description = "Sales analysis per branch, team or rep: sales against targets, pipeline, funnel, service, accounts"),
        (name = "import", description = "Records in and out as CSV"),
        (name = "worklist", description = "What the caller should do next, most urgent first (see docs/worklist.md)"),
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
        components.add_security_scheme(
            "console_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                "kam_console_refresh",
                "The console's refresh token, set by POST /api/v1/auth/console/login \
                 (HttpOnly; the page never reads it; see docs/console.md)",
            ))),
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

/// Finishes every operation for the generators and linters third parties
/// run on the document: a one-line summary with the whole prose in the
/// description, a description on every response, `security: []` on the
/// routes that need no token, and operation ids in camelCase.
pub fn finish_operations(document: &mut utoipa::openapi::OpenApi) {
    let described = schema_descriptions(document);
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            split_summary(operation);
            if operation.security.is_none() {
                operation.security = Some(Vec::new());
            }
            if let Some(id) = operation.operation_id.as_mut() {
                *id = camel_case(id);
            }
            for (status, response) in &mut operation.responses.responses {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = response_description(status, response, &described);
                }
            }
        }
    }
}

/// utoipa takes a handler's first paragraph as the summary: the summary
/// becomes its first sentence, and the description the whole text.
fn split_summary(operation: &mut utoipa::openapi::path::Operation) {
    let Some(paragraph) = operation.summary.take() else {
        return;
    };
    let paragraph = paragraph.trim().to_owned();
    operation.summary = Some(first_sentence(&paragraph));
    operation.description = Some(match operation.description.take() {
        Some(rest) if !rest.trim().is_empty() => format!("{paragraph}\n\n{}", rest.trim()),
        _ => paragraph,
    });
}

/// A short line from the head of `text`: up to its first full stop, colon,
/// semicolon or parenthesis, on one line.
fn first_sentence(text: &str) -> String {
    let end = [". ", ": ", "; ", " ("]
        .iter()
        .flat_map(|stop| text.match_indices(stop).map(|(at, _)| at))
        .filter(|&at| !ABBREVIATIONS.iter().any(|a| text[..at].ends_with(a)))
        .min()
        .unwrap_or(text.len());
    text[..end]
        .trim_end_matches('.')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Abbreviations whose full stop ends no sentence.
const ABBREVIATIONS: [&str; 3] = ["e.g", "i.e", "etc"];

/// `list_accounts` as `listAccounts`; an id already in camelCase stays.
fn camel_case(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    let mut upper = false;
    for c in id.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Each component schema's own description, by name.
fn schema_descriptions(
    document: &utoipa::openapi::OpenApi,
) -> std::collections::BTreeMap<String, String> {
    let Some(components) = document.components.as_ref() else {
        return Default::default();
    };
    components
        .schemas
        .iter()
        .filter_map(|(name, schema)| {
            let description = match schema {
                RefOr::T(Schema::Object(object)) => object.description.clone(),
                RefOr::T(Schema::AllOf(all)) => all.description.clone(),
                _ => None,
            }?;
            Some((name.clone(), description))
        })
        .collect()
}

/// A success's description: what it means, and the schema's own words.
fn response_description(
    status: &str,
    response: &utoipa::openapi::Response,
    described: &std::collections::BTreeMap<String, String>,
) -> String {
    let meaning = match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        _ => "Answered",
    };
    let schema = response.content.values().find_map(|content| match content {
        RefOr::T(utoipa::openapi::Content {
            schema: Some(RefOr::Ref(reference)),
            ..
        }) => reference
            .ref_location
            .strip_prefix("#/components/schemas/")
            .map(str::to_owned),
        _ => None,
    });
    let told = schema.and_then(|name| match name.strip_prefix("Page_") {
        Some(item) => Some(format!(
            "one page of `{item}` items, with the cursor of the next"
        )),
        None => described.get(&name).map(|d| first_sentence(d)),
    });
    match told {
        Some(told) => format!("{meaning}: {}", lowercase_first(&told)),
        None => meaning.to_owned(),
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if !chars.clone().next().is_some_and(char::is_uppercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text.to_owned(),
    }
}

/// A list page's `items` name their schema (`Page_TicketView` lists
/// `TicketView`s) instead of copying it: utoipa inlines a generic's
/// argument, which gives generators an anonymous type per list.
pub fn name_page_items(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::ArrayItems;
    let Some(components) = document.components.as_mut() else {
        return;
    };
    let pages: Vec<String> = components
        .schemas
        .keys()
        .filter(|name| {
            name.strip_prefix("Page_")
                .is_some_and(|item| components.schemas.contains_key(item))
        })
        .cloned()
        .collect();
    for page in pages {
        let item = page["Page_".len()..].to_owned();
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&page)
            && let Some(RefOr::T(Schema::Array(array))) = object.properties.get_mut("items")
        {
            array.items = ArrayItems::RefOrSchema(Box::new(RefOr::Ref(
                utoipa::openapi::Ref::from_schema_name(item),
            )));
        }
    }
}

/// Fields a record leaves out when they are empty although they are never
/// null (`skip_serializing_if` on a field that is not an `Option`).
const OMITTED_WHEN_EMPTY: [(&str, &str); 2] =
    [("Account", "risk_reasons"), ("Account", "won_back_count")];

/// Marks as required, in what the server answers, every field it always
/// sends. utoipa requires only what a reader of the type must find, so a
/// field with a default (an opportunity's `stage`, an account's `tags`) reads
/// as optional and every typed client needs guards. The record schemas
/// (`Ticket`, ...) appear only inside their views; request bodies copy them
/// before this runs. A record's field that is never null is always sent
/// (but for [`OMITTED_WHEN_EMPTY`]); a view's own fields are all sent, as
/// `null` when empty; a plain view object sends its fields that are never
/// null. Schemathesis checks every answer against these lists.
pub fn require_what_is_always_sent(document: &mut utoipa::openapi::OpenApi) {
    let Some(components) = document.components.as_mut() else {
        return;
    };
    let mut records = Vec::new();
    for (name, schema) in &mut components.schemas {
        if !name.ends_with("View") || name.starts_with("Page_") {
            continue;
        }
        match schema {
            RefOr::T(Schema::AllOf(all)) => {
                for part in &mut all.items {
                    match part {
                        RefOr::Ref(reference) => records.extend(
                            reference
                                .ref_location
                                .strip_prefix("#/components/schemas/")
                                .map(str::to_owned),
                        ),
                        RefOr::T(Schema::Object(object)) => {
                            let all_fields: Vec<String> =
                                object.properties.keys().cloned().collect();
                            require(object, all_fields);
                        }
                        _ => {}
                    }
                }
            }
            RefOr::T(Schema::Object(object)) => require(object, never_null(object, name)),
            _ => {}
        }
    }
    for record in records {
        if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(&record) {
            let sent = never_null(object, &record);
            require(object, sent);
        }
    }
}

/// The properties of `object` that are never null, but for those
/// [`OMITTED_WHEN_EMPTY`].
fn never_null(object: &utoipa::openapi::schema::Object, name: &str) -> Vec<String> {
    object
        .properties
        .iter()
        .filter(|(field, _)| !OMITTED_WHEN_EMPTY.contains(&(name, field.as_str())))
        .filter(|(_, property)| !is_nullable(property))
        .map(|(field, _)| field.clone())
        .collect()
}

fn is_nullable(property: &RefOr<Schema>) -> bool {
    let Ok(json) = serde_json::to_value(property) else {
        return false;
    };
    let null = serde_json::Value::from("null");
    let typed_null = |schema: &serde_json::Value| match schema.get("type") {
        Some(serde_json::Value::Array(types)) => types.contains(&null),
        Some(single) => *single == null,
        None => false,
    };
    typed_null(&json)
        || ["oneOf", "anyOf"].iter().any(|key| {
            json.get(key)
                .and_then(serde_json::Value::as_array)
                .is_some_and(|options| options.iter().any(typed_null))
        })
}

fn require(object: &mut utoipa::openapi::schema::Object, fields: Vec<String>) {
    for field in fields {
        if !object.required.contains(&field) {
            object.required.push(field);
        }
    }
    object.required.sort();
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
                    || path.ends_with("/auth/refresh")
                    || path.ends_with("/auth/console/login");
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

    #[test]
    fn operations_are_named_summarized_described_and_tagged_for_generators() {
        let document = crate::startup::openapi_document();
        let declared: Vec<&str> = document
            .tags
            .iter()
            .flatten()
            .map(|tag| tag.name.as_str())
            .collect();
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in &document.paths.paths {
            for operation in [&item.get, &item.post, &item.put, &item.patch, &item.delete]
                .into_iter()
                .flatten()
            {
                let id = operation.operation_id.clone().unwrap_or_default();
                assert!(
                    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                        && id.chars().all(|c| c.is_ascii_alphanumeric()),
                    "{path}: operation id {id:?} is not camelCase"
                );
                assert!(ids.insert(id.clone()), "operation id {id} is used twice");
                let summary = operation.summary.as_deref().unwrap_or_default();
                assert!(
                    !summary.is_empty() && summary.len() <= 160 && !summary.contains('\n'),
                    "{id}: the summary is not one short line: {summary:?}"
                );
                assert!(operation.description.is_some(), "{id} has no description");
                for tag in operation.tags.iter().flatten() {
                    assert!(
                        declared.contains(&tag.as_str()),
                        "{id}: tag {tag} is not declared"
                    );
                }
                assert!(
                    operation.security.is_some(),
                    "{id} says nothing of security"
                );
                for (status, response) in &operation.responses.responses {
                    if let utoipa::openapi::RefOr::T(response) = response {
                        assert!(
                            !response.description.is_empty(),
                            "{id}: {status} is not described"
                        );
                    }
                }
            }
        }
    }
}
