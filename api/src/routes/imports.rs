//! `POST /v1/imports/companies` and `POST /v1/imports/contacts`: a CSV body in, the import
//! report out.

use actix_web::{web, HttpRequest, HttpResponse};
use crm_domain::{Action, EventMetadata};
use uuid::Uuid;

use crate::auth::CommandContext;
use crate::error::ApiError;
use crate::import;
use crate::state::AppState;

fn check_csv(req: &HttpRequest) -> Result<(), ApiError> {
    let mime = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    match mime.as_deref() {
        Some("text/csv" | "application/csv") => Ok(()),
        _ => Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: text/csv".into(),
        )),
    }
}

/// Rows are written by the `import` system actor, on behalf of the caller
/// (`initiated_by`), from the caller's address, under a new `import_id`.
fn import_metadata(ctx: &CommandContext) -> EventMetadata {
    let mut meta = EventMetadata::for_system(ctx.auth.tenant, "import");
    meta.request_id = ctx.metadata.request_id;
    meta.ip = ctx.metadata.ip;
    meta.user_agent = ctx.metadata.user_agent.clone();
    meta.initiated_by = Some(ctx.auth.user);
    meta.import_id = Some(Uuid::now_v7());
    meta
}

/// `POST /v1/imports/companies` (Owner, Admin, Manager), `text/csv` body of at most
/// `server.import_limit_bytes`: 200 with the report.
///
/// # Errors
/// 403, 413, 415, 422 (no header or no `Company name` column).
pub async fn companies(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ImportRecords)?;
    check_csv(&req)?;
    let meta = import_metadata(&ctx);
    let report = import::companies::import(&state.commands, &state.pools.app, &meta, &body).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `POST /v1/imports/contacts` (Owner, Admin, Manager), `text/csv` body: 200 with the
/// report.
///
/// # Errors
/// 403, 413, 415, 422.
pub async fn contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ImportRecords)?;
    check_csv(&req)?;
    let meta = import_metadata(&ctx);
    let report = import::contacts::import(&state.commands, &state.pools.app, &meta, &body).await?;
    Ok(HttpResponse::Ok().json(report))
}
