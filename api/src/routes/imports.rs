//! `POST /v1/imports/{companies,contacts,deals}`: a CSV body in, the import report out.
//! `?dry_run=true` reads and checks every row and writes nothing.

use actix_web::{web, HttpRequest, HttpResponse};
use crm_domain::{Action, EventMetadata};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::CommandContext;
use crate::error::ApiError;
use crate::extract::Query;
use crate::import::{self, ImportRun};
use crate::state::AppState;

/// The query of an import.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    /// Report what would happen, write nothing.
    pub dry_run: Option<bool>,
}

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

/// Which import.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Companies,
    Contacts,
    Deals,
}

async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Bytes,
    query: ImportQuery,
    kind: Kind,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ImportRecords)?;
    check_csv(&req)?;
    let run = ImportRun {
        commands: &state.commands,
        app: &state.pools.app,
        meta: import_metadata(&ctx),
        dry_run: query.dry_run.unwrap_or(false),
    };
    let report = match kind {
        Kind::Companies => import::companies::import(&run, &body).await?,
        Kind::Contacts => import::contacts::import(&run, &body).await?,
        Kind::Deals => import::deals::import(&run, &body).await?,
    };
    Ok(HttpResponse::Ok().json(report))
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
    Query(q): Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    run(req, state, ctx, body, q, Kind::Companies).await
}

/// `POST /v1/imports/contacts`: 200 with the report.
///
/// # Errors
/// 403, 413, 415, 422.
pub async fn contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    Query(q): Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    run(req, state, ctx, body, q, Kind::Contacts).await
}

/// `POST /v1/imports/deals`: 200 with the report.
///
/// # Errors
/// 403, 413, 415, 422.
pub async fn deals(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    Query(q): Query<ImportQuery>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    run(req, state, ctx, body, q, Kind::Deals).await
}

/// `POST /v1/imports/{import_id}/undo` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// Why, 1 to 500 characters; stored in each delete event's metadata.
    pub reason: String,
}

/// `POST /v1/imports/{import_id}/undo` (Owner, Admin): deletes, by new events, every
/// company, contact and deal that the import created (records it only updated keep their
/// state; revert those one by one). Each delete carries `reason` as
/// `"undo import <id>: …"`. Records deleted since are counted, not touched again; the
/// import's own events are never changed. 200 with
/// `{"import_id", "deleted": n, "already_deleted": n}`.
///
/// # Errors
/// 403 for other roles; 404 when the workspace has no import with that id; 422 for a bad
/// reason.
pub async fn undo(
    state: web::Data<AppState>,
    ctx: CommandContext,
    import_id: web::Path<Uuid>,
    crate::extract::Json(body): crate::extract::Json<UndoBody>,
) -> Result<HttpResponse, ApiError> {
    use crm_domain::company::CompanyCommand;
    use crm_domain::contact::ContactCommand;
    use crm_domain::deal::DealCommand;
    use crm_domain::{EntityId, Guarded};

    ctx.auth.require(Action::DeleteRecords)?;
    ctx.auth.require(Action::ReadAudit)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let import_id = import_id.into_inner();
    let created = crm_projections::queries::history::created_by_import(
        &state.pools.app,
        &ctx.auth.scope,
        import_id,
    )
    .await?;
    if created.is_empty() {
        return Err(ApiError::NotFound);
    }
    let mut meta = ctx.metadata.clone();
    meta.reason = Some(format!("undo import {import_id}: {reason}"));
    let (mut deleted, mut already) = (0_u64, 0_u64);
    for (kind, id) in created {
        let id = EntityId(id);
        let result = match kind.as_str() {
            "Company" => {
                state
                    .commands
                    .company(id, Guarded::from(CompanyCommand::Delete), &meta)
                    .await
            }
            "Contact" => {
                state
                    .commands
                    .contact(id, Guarded::from(ContactCommand::Delete), &meta)
                    .await
            }
            "Deal" => {
                state
                    .commands
                    .deal(id, Guarded::from(DealCommand::Delete), &meta)
                    .await
            }
            _ => continue,
        };
        match result {
            Ok(()) => deleted += 1,
            Err(crm_app::AppError::Conflict(_)) => already += 1,
            Err(err) => return Err(err.into()),
        }
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "import_id": import_id,
        "deleted": deleted,
        "already_deleted": already,
    })))
}

/// Registers this module's routes (under `/v1`); CSV bodies up to `import_limit_bytes`.
pub fn routes(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    import_limit_bytes: usize,
) {
    let csv_limit = || actix_web::web::PayloadConfig::new(import_limit_bytes);
    cfg.map(|c| {
        c.service(
            actix_web::web::resource("/imports/companies")
                .app_data(csv_limit())
                .route(actix_web::web::post().to(companies)),
        )
        .service(
            actix_web::web::resource("/imports/contacts")
                .app_data(csv_limit())
                .route(actix_web::web::post().to(contacts)),
        )
        .service(
            actix_web::web::resource("/imports/deals")
                .app_data(csv_limit())
                .route(actix_web::web::post().to(deals)),
        )
        .service(
            actix_web::web::resource("/imports/{import_id}/undo")
                .route(actix_web::web::post().to(undo)),
        )
    });
}
