//! `/v1/pipelines`: pipelines, their stages, and the per-stage summary.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use crm_domain::pipeline::{PipelineCommand, StageInput, StageKind};
use crm_domain::{Action, Currency, EntityId, Guarded, Money};
use crm_projections::entities::{pipeline, pipeline_stage};
use crm_projections::queries::pipelines;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{if_match, record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

/// A stage as the API shows it.
#[derive(Debug, Serialize)]
pub struct StageView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Win probability in percent, as a decimal string (e.g. `"33.5"`).
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
#[derive(Debug, Serialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageBody {
    /// Name.
    pub name: String,
    /// Percent, as a string.
    #[serde(with = "rust_decimal::serde::str")]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePipeline {
    /// Name.
    pub name: String,
    /// Stages in order; at least one of each kind.
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

/// `GET /v1/pipelines`: every pipeline with its stages.
///
/// # Errors
/// 401.
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadRecords)?;
    let items: Vec<PipelineView> = pipelines::list(&state.pools.app, &auth.scope)
        .await?
        .into_iter()
        .map(view)
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// `GET /v1/pipelines/{id}`.
/// With `?as_of=<RFC 3339>` or `?version=N` (Owner, Admin): the record as it was then,
/// rebuilt from its events (see [`super::history::past`]).
///
/// # Errors
/// 404.
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(point): Query<super::history::PointInTime>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadRecords)?;
    if let Some(at) = point.at()? {
        return super::history::past(&state, &auth, crate::history::RecordType::Pipeline, *id, at)
            .await;
    }
    Ok(ok(StatusCode::OK, load(&state, &auth, *id).await?))
}

/// `POST /v1/pipelines` (Owner, Admin, Manager): 201 with the pipeline.
///
/// # Errors
/// 403, 422.
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<CreatePipeline>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManagePipelines)?;
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenamePipeline {
    /// New name.
    pub name: String,
}

/// `PATCH /v1/pipelines/{id}`: rename.
///
/// # Errors
/// 403, 404, 412, 422.
pub async fn rename(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<RenamePipeline>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManagePipelines)?;
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

/// `POST /v1/pipelines/{id}/stages`: add a stage; 201 with the pipeline.
///
/// # Errors
/// 403, 404, 412, 422.
pub async fn add_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<StageBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManagePipelines)?;
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

/// `PATCH /v1/pipelines/{id}/stages/{stage_id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateStage {
    /// New name.
    pub name: Option<String>,
    /// New probability, a decimal string.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub probability: Option<Decimal>,
}

/// `PATCH /v1/pipelines/{id}/stages/{stage_id}`: rename a stage or change its probability.
///
/// # Errors
/// 403, 404, 412, 422.
pub async fn update_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
    Json(body): Json<UpdateStage>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManagePipelines)?;
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReorderStages {
    /// Every active stage id, in the new order.
    pub stage_ids: Vec<Uuid>,
}

/// `PUT /v1/pipelines/{id}/stages`: reorder the active stages.
///
/// # Errors
/// 403, 404, 412, 422.
pub async fn reorder(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<ReorderStages>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManagePipelines)?;
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

/// `DELETE /v1/pipelines/{id}/stages/{stage_id}`: retire a stage (409 while it holds open
/// deals, or when it is the last of its kind).
///
/// # Errors
/// 403, 404, 409, 412, 422.
pub async fn retire_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManagePipelines)?;
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

/// Money in a summary.
#[derive(Debug, Serialize)]
struct Amount {
    amount_minor: i64,
    currency: String,
}

/// `GET /v1/pipelines/{id}/summary`: per stage, and per currency inside it, the number of
/// live deals, their total, and the total weighted by the stage's probability
/// (`total × probability / 100`, rounded half to even to minor units). Amounts of
/// different currencies are never added together; deals without an amount are counted
/// apart.
///
/// # Errors
/// 404; 422 if a total exceeds the largest representable amount.
pub async fn summary(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadRecords)?;
    load(&state, &auth, *id).await?;
    let rows = pipelines::summary(&state.pools.app, &auth.scope, *id).await?;
    let mut stages: Vec<serde_json::Value> = Vec::new();
    let mut current: Option<Uuid> = None;
    for row in rows {
        if current != Some(row.stage_id) {
            current = Some(row.stage_id);
            stages.push(json!({
                "stage_id": row.stage_id, "name": row.name, "kind": row.kind, "retired": row.retired,
                "probability": row.probability.normalize().to_string(),
                "deals": 0, "deals_without_amount": 0, "totals": [],
            }));
        }
        let Some(stage) = stages.last_mut() else {
            continue;
        };
        stage["deals"] = json!(stage["deals"].as_i64().unwrap_or(0) + row.deals);
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
                if let Some(totals) = stage["totals"].as_array_mut() {
                    totals.push(json!({
                        "currency": code,
                        "deals": row.deals,
                        "total": Amount { amount_minor: total_minor, currency: code.clone() },
                        "weighted": Amount { amount_minor: weighted.amount_minor, currency: code.clone() },
                    }));
                }
            }
            _ => stage["deals_without_amount"] = json!(row.deals),
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "pipeline_id": *id, "stages": stages })))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.map(|c| {
        c.service(
            actix_web::web::resource("/pipelines")
                .route(actix_web::web::get().to(list))
                .route(actix_web::web::post().to(create)),
        )
        .service(
            actix_web::web::resource("/pipelines/{id}")
                .route(actix_web::web::get().to(get))
                .route(actix_web::web::patch().to(rename)),
        )
        .service(
            actix_web::web::resource("/pipelines/{id}/summary")
                .route(actix_web::web::get().to(summary)),
        )
        .service(
            actix_web::web::resource("/pipelines/{id}/stages")
                .route(actix_web::web::post().to(add_stage))
                .route(actix_web::web::put().to(reorder)),
        )
        .service(
            actix_web::web::resource("/pipelines/{id}/stages/{stage_id}")
                .route(actix_web::web::patch().to(update_stage))
                .route(actix_web::web::delete().to(retire_stage)),
        )
    });
}
