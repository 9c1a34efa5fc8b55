//! The OpenAPI document's frame: title, security scheme, tags. Paths and
//! schemas come from the `#[utoipa::path]` handlers as they are mounted.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
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
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Login, token refresh, logout"),
        (name = "admin", description = "Branches, teams, users and their devices"),
        (name = "accounts", description = "Key accounts"),
        (name = "visits", description = "Visits to accounts"),
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
