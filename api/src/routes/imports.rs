//! `POST /v1/imports/{companies,contacts,deals}`: a CSV body in, the import report out.
//! `?dry_run=true` reads and checks every row and writes nothing. With
//! `Prefer: respond-async` (RFC 7240) the import runs as a background job: `202 Accepted`
//! at once, with `Location: /v1/imports/{import_id}` to follow it.

use actix_web::{get, post, web, HttpRequest, HttpResponse};
use crm_domain::{Action, EventMetadata};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::CommandContext;
use crate::error::ApiError;
use crate::extract::ImportParams;
use crate::openapi::IdempotencyKey;
use crate::spool::SpooledBody;
use crate::state::AppState;
use crm_app::import::{self, ImportJob, ImportKind, ImportReport, ImportRun};

/// The query of an import.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Report what would happen, write nothing.
    pub dry_run: Option<bool>,
    /// `create` (the default): a row that matches a record is skipped as a duplicate.
    /// `upsert` (companies and contacts): a row that matches a record by its email (a
    /// contact) or domain (a company) updates it with its non-empty cells, and the report
    /// names it under `updates`.
    #[param(inline)]
    pub mode: Option<ImportMode>,
}

/// What a row that matches an existing record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Skip it as a duplicate.
    Create,
    /// Update the record.
    Upsert,
}

fn check_csv(req: &HttpRequest) -> Result<(), ApiError> {
    if crate::spool::is_csv(req.headers().get(actix_web::http::header::CONTENT_TYPE)) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(
            "expected Content-Type: text/csv".into(),
        ))
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

/// Whether the request asks for the background job (`Prefer: respond-async`, RFC 7240
/// section 4.1; other preferences in the header are ignored).
fn wants_async(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| {
            p.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("respond-async"))
        })
}

/// Starts `kind`'s import of `body` as a background job, a task of this worker's runtime
/// that outlives the request (if the process ends first, the job turns `interrupted`, see
/// `crm_app::import::jobs`), and answers `202` with the job and where to follow it.
fn in_background(
    state: web::Data<AppState>,
    (meta, dry_run, upsert, mapping): (EventMetadata, bool, bool, Vec<(String, String)>),
    kind: ImportKind,
    body: SpooledBody,
    started: ImportJob,
) -> HttpResponse {
    let id = started.import_id;
    actix_web::rt::spawn(async move {
        let run = ImportRun {
            commands: &state.commands,
            app: &state.pools.app,
            meta,
            dry_run,
            mapping,
            upsert,
        };
        let outcome = match body.reader() {
            Ok(data) => import::jobs::execute(&run, kind, data)
                .await
                .map(drop)
                .map_err(ApiError::from),
            Err(err) => Err(err),
        };
        if let Err(err) = outcome {
            tracing::info!(import_id = %id, error = %err, "background import refused");
        }
    });
    HttpResponse::Accepted()
        .insert_header((
            actix_web::http::header::LOCATION,
            format!("/v1/imports/{id}"),
        ))
        .insert_header(("Preference-Applied", "respond-async"))
        .json(started)
}

async fn run(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    body: web::Payload,
    (query, mapping): (ImportQuery, Vec<(String, String)>),
    kind: ImportKind,
) -> Result<HttpResponse, ApiError> {
    check_csv(&req)?;
    // Received to a temporary file (by the Idempotency-Key's middleware, when the request
    // has one), read as the rows go: memory does not grow with the file. An oversized
    // file is a problem+json 413 like every other refusal.
    let body = match SpooledBody::take(&req) {
        Some(body) => body,
        None => {
            let limit = state.settings.server.import_limit_bytes;
            SpooledBody::receive(&mut body.into_inner(), limit, None).await?
        }
    };
    let meta = import_metadata(&ctx);
    let dry_run = query.dry_run.unwrap_or(false);
    let upsert = query.mode == Some(ImportMode::Upsert);
    let run = ImportRun {
        commands: &state.commands,
        app: &state.pools.app,
        meta: meta.clone(),
        dry_run,
        mapping: mapping.clone(),
        upsert,
    };
    let background = wants_async(&req);
    if background {
        import::jobs::check(kind, body.reader()?)?;
    }
    let started = import::jobs::open(&run, kind, Some(ctx.auth.user.0)).await?;
    if background {
        let state = state.clone();
        return Ok(in_background(
            state,
            (meta, dry_run, upsert, mapping),
            kind,
            body,
            started,
        ));
    }
    let report = import::jobs::execute(&run, kind, body.reader()?).await?;
    let aborted = report.aborted.is_some();
    let mut response = HttpResponse::Ok().json(report);
    if aborted {
        // A fault stopped it: a retry with the same Idempotency-Key resumes (the rows
        // already imported are skipped as duplicates) instead of replaying this report.
        response.extensions_mut().insert(crate::error::Retryable);
    }
    Ok(response)
}

/// Imports companies from a `text/csv` body of at most `server.import_limit_bytes`: 200
/// with the report.
///
/// # Errors
/// 403, 413, 415, 422 (no header or no `Company name` column).
#[utoipa::path(
    tag = "imports",
    params(ImportQuery, IdempotencyKey),
    request_body(content = String, content_type = "text/csv",
        description = "CSV (RFC 4180) with a header row; a `Company name` column is required."),
    responses(
        (status = 200, description = "The import report.", body = ImportReport),
        (status = 202, description = "With `Prefer: respond-async`: the job, started; follow `Location`.",
            body = ImportJob,
            headers(("Location" = String, description = "`/v1/imports/{import_id}`."),
                    ("Preference-Applied" = String, description = "`respond-async`."))),
    ),
    extensions(("x-permission" = json!("import_records"))),
)]
#[post("/companies")]
pub async fn companies(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    ImportParams(q, mapping): ImportParams<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    run(req, state, ctx, body, (q, mapping), ImportKind::Companies).await
}

/// Imports contacts from a CSV body: 200 with the report.
///
/// # Errors
/// 403, 413, 415, 422.
#[utoipa::path(
    tag = "imports",
    params(ImportQuery, IdempotencyKey),
    request_body(content = String, content_type = "text/csv",
        description = "CSV (RFC 4180) with a header row; a name or email column is required."),
    responses(
        (status = 200, description = "The import report.", body = ImportReport),
        (status = 202, description = "With `Prefer: respond-async`: the job, started; follow `Location`.",
            body = ImportJob,
            headers(("Location" = String, description = "`/v1/imports/{import_id}`."),
                    ("Preference-Applied" = String, description = "`respond-async`."))),
    ),
    extensions(("x-permission" = json!("import_records"))),
)]
#[post("/contacts")]
pub async fn contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    ImportParams(q, mapping): ImportParams<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    run(req, state, ctx, body, (q, mapping), ImportKind::Contacts).await
}

/// Imports deals from a CSV body: 200 with the report.
///
/// # Errors
/// 403, 413, 415, 422.
#[utoipa::path(
    tag = "imports",
    params(ImportQuery, IdempotencyKey),
    request_body(content = String, content_type = "text/csv",
        description = "CSV (RFC 4180) with a header row; `Deal name` and `Amount` columns are required."),
    responses(
        (status = 200, description = "The import report.", body = ImportReport),
        (status = 202, description = "With `Prefer: respond-async`: the job, started; follow `Location`.",
            body = ImportJob,
            headers(("Location" = String, description = "`/v1/imports/{import_id}`."),
                    ("Preference-Applied" = String, description = "`respond-async`."))),
    ),
    extensions(("x-permission" = json!("import_records"))),
)]
#[post("/deals")]
pub async fn deals(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    ImportParams(q, mapping): ImportParams<ImportQuery>,
    body: web::Payload,
) -> Result<HttpResponse, ApiError> {
    run(req, state, ctx, body, (q, mapping), ImportKind::Deals).await
}

/// `POST /v1/imports/{import_id}/undo` body.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoBody {
    /// Why, 1 to 500 characters; stored in each delete event's metadata.
    pub reason: String,
}

pub use crm_app::import::UndoReport;

/// Undoes an import (Owner, Admin): deletes, by new events, every
/// company, contact and deal that the import created (records it only updated keep their
/// state; revert those one by one). Each delete carries `reason` as
/// `"undo import <id>: …"`. Records deleted since are counted, not touched again; the
/// import's own events are never changed. 200 with an [`UndoReport`].
///
/// # Errors
/// 403 for other roles; 404 when the workspace has no import with that id; 422 for a bad
/// reason.
#[utoipa::path(
    tag = "imports",
    params(("import_id" = Uuid, Path, description = "The `import_id` of the import's report."), IdempotencyKey),
    request_body = UndoBody,
    responses((status = 200, description = "What the undo deleted.", body = UndoReport)),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[post("/{import_id}/undo")]
pub async fn undo(
    state: web::Data<AppState>,
    ctx: CommandContext,
    import_id: web::Path<Uuid>,
    crate::extract::Json(body): crate::extract::Json<UndoBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::DeleteRecords)?;
    let report = crm_app::import::undo(
        &state.commands,
        &state.pools.app,
        &ctx.auth,
        &ctx.metadata,
        import_id.into_inner(),
        &body.reason,
    )
    .await?;
    Ok(HttpResponse::Ok().json(report))
}

/// An import job (Owner, Admin, Manager: whoever may import): its state and counts while
/// it runs (as of its last committed batch of rows), and its report once it ended. Every
/// import has one, whether it ran in the background or not. 200 with an [`ImportJob`].
///
/// # Errors
/// 403 for other roles; 404 when the workspace has no import with that id.
#[utoipa::path(
    tag = "imports",
    params(("import_id" = Uuid, Path, description = "The `import_id` of the import.")),
    responses((status = 200, description = "The job.", body = ImportJob)),
    extensions(("x-permission" = json!("import_records"))),
)]
#[get("/{import_id}")]
pub async fn import_job(
    state: web::Data<AppState>,
    auth: crate::auth::AuthContext,
    import_id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let job = import::jobs::find(&state.pools.app, &auth.scope, import_id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(job))
}

/// Registers this module's routes (under `/v1/imports`); CSV bodies up to
/// `import_limit_bytes`.
pub fn routes(
    cfg: &mut utoipa_actix_web::service_config::ServiceConfig,
    import_limit_bytes: usize,
) {
    cfg.service(
        utoipa_actix_web::scope("/imports")
            .app_data(actix_web::web::PayloadConfig::new(import_limit_bytes))
            .service(companies)
            .service(contacts)
            .service(deals)
            .service(import_job)
            .service(undo),
    );
}
