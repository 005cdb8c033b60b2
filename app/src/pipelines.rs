//! Pipelines and their stages: the views, the bodies, and the use cases (create, rename,
//! add, change, reorder and retire stages, and the per-stage summary). The rule that
//! spans streams lives here: a stage is retired only when no open deal is in it (the deals
//! are counted in the read model and handed to the aggregate).

use crm_domain::pipeline::{PipelineCommand, StageInput, StageKind};
use crm_domain::{Currency, EntityId, EventMetadata, Guarded, Money};
use crm_projections::entities::{pipeline, pipeline_stage};
use crm_projections::queries::pipelines;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::records::{MoneyView, Services};

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

impl From<(pipeline::Model, Vec<pipeline_stage::Model>)> for PipelineView {
    fn from((p, stages): (pipeline::Model, Vec<pipeline_stage::Model>)) -> Self {
        Self {
            id: p.id,
            name: p.name,
            stages: stages.into_iter().map(StageView::from).collect(),
            version: p.version,
        }
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

/// Every pipeline of the caller's workspace with its stages, oldest first.
///
/// # Errors
/// The store's errors.
pub async fn list(s: Services<'_>, caller: &Caller) -> Result<Vec<PipelineView>, AppError> {
    Ok(pipelines::list(s.db, &caller.scope)
        .await?
        .into_iter()
        .map(PipelineView::from)
        .collect())
}

/// Pipeline `id` with its stages.
///
/// # Errors
/// [`AppError::NotFound`] when the caller's workspace has no such pipeline.
pub async fn get(s: Services<'_>, caller: &Caller, id: Uuid) -> Result<PipelineView, AppError> {
    pipelines::get(s.db, &caller.scope, id)
        .await?
        .map(PipelineView::from)
        .ok_or(AppError::NotFound)
}

/// Creates a pipeline with `body`'s stages; returns it.
///
/// # Errors
/// Validation errors from the aggregate (a name, a probability outside 0–100, a kind
/// missing); the store's errors.
pub async fn create(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    body: CreatePipeline,
) -> Result<PipelineView, AppError> {
    let id = EntityId::new();
    let command = PipelineCommand::Create {
        name: body.name,
        stages: body.stages.into_iter().map(StageBody::input).collect(),
    };
    s.commands.pipeline(id, command, meta).await?;
    get(s, caller, id.0).await
}

/// Runs `command` on pipeline `id`, guarded by `if_version`; returns the pipeline.
///
/// # Errors
/// Not found, precondition failed (another version), validation errors and conflicts
/// from the aggregate; the store's errors.
pub async fn run(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    command: PipelineCommand,
) -> Result<PipelineView, AppError> {
    let command = Guarded {
        if_version,
        command,
    };
    s.commands.pipeline(EntityId(id), command, meta).await?;
    get(s, caller, id).await
}

/// The command that adds `body`'s stage.
pub fn add_stage(body: StageBody) -> PipelineCommand {
    let position = body.position;
    PipelineCommand::AddStage {
        stage: body.input(),
        position,
    }
}

/// The command that changes stage `stage_id` as `body` says.
pub fn update_stage(stage_id: Uuid, body: UpdateStage) -> PipelineCommand {
    PipelineCommand::UpdateStage {
        stage_id: EntityId(stage_id),
        name: body.name,
        probability: body.probability,
    }
}

/// Retires stage `stage_id` of pipeline `id`, which the aggregate refuses while open deals
/// are in it (counted here, in the caller's workspace) or when it is the last active stage
/// of its kind; returns the pipeline.
///
/// # Errors
/// A conflict for those two cases; otherwise as [`run`].
pub async fn retire_stage(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    stage_id: Uuid,
    if_version: Option<u64>,
) -> Result<PipelineView, AppError> {
    let open_deals = pipelines::open_deals_in_stage(s.db, &caller.scope, stage_id).await?;
    let command = PipelineCommand::RetireStage {
        stage_id: EntityId(stage_id),
        open_deals,
    };
    run(s, caller, meta, id, if_version, command).await
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

/// Pipeline `id`'s summary: per stage, and per currency inside it, the number of live
/// deals, their total, and the total weighted by the stage's probability
/// (`total × probability / 100`, rounded half to even to minor units). Amounts of
/// different currencies are never added together; deals without an amount are counted
/// apart.
///
/// # Errors
/// Not found; a validation error when a total exceeds the largest amount an `i64` of
/// minor units holds; the store's errors.
pub async fn summary(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<PipelineSummary, AppError> {
    get(s, caller, id).await?;
    let rows = pipelines::summary(s.db, &caller.scope, id).await?;
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
                stage
                    .totals
                    .push(currency_total(code, row.deals, total, row.probability)?);
            }
            _ => stage.deals_without_amount = row.deals,
        }
    }
    Ok(PipelineSummary {
        pipeline_id: id,
        stages,
    })
}

/// One currency's cell: `total` exact, weighted by `probability` percent.
fn currency_total(
    code: String,
    deals: i64,
    total: Decimal,
    probability: Decimal,
) -> Result<CurrencyTotal, AppError> {
    let currency = Currency::from_code(&code).map_err(AppError::internal)?;
    let too_big = || {
        AppError::invalid(
            "summary",
            "a stage total exceeds the largest representable amount",
        )
    };
    let total_minor = i64::try_from(total).map_err(|_| too_big())?;
    let weighted = total
        .checked_mul(probability)
        .and_then(|w| w.checked_div(Decimal::ONE_HUNDRED))
        .ok_or_else(too_big)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    let weighted = Money::new(i64::try_from(weighted).map_err(|_| too_big())?, currency);
    Ok(CurrencyTotal {
        currency: code.clone(),
        deals,
        total: MoneyView {
            amount_minor: total_minor,
            currency: code.clone(),
        },
        weighted: MoneyView {
            amount_minor: weighted.amount_minor,
            currency: code,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn weighted_total_rounds_half_to_even() {
        // 25 × 50 % = 12.5 → 12; 35 × 50 % = 17.5 → 18.
        let t = currency_total("EUR".into(), 1, Decimal::from(25), Decimal::from(50)).unwrap();
        assert_eq!(t.weighted.amount_minor, 12);
        let t = currency_total("EUR".into(), 1, Decimal::from(35), Decimal::from(50)).unwrap();
        assert_eq!(t.weighted.amount_minor, 18);
        assert_eq!(t.total.amount_minor, 35);
    }

    #[test]
    fn a_total_beyond_i64_is_a_validation_error() {
        let big = Decimal::from(i64::MAX) + Decimal::ONE;
        let err = currency_total("EUR".into(), 2, big, Decimal::from(10)).unwrap_err();
        assert!(matches!(err, AppError::Validation(ref f) if f[0].field == "summary"));
    }
}
