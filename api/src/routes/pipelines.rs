//! `/v1/pipelines`: pipelines, their stages, and the per-stage summary.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use crm_domain::pipeline::{PipelineCommand, StageInput, StageKind};
use crm_domain::{Currency, EntityId, Guarded, Money};
use crm_projections::entities::{pipeline, pipeline_stage};
use crm_projections::queries::pipelines;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{if_match, record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::records::MoneyView;

/// A stage as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Win probability in percent, as a decimal string (e.g. `"33.5"`).
    #[schema(example = "33.5")]
    pub probability: String,
    /// `open`, `won` or `lost`.
    pub kind: String,
    /// Position among active stages, from 0.
    pub position: i32,
    /// Retired stages take no deals.
    pub retired: bool,
}

impl From<pipeline_stage::Model> for StageView {
    fn from(s: pipeline_stage::Model) -> Self {
        Self {
            id: s.id,
            name: s.name,
            probability: s.probability.normalize().to_string(),
            kind: s.kind,
            position: s.position,
            retired: s.retired,
        }
    }
}

/// A pipeline as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Stages: active ones in order, then retired ones.
    pub stages: Vec<StageView>,
    /// Aggregate version (also the `ETag`).
    pub version: i64,
}

/// `GET /v1/pipelines` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineList {
    /// Every pipeline of the workspace, oldest first.
    pub items: Vec<PipelineView>,
}

fn view((p, stages): (pipeline::Model, Vec<pipeline_stage::Model>)) -> PipelineView {
    PipelineView {
        id: p.id,
        name: p.name,
        stages: stages.into_iter().map(StageView::from).collect(),
        version: p.version,
    }
}

/// A stage in a request. `probability` is a decimal string from `"0"` to `"100"` (a JSON
/// number is refused: no float reaches a rule that prices money).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Negotiation", "probability": "60", "kind": "open", "position": 1}))]
pub struct StageBody {
    /// Name.
    pub name: String,
    /// Win probability in percent, `"0"` to `"100"`, as a decimal string.
    #[serde(with = "rust_decimal::serde::str")]
    #[schema(value_type = String, example = "60")]
    pub probability: Decimal,
    /// `open`, `won` or `lost`.
    pub kind: StageKind,
    /// Where to insert (adding a stage only): 0-based, the end when absent.
    #[serde(default)]
    pub position: Option<usize>,
}

impl StageBody {
    fn input(self) -> StageInput {
        StageInput {
            id: EntityId::new(),
            name: self.name,
            probability: self.probability,
            kind: self.kind,
        }
    }
}

/// `POST /v1/pipelines` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Enterprise", "stages": [
    {"name": "Qualified", "probability": "20", "kind": "open"},
    {"name": "Proposal", "probability": "50", "kind": "open"},
    {"name": "Won", "probability": "100", "kind": "won"},
    {"name": "Lost", "probability": "0", "kind": "lost"}
]}))]
pub struct CreatePipeline {
    /// Name.
    pub name: String,
    /// Stages in order (`position` is not used here); at least one of each kind.
    pub stages: Vec<StageBody>,
}

async fn load(
    state: &AppState,
    auth: &AuthContext,
    id: Uuid,
) -> Result<(pipeline::Model, Vec<pipeline_stage::Model>), ApiError> {
    pipelines::get(&state.pools.app, &auth.scope, id)
        .await?
        .ok_or(ApiError::NotFound)
}

fn ok(status: StatusCode, p: (pipeline::Model, Vec<pipeline_stage::Model>)) -> HttpResponse {
    let v = view(p);
    record(status, v.version, &v)
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
    let items: Vec<PipelineView> = pipelines::list(&state.pools.app, &auth.scope)
        .await?
        .into_iter()
        .map(view)
        .collect();
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
    Ok(ok(StatusCode::OK, load(&state, &auth, *id).await?))
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
    let id = EntityId::new();
    let stages = body.stages.into_iter().map(StageBody::input).collect();
    state
        .commands
        .pipeline(
            id,
            PipelineCommand::Create {
                name: body.name,
                stages,
            },
            &ctx.metadata,
        )
        .await?;
    let mut res = ok(StatusCode::CREATED, load(&state, &ctx.auth, id.0).await?);
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/pipelines/{}", id.0)) {
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
    let command = Guarded {
        if_version: if_match(&req)?,
        command: PipelineCommand::Rename { name: body.name },
    };
    state
        .commands
        .pipeline(EntityId(*id), command, &ctx.metadata)
        .await?;
    Ok(ok(StatusCode::OK, load(&state, &ctx.auth, *id).await?))
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
    let position = body.position;
    let command = Guarded {
        if_version: if_match(&req)?,
        command: PipelineCommand::AddStage {
            stage: body.input(),
            position,
        },
    };
    state
        .commands
        .pipeline(EntityId(*id), command, &ctx.metadata)
        .await?;
    Ok(ok(StatusCode::CREATED, load(&state, &ctx.auth, *id).await?))
}

/// `PATCH /v1/pipelines/{id}/stages/{stage_id}` body: absent fields stay.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Proposal sent", "probability": "45.5"}))]
pub struct UpdateStage {
    /// New name.
    pub name: Option<String>,
    /// New win probability in percent, `"0"` to `"100"`, a decimal string.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "45.5")]
    pub probability: Option<Decimal>,
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
    let command = PipelineCommand::UpdateStage {
        stage_id: EntityId(stage_id),
        name: body.name,
        probability: body.probability,
    };
    state
        .commands
        .pipeline(
            EntityId(id),
            Guarded {
                if_version: if_match(&req)?,
                command,
            },
            &ctx.metadata,
        )
        .await?;
    Ok(ok(StatusCode::OK, load(&state, &ctx.auth, id).await?))
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
    let command = Guarded {
        if_version: if_match(&req)?,
        command: PipelineCommand::ReorderStages { order },
    };
    state
        .commands
        .pipeline(EntityId(*id), command, &ctx.metadata)
        .await?;
    Ok(ok(StatusCode::OK, load(&state, &ctx.auth, *id).await?))
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
    let open_deals =
        pipelines::open_deals_in_stage(&state.pools.app, &ctx.auth.scope, stage_id).await?;
    let command = PipelineCommand::RetireStage {
        stage_id: EntityId(stage_id),
        open_deals,
    };
    state
        .commands
        .pipeline(
            EntityId(id),
            Guarded {
                if_version: if_match(&req)?,
                command,
            },
            &ctx.metadata,
        )
        .await?;
    Ok(ok(StatusCode::OK, load(&state, &ctx.auth, id).await?))
}

/// `GET /v1/pipelines/{id}/summary` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PipelineSummary {
    /// The pipeline.
    pub pipeline_id: Uuid,
    /// Its stages in order (retired ones only while they hold deals).
    pub stages: Vec<StageSummary>,
}

/// One stage of a pipeline summary.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StageSummary {
    /// The stage.
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// `open`, `won` or `lost`.
    pub kind: String,
    /// Whether it is retired.
    pub retired: bool,
    /// Win probability in percent, as a decimal string.
    #[schema(example = "33.5")]
    pub probability: String,
    /// Live deals in the stage.
    pub deals: i64,
    /// Of them, those without an amount.
    pub deals_without_amount: i64,
    /// Per currency: the deals with an amount in it and their totals.
    pub totals: Vec<CurrencyTotal>,
}

/// The deals of one currency in one stage.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CurrencyTotal {
    /// ISO 4217 code.
    pub currency: String,
    /// Live deals with an amount in this currency.
    pub deals: i64,
    /// The sum of their amounts.
    pub total: MoneyView,
    /// `total × probability / 100`, rounded half to even to minor units.
    pub weighted: MoneyView,
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
    load(&state, &auth, *id).await?;
    let rows = pipelines::summary(&state.pools.app, &auth.scope, *id).await?;
    let mut stages: Vec<StageSummary> = Vec::new();
    for row in rows {
        if stages.last().is_none_or(|s| s.stage_id != row.stage_id) {
            stages.push(StageSummary {
                stage_id: row.stage_id,
                name: row.name.clone(),
                kind: row.kind.clone(),
                retired: row.retired,
                probability: row.probability.normalize().to_string(),
                deals: 0,
                deals_without_amount: 0,
                totals: Vec::new(),
            });
        }
        let Some(stage) = stages.last_mut() else {
            continue;
        };
        stage.deals += row.deals;
        match (row.currency, row.total_minor) {
            (Some(code), Some(total)) => {
                let currency = Currency::from_code(&code).map_err(ApiError::internal)?;
                let too_big = || {
                    ApiError::invalid(
                        "summary",
                        "a stage total exceeds the largest representable amount",
                    )
                };
                let total_minor = i64::try_from(total).map_err(|_| too_big())?;
                let weighted = total
                    .checked_mul(row.probability)
                    .and_then(|w| w.checked_div(Decimal::ONE_HUNDRED))
                    .ok_or_else(too_big)?
                    .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
                let weighted =
                    Money::new(i64::try_from(weighted).map_err(|_| too_big())?, currency);
                stage.totals.push(CurrencyTotal {
                    currency: code.clone(),
                    deals: row.deals,
                    total: MoneyView {
                        amount_minor: total_minor,
                        currency: code.clone(),
                    },
                    weighted: MoneyView {
                        amount_minor: weighted.amount_minor,
                        currency: code,
                    },
                });
            }
            _ => stage.deals_without_amount = row.deals,
        }
    }
    Ok(HttpResponse::Ok().json(PipelineSummary {
        pipeline_id: *id,
        stages,
    }))
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
