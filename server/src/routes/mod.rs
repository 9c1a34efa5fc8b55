//! HTTP routes, one module per resource, each with a `configure` function.
//! Handlers are thin: they parse, call the services, and shape responses.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod csv_io;
pub mod health;
pub mod sync;
pub mod timeline;
pub mod visits;

use crate::error::ApiError;
use actix_web::error::JsonPayloadError;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every `/api/v1` route.
pub fn configure(config: &mut ServiceConfig) {
    auth::configure(config);
    admin::configure(config);
    accounts::configure(config);
    visits::configure(config);
    timeline::configure(config);
    csv_io::configure(config);
    sync::configure(config);
}

/// Maps a JSON body that could not be read to its problem.
pub fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => ApiError::new(
            actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send Content-Type: application/json",
        ),
        JsonPayloadError::Deserialize(err) if err.is_data() => ApiError::new(
            actix_web::http::StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
            err.to_string(),
        ),
        JsonPayloadError::Deserialize(err) => {
            ApiError::bad_request("malformed_json", err.to_string())
        }
        other => ApiError::bad_request("unreadable_body", other.to_string()),
    }
}

/// A JSON object body, taken as is (merge patches, records with defaults to fill).
pub type JsonObject = serde_json::Map<String, serde_json::Value>;

/// A record response with its ETag.
pub fn record_response(
    status: actix_web::http::StatusCode,
    version: i64,
    body: &impl serde::Serialize,
) -> actix_web::HttpResponse {
    actix_web::HttpResponse::build(status)
        .insert_header((actix_web::http::header::ETAG, crate::records::etag(version)))
        .json(body)
}

/// The `If-Match` header, if sent as text.
pub fn if_match(req: &actix_web::HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Declares a merge-patch schema for a record type: the record's schema with
/// every field optional (`null` clears a field).
macro_rules! merge_patch_schema {
    ($(#[$meta:meta])* $name:ident for $record:ty) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let mut schema = <$record as utoipa::PartialSchema>::schema();
                if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = &mut schema {
                    object.required.clear();
                    object.description = Some(format!(
                        "A JSON merge patch (RFC 7396) of {}: send only the fields to change; null clears a field.",
                        stringify!($record)
                    ));
                }
                schema
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                <$record as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use merge_patch_schema;

/// Declares the schema of a new record's body: the record's schema plus an
/// optional client-chosen `id`, with the fields the server fills in optional.
macro_rules! new_record_schema {
    ($(#[$meta:meta])* $name:ident for $record:ty, defaulted: [$($field:literal),*]) => {
        $(#[$meta])*
        pub struct $name;

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let mut schema = <$record as utoipa::PartialSchema>::schema();
                if let utoipa::openapi::RefOr::T(utoipa::openapi::schema::Schema::Object(object)) = &mut schema {
                    let defaulted: &[&str] = &[$($field),*];
                    object.required.retain(|field| !defaulted.contains(&field.as_str()));
                    object.properties.insert(
                        "id".to_owned(),
                        utoipa::openapi::ObjectBuilder::new()
                            .schema_type(utoipa::openapi::schema::Type::String)
                            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                                utoipa::openapi::KnownFormat::Uuid,
                            )))
                            .description(Some("Optional client-chosen id (UUIDv7 recommended)"))
                            .into(),
                    );
                }
                schema
            }
        }

        impl utoipa::ToSchema for $name {
            fn schemas(
                schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
            ) {
                <$record as utoipa::ToSchema>::schemas(schemas);
            }
        }
    };
}
pub(crate) use new_record_schema;
