//! `/v1/pipelines`: pipelines, their stages, and the per-stage summary. The use cases
//! are [`crm_app::pipelines`]'s; this module adds the routes, `ETag`, `If-Match` and
//! `Location`.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use crm_app::pipelines::{
    self, CreatePipeline, PipelineSummary, PipelineView, StageBody, UpdateStage,
};
use crm_domain::pipeline::PipelineCommand;
use crm_domain::EntityId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{if_match, record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;

/// `GET /v1/pipelines` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineList {
    /// Every pipeline of the workspace, oldest first.
    pub items: Vec<PipelineView>,
}

fn ok(status: StatusCode, v: &PipelineView) -> HttpResponse {
    record(status, v.version, v)
}

/// Runs `command` on pipeline `id`, guarded by the request's `If-Match`, and answers the
/// pipeline with `status`.
async fn change(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    command: PipelineCommand,
    status: StatusCode,
) -> Result<HttpResponse, ApiError> {
    let if_version = if_match(req)?;
    let (s, caller, meta) = (state.services(), &ctx.auth, &ctx.metadata);
    let changed = pipelines::run(s, caller, meta, id, if_version, command).await?;
    Ok(ok(status, &changed))
}

/// Lists every pipeline with its stages.
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "pipelines",
    responses((status = 200, description = "Every pipeline.", body = PipelineList)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/pipelines")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    let items = pipelines::list(state.services(), &auth).await?;
    Ok(HttpResponse::Ok().json(PipelineList { items }))
}

/// One pipeline with its stages. With `?as_of=<RFC 3339>` or `?version=N` (Owner,
/// Admin): the record as it was then, rebuilt from its events.
///
/// # Errors
/// 404.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id."), super::history::PointInTime),
    responses((status = 200, description = "The pipeline, or its past state.",
        body = super::history::CurrentOrPast<PipelineView>,
        headers(("ETag" = String, description = "The record's version (current state only)."))
    )),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/pipelines/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(point): Query<super::history::PointInTime>,
) -> Result<HttpResponse, ApiError> {
    if let Some(at) = point.at()? {
        return super::history::past(
            &state,
            &auth,
            crm_app::history::RecordType::Pipeline,
            *id,
            at,
        )
        .await;
    }
    Ok(ok(
        StatusCode::OK,
        &pipelines::get(state.services(), &auth, *id).await?,
    ))
}

/// Creates a pipeline with its stages (Owner, Admin, Manager): 201 with `Location` and
/// the pipeline.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "pipelines",
    request_body = CreatePipeline,
    params(IdempotencyKey),
    responses((status = 201, description = "Created.", body = PipelineView, headers(
        ("ETag" = String, description = "The record's version, e.g. `\"1\"`."),
        ("Location" = String, description = "`/v1/pipelines/{id}`."),
    ))),
    extensions(("x-permission" = json!("manage_pipelines"))),
)]
#[post("/pipelines")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<CreatePipeline>,
) -> Result<HttpResponse, ApiError> {
    let created = pipelines::create(state.services(), &ctx.auth, &ctx.metadata, body).await?;
    let mut res = ok(StatusCode::CREATED, &created);
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/pipelines/{}", created.id)) {
        res.headers_mut().insert(header::LOCATION, location);
    }
    Ok(res)
}

/// `PATCH /v1/pipelines/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Enterprise sales"}))]
pub struct RenamePipeline {
    /// New name.
    pub name: String,
}

/// Renames a pipeline: 200 with the pipeline.
///
/// # Errors
/// 403, 404, 412, 422.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id."), IfMatch),
    request_body = RenamePipeline,
    responses(
        (status = 200, description = "The renamed pipeline.", body = PipelineView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_pipelines"))),
)]
#[patch("/pipelines/{id}")]
pub async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<RenamePipeline>,
) -> Result<HttpResponse, ApiError> {
    let command = PipelineCommand::Rename { name: body.name };
    change(&req, &state, &ctx, *id, command, StatusCode::OK).await
}

/// Adds a stage to a pipeline: 201 with the pipeline.
///
/// # Errors
/// 403, 404, 412, 422.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id."), IfMatch, IdempotencyKey),
    request_body = StageBody,
    responses(
        (status = 201, description = "The pipeline with its new stage.", body = PipelineView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_pipelines"))),
)]
#[post("/pipelines/{id}/stages")]
pub async fn add_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<StageBody>,
) -> Result<HttpResponse, ApiError> {
    let command = pipelines::add_stage(body);
    change(&req, &state, &ctx, *id, command, StatusCode::CREATED).await
}

/// Renames a stage or changes its probability: 200 with the pipeline.
///
/// # Errors
/// 403, 404, 412, 422.
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = Uuid, Path, description = "The pipeline's id."),
        ("stage_id" = Uuid, Path, description = "The stage's id."),
        IfMatch,
    ),
    request_body = UpdateStage,
    responses(
        (status = 200, description = "The pipeline with the changed stage.", body = PipelineView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_pipelines"))),
)]
#[patch("/pipelines/{id}/stages/{stage_id}")]
pub async fn update_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
    Json(body): Json<UpdateStage>,
) -> Result<HttpResponse, ApiError> {
    let (id, stage_id) = *path;
    let command = pipelines::update_stage(stage_id, body);
    change(&req, &state, &ctx, id, command, StatusCode::OK).await
}

/// `PUT /v1/pipelines/{id}/stages` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stage_ids": ["0190a5b3-7c1e-7d2a-9f3b-2c4d5e6f7a8b",
    "0190a5b3-7c1e-7d2a-9f3b-2c4d5e6f7a8c"]}))]
pub struct ReorderStages {
    /// Every active stage id, in the new order.
    pub stage_ids: Vec<Uuid>,
}

/// Reorders a pipeline's active stages: 200 with the pipeline.
///
/// # Errors
/// 403, 404, 412, 422.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id."), IfMatch),
    request_body = ReorderStages,
    responses(
        (status = 200, description = "The pipeline with its stages in the new order.", body = PipelineView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_pipelines"))),
)]
#[put("/pipelines/{id}/stages")]
pub async fn reorder(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<ReorderStages>,
) -> Result<HttpResponse, ApiError> {
    let order = body.stage_ids.into_iter().map(EntityId).collect();
    let command = PipelineCommand::ReorderStages { order };
    change(&req, &state, &ctx, *id, command, StatusCode::OK).await
}

/// Retires a stage (409 while it holds open deals, or when it is the last of its kind):
/// 200 with the pipeline.
///
/// # Errors
/// 403, 404, 409, 412, 422.
#[utoipa::path(
    tag = "pipelines",
    params(
        ("id" = Uuid, Path, description = "The pipeline's id."),
        ("stage_id" = Uuid, Path, description = "The stage's id."),
        IfMatch,
    ),
    responses(
        (status = 200, description = "The pipeline, the stage retired.", body = PipelineView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The stage holds open deals, or is the last active stage of its kind.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_pipelines"))),
)]
#[delete("/pipelines/{id}/stages/{stage_id}")]
pub async fn retire_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, stage_id) = *path;
    let if_version = if_match(&req)?;
    let changed = pipelines::retire_stage(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        stage_id,
        if_version,
    )
    .await?;
    Ok(ok(StatusCode::OK, &changed))
}

/// The pipeline's summary: per stage, and per currency inside it, the number of live
/// deals, their total, and the total weighted by the stage's probability
/// (`total × probability / 100`, rounded half to even to minor units). Amounts of
/// different currencies are never added together; deals without an amount are counted
/// apart.
///
/// # Errors
/// 404; 422 if a total exceeds the largest representable amount.
#[utoipa::path(
    tag = "pipelines",
    params(("id" = Uuid, Path, description = "The pipeline's id.")),
    responses((status = 200, description = "Per stage and currency: deals, total, weighted total.",
        body = PipelineSummary)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/pipelines/{id}/summary")]
pub async fn summary(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(pipelines::summary(state.services(), &auth, *id).await?))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(rename)
        .service(summary)
        .service(add_stage)
        .service(reorder)
        .service(update_stage)
        .service(retire_stage);
}
