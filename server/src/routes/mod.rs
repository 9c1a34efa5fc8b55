//! HTTP routes, one module per resource, each with a `configure` function.
//! Handlers are thin: they parse, call the services, and shape responses.

pub mod account_plans;
pub mod accounts;
pub mod admin;
pub mod auth;
pub mod body;
pub mod callbacks;
pub mod console_session;
pub mod contacts;
pub mod contracts;
pub mod csv_io;
pub(crate) mod extractor;
pub mod health;
pub mod opportunities;
pub mod products;
pub mod reports;
pub mod scrape;
pub mod sync;
pub mod targets;
pub mod tickets;
pub mod timeline;
pub mod visits;
pub mod worklist;

use crate::records::Precondition;
use utoipa_actix_web::service_config::ServiceConfig;

/// Mounts every `/api/v1` route.
pub fn configure(config: &mut ServiceConfig) {
    auth::configure(config);
    console_session::configure(config);
    admin::configure(config);
    accounts::configure(config);
    visits::configure(config);
    contacts::configure(config);
    contracts::configure(config);
    products::configure(config);
    targets::configure(config);
    opportunities::configure(config);
    account_plans::configure(config);
    callbacks::configure(config);
    tickets::configure(config);
    timeline::configure(config);
    worklist::configure(config);
    csv_io::configure(config);
    reports::configure(config);
    sync::configure(config);
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
        .insert_header((actix_web::http::header::ETAG, etag(version)))
        .json(body)
}

/// The strong ETag of a record version: the version in quotes.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// The `If-Match` header, if sent as text, as the precondition it sets:
/// `*` is any version, else the versions its ETags (weak or strong) name
/// exactly as [`etag`] writes them; a header naming none admits none.
pub fn if_match(req: &actix_web::HttpRequest) -> Option<Precondition> {
    let text = req
        .headers()
        .get(actix_web::http::header::IF_MATCH)?
        .to_str()
        .ok()?;
    if text.trim() == "*" {
        return Some(Precondition::Any);
    }
    Some(Precondition::OneOf(
        text.split(',')
            .filter_map(|tag| {
                let tag = tag.trim().trim_start_matches("W/");
                let version: i64 = tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()?;
                (etag(version) == tag).then_some(version)
            })
            .collect(),
    ))
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

/// Declares the five REST routes of a synced kind that lives under an
/// account (list, create, read, merge-patch, soft delete) over
/// `records::child`, with their OpenAPI documentation, and a `configure`
/// that mounts them. `$plural` is the collection's path segment.
macro_rules! child_record_routes {
    (
        kind: $kind:ty,
        tag: $tag:tt,
        names: { one: $one:literal, many: $many:literal $(,)? },
        list: $list_path:tt,
        item: $item_path:tt,
        view: $view:ty,
        filter: $filter:ty,
        new: $new:ty,
        patch: $patch:ty,
        docs: {
            list: $list_doc:tt,
            create: $create_doc:tt,
            get: $get_doc:tt,
            update: $update_doc:tt,
            delete: $delete_doc:tt $(,)?
        } $(,)?
    ) => {
        use actix_web::{delete, get, patch, post};
        use $crate::records::page::Page;

        /// Mounts the routes of this kind.
        pub fn configure(config: &mut utoipa_actix_web::service_config::ServiceConfig) {
            config
                .service(list_records)
                .service(create_record)
                .service(get_record)
                .service(patch_record)
                .service(delete_record);
        }

        #[doc = $list_doc]
        #[utoipa::path(
            operation_id = concat!("list", $many),
            tag = $tag,
            params($filter),
            responses(
                (status = 200, body = Page<$view>),
                $crate::error::responses::ListErrors
            ),
            security(("bearer" = []))
        )]
        #[get($list_path)]
        async fn list_records(
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::auth::AuthUser,
            filter: actix_web::web::Query<$filter>,
        ) -> $crate::error::ApiResult<actix_web::HttpResponse> {
            let page =
                $crate::records::child::list::<$kind>(&state, &caller, filter.into_inner()).await?;
            Ok(actix_web::HttpResponse::Ok().json(page))
        }

        #[doc = $create_doc]
        #[utoipa::path(
            operation_id = concat!("create", $one),
            tag = $tag,
            request_body = $new,
            responses(
                (status = 201, body = $view, headers(("ETag" = String), ("Location" = String))),
                $crate::error::responses::WriteErrors
            ),
            security(("bearer" = []))
        )]
        #[post($list_path)]
        async fn create_record(
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::auth::AuthUser,
            body: $crate::routes::body::Json<$crate::routes::JsonObject>,
        ) -> $crate::error::ApiResult<actix_web::HttpResponse> {
            let view =
                $crate::records::child::create::<$kind>(&state, &caller, body.into_inner()).await?;
            let location = format!("/api/v1{}/{}", $list_path, view.id);
            let mut response = $crate::routes::record_response(
                actix_web::http::StatusCode::CREATED,
                view.stamp.version,
                &view,
            );
            response.headers_mut().insert(
                actix_web::http::header::LOCATION,
                actix_web::http::header::HeaderValue::from_str(&location)
                    .map_err($crate::error::ApiError::internal)?,
            );
            Ok(response)
        }

        #[doc = $get_doc]
        #[utoipa::path(
            operation_id = concat!("get", $one),
            tag = $tag,
            params(("id" = uuid::Uuid, Path, description = "Record id")),
            responses(
                (status = 200, body = $view, headers(("ETag" = String))),
                $crate::error::responses::ReadErrors
            ),
            security(("bearer" = []))
        )]
        #[get($item_path)]
        async fn get_record(
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::auth::AuthUser,
            id: actix_web::web::Path<uuid::Uuid>,
        ) -> $crate::error::ApiResult<actix_web::HttpResponse> {
            let view =
                $crate::records::child::get::<$kind>(&state, &caller, id.into_inner()).await?;
            Ok($crate::routes::record_response(
                actix_web::http::StatusCode::OK,
                view.stamp.version,
                &view,
            ))
        }

        #[doc = $update_doc]
        #[utoipa::path(
            operation_id = concat!("patch", $one),
            tag = $tag,
            params(
                ("id" = uuid::Uuid, Path, description = "Record id"),
                ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
            ),
            request_body(content(($patch = "application/merge-patch+json"), ($patch = "application/json"))),
            responses(
                (status = 200, body = $view, headers(("ETag" = String))),
                $crate::error::responses::WriteErrors
            ),
            security(("bearer" = []))
        )]
        #[patch($item_path)]
        async fn patch_record(
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::auth::AuthUser,
            id: actix_web::web::Path<uuid::Uuid>,
            req: actix_web::HttpRequest,
            body: $crate::routes::body::Json<$crate::routes::JsonObject>,
        ) -> $crate::error::ApiResult<actix_web::HttpResponse> {
            let view = $crate::records::child::update::<$kind>(
                &state,
                &caller,
                id.into_inner(),
                body.into_inner(),
                $crate::routes::if_match(&req).as_ref(),
            )
            .await?;
            Ok($crate::routes::record_response(
                actix_web::http::StatusCode::OK,
                view.stamp.version,
                &view,
            ))
        }

        #[doc = $delete_doc]
        #[utoipa::path(
            operation_id = concat!("delete", $one),
            tag = $tag,
            params(
                ("id" = uuid::Uuid, Path, description = "Record id"),
                ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
            ),
            responses(
                (status = 204, description = "Deleted"),
                $crate::error::responses::WriteErrors
            ),
            security(("bearer" = []))
        )]
        #[delete($item_path)]
        async fn delete_record(
            state: actix_web::web::Data<$crate::state::AppState>,
            caller: $crate::auth::AuthUser,
            id: actix_web::web::Path<uuid::Uuid>,
            req: actix_web::HttpRequest,
        ) -> $crate::error::ApiResult<actix_web::HttpResponse> {
            $crate::records::child::delete::<$kind>(
                &state,
                &caller,
                id.into_inner(),
                $crate::routes::if_match(&req).as_ref(),
            )
            .await?;
            Ok(actix_web::HttpResponse::NoContent().finish())
        }
    };
}
pub(crate) use child_record_routes;

#[cfg(test)]
mod tests {
    use super::{Precondition, etag, if_match};
    use actix_web::http::header::IF_MATCH;
    use actix_web::test::TestRequest;

    fn precondition(header: &str) -> Option<Precondition> {
        if_match(
            &TestRequest::default()
                .insert_header((IF_MATCH, header))
                .to_http_request(),
        )
    }

    #[test]
    fn if_match_reads_a_star_and_lists_of_strong_and_weak_etags() {
        assert_eq!(if_match(&TestRequest::default().to_http_request()), None);
        assert_eq!(precondition(" * "), Some(Precondition::Any));
        assert_eq!(precondition(&etag(7)), Some(Precondition::OneOf(vec![7])));
        assert_eq!(
            precondition("W/\"3\", \"12\""),
            Some(Precondition::OneOf(vec![3, 12]))
        );
    }

    #[test]
    fn if_match_admits_no_version_an_etag_does_not_name_exactly() {
        for header in ["\"007\"", "\"+7\"", "7", "\"seven\"", "\"\"", ""] {
            assert_eq!(
                precondition(header),
                Some(Precondition::OneOf(Vec::new())),
                "{header}"
            );
        }
    }
}
