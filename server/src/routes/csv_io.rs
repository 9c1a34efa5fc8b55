//! `/import/{kind}` and `/export/{kind}`: records in and out as CSV, scoped
//! and checked as the REST writes are (see [`crate::csv_io`]).

use super::body::read_body;
use super::sync::media_type;
use crate::auth::AuthUser;
use crate::csv_io::{CsvKindName, ImportReport};
use crate::error::responses::{ListErrors, WriteErrors};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

/// The CSV media type.
pub const CSV: &str = "text/csv";

/// Mounts the import and export routes.
pub fn configure(config: &mut ServiceConfig) {
    config.service(import_csv).service(export_csv);
}

/// Options of an import.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportOptions {
    /// Check every row and report, but write nothing (default false).
    pub dry_run: Option<bool>,
}

/// Import records from CSV (UTF-8, with or without a BOM; the header row
/// names the columns). A row whose `id` names an existing record changes it
/// as a merge patch would; other rows create records. Valid rows are
/// imported, invalid ones reported with every fault's line, column and
/// code (lines counted alike for `\n` and `\r\n` line ends). The
/// same rules apply as to the REST writes: a rep imports accounts they own.
#[utoipa::path(
    tag = "import",
    params(("kind" = inline(CsvKindName), Path, description = "What the file holds (`key_persons`, the deprecated name of `contacts`, is still accepted)"), ImportOptions),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportReport), WriteErrors),
    security(("bearer" = []))
)]
#[post("/import/{kind}")]
async fn import_csv(
    state: web::Data<AppState>,
    caller: AuthUser,
    kind: web::Path<CsvKindName>,
    options: web::Query<ImportOptions>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    if media_type(&req, header::CONTENT_TYPE).as_deref() != Some(CSV) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send Content-Type: text/csv",
        ));
    }
    let body = read_body(
        &req,
        payload.into_inner(),
        state.settings.server.max_body_bytes,
        "split the file, or use the `kam-server import` command",
    )
    .await?;
    let meta = state.change_meta(&caller);
    let report = kind
        .into_inner()
        .import(
            &state,
            &caller,
            &meta,
            &body,
            options.dry_run.unwrap_or(false),
            &|_, _| {},
        )
        .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// Export the records of a kind in the caller's scope as CSV (UTF-8, a
/// header row, then one record a row in id order; soft-deleted records
/// left out). The file imports back as it is.
#[utoipa::path(
    tag = "import",
    params(("kind" = inline(CsvKindName), Path, description = "What to export (`key_persons`, the deprecated name of `contacts`, is still accepted)")),
    responses((status = 200, content_type = "text/csv", body = String), ListErrors),
    security(("bearer" = []))
)]
#[get("/export/{kind}")]
async fn export_csv(
    state: web::Data<AppState>,
    caller: AuthUser,
    kind: web::Path<CsvKindName>,
) -> ApiResult<HttpResponse> {
    let kind = kind.into_inner();
    let mut body = Vec::new();
    kind.export(&state, Some(&caller), &mut body).await?;
    Ok(csv_attachment(kind.plural(), body))
}

/// A 200 answering `body` as the UTF-8 CSV file `name`.csv to save.
pub fn csv_attachment(name: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(format!("{CSV}; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .body(body)
}
