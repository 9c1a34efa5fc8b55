//! `/products`: the product catalogue (产品目录). Every signed-in user reads
//! it (a phone prices line items offline from it); admins add and change
//! products. There is no `DELETE`: a product is deactivated, and the lines
//! that name it keep it.

use super::{JsonObject, if_match, merge_patch_schema, record_response};
use crate::auth::AuthUser;
use crate::error::responses::{ListErrors, ReadErrors, WriteErrors};
use crate::error::{ApiError, ApiResult};
use crate::records::page::Page;
use crate::records::products::{self, NewProduct, ProductFields, ProductFilter, ProductView};
use crate::routes::body::Json;
use crate::state::AppState;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

merge_patch_schema!(
    /// A merge patch of a product.
    ProductPatch for ProductFields
);

/// Mounts the product routes.
pub fn configure(config: &mut ServiceConfig) {
    config
        .service(list_products)
        .service(create_product)
        .service(get_product)
        .service(patch_product);
}

/// List the catalogue, newest first; any signed-in user.
#[utoipa::path(
    tag = "products",
    params(ProductFilter),
    responses((status = 200, body = Page<ProductView>), ListErrors),
    security(("bearer" = []))
)]
#[get("/products")]
async fn list_products(
    state: web::Data<AppState>,
    _caller: AuthUser,
    filter: web::Query<ProductFilter>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(products::list(&state, filter.into_inner()).await?))
}

/// Add a product (admins). A code another product has is a 409
/// `product_code_taken`.
#[utoipa::path(
    tag = "products",
    request_body = NewProduct,
    responses(
        (status = 201, body = ProductView, headers(("ETag" = String), ("Location" = String))),
        WriteErrors
    ),
    security(("bearer" = []))
)]
#[post("/products")]
async fn create_product(
    state: web::Data<AppState>,
    caller: AuthUser,
    body: Json<NewProduct>,
) -> ApiResult<HttpResponse> {
    let view = products::create(&state, &caller, body.into_inner()).await?;
    let mut response = record_response(StatusCode::CREATED, view.version, &view);
    response.headers_mut().insert(
        header::LOCATION,
        header::HeaderValue::from_str(&format!("/api/v1/products/{}", view.id))
            .map_err(ApiError::internal)?,
    );
    Ok(response)
}

/// Read a product; any signed-in user.
#[utoipa::path(
    tag = "products",
    params(("id" = Uuid, Path, description = "Product id")),
    responses((status = 200, body = ProductView, headers(("ETag" = String))), ReadErrors),
    security(("bearer" = []))
)]
#[get("/products/{id}")]
async fn get_product(
    state: web::Data<AppState>,
    _caller: AuthUser,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let view = products::get(&state, id.into_inner()).await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}

/// Change a product with a JSON merge patch (admins). Setting `active` to
/// false stops new lines from naming it; lines that have it keep it.
#[utoipa::path(
    tag = "products",
    params(
        ("id" = Uuid, Path, description = "Product id"),
        ("If-Match" = Option<String>, Header, description = "Apply only if the ETag still matches"),
    ),
    request_body(content((ProductPatch = "application/merge-patch+json"), (ProductPatch = "application/json"))),
    responses((status = 200, body = ProductView, headers(("ETag" = String))), WriteErrors),
    security(("bearer" = []))
)]
#[patch("/products/{id}")]
async fn patch_product(
    state: web::Data<AppState>,
    caller: AuthUser,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: Json<JsonObject>,
) -> ApiResult<HttpResponse> {
    let view = products::update(
        &state,
        &caller,
        id.into_inner(),
        body.into_inner(),
        if_match(&req).as_ref(),
    )
    .await?;
    Ok(record_response(StatusCode::OK, view.version, &view))
}
