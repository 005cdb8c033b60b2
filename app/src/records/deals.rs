//! Deals: the view, the bodies, the record type, and moving, closing and line items.
//! A deal's stage is resolved, and its owner, company and contacts checked, in the
//! caller's workspace before a command runs.

use crm_domain::deal::{DealCommand, DealInput, DealPatch, LineItemInput, StageRef};
use crm_domain::pipeline::StageKind;
use crm_domain::{EntityId, EventMetadata, Guarded, Money};
use crm_projections::entities::deal::{self, Model};
use crm_projections::queries::{deals, pipelines, users};
use crm_store::TenantScope;
use rust_decimal::Decimal;
use serde::Deserialize;
use uuid::Uuid;

use super::companies::Companies;
use super::contacts::Contacts;
use super::listing::{Column, Listed};
use super::{Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;

crm_projections::deal_table!(crate::records::view::record_view);

/// A line item as a deal shows it, as its events record it.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct LineItemView {
    /// Product name.
    pub product: String,
    /// Quantity.
    pub quantity: i64,
    /// Price of one unit.
    pub unit_price: Money,
    /// Discount in percent, a decimal string (`"12.5"`).
    #[schema(example = "12.5")]
    pub discount_percent: String,
    /// `unit_price × quantity × (100 − discount) / 100`, rounded half to even to minor units.
    pub total: Money,
}

fn kind_of(kind: &str) -> StageKind {
    match kind {
        "won" => StageKind::Won,
        "lost" => StageKind::Lost,
        _ => StageKind::Open,
    }
}

/// The active stage `stage_id` of the caller's workspace, in `pipeline` if one is named.
async fn resolve_stage(
    s: Services<'_>,
    caller: &Caller,
    stage_id: Uuid,
    pipeline: Option<Uuid>,
) -> Result<StageRef, AppError> {
    let stage = pipelines::stage(s.db, &caller.scope, stage_id)
        .await?
        .filter(|s| !s.retired && pipeline.is_none_or(|p| p == s.pipeline_id))
        .ok_or_else(|| {
            AppError::invalid(
                "stage_id",
                "no such active stage in this workspace's pipeline",
            )
        })?;
    Ok(StageRef {
        pipeline_id: EntityId(stage.pipeline_id),
        stage_id: EntityId(stage.id),
        kind: kind_of(&stage.kind),
    })
}

/// The first active stage of `kind` in `pipeline`.
async fn first_stage(
    s: Services<'_>,
    caller: &Caller,
    pipeline: Uuid,
    kind: StageKind,
) -> Result<StageRef, AppError> {
    let stage = pipelines::first_stage(s.db, &caller.scope, pipeline, kind.as_str())
        .await?
        .ok_or_else(|| {
            AppError::invalid(
                "pipeline_id",
                format!("the pipeline has no active {} stage", kind.as_str()),
            )
        })?;
    Ok(StageRef {
        pipeline_id: EntityId(stage.pipeline_id),
        stage_id: EntityId(stage.id),
        kind,
    })
}

/// Checks that linked records exist, live, in the caller's workspace.
async fn check_links(
    s: Services<'_>,
    caller: &Caller,
    owner: Option<Uuid>,
    company: Option<Uuid>,
    contact_ids: &[Uuid],
) -> Result<(), AppError> {
    let db = s.db;
    if let Some(owner) = owner {
        if users::get_user(db, &caller.scope, owner).await?.is_none() {
            return Err(AppError::invalid(
                "owner_id",
                "no such user in this workspace",
            ));
        }
    }
    if let Some(company) = company {
        super::ensure_live::<Companies>(s, &caller.scope, company, "company_id").await?;
    }
    for id in contact_ids {
        super::ensure_live::<Contacts>(s, &caller.scope, *id, "contact_ids").await?;
    }
    Ok(())
}

/// `POST /v1/deals` body: the command's input, its stage not yet resolved.
pub type CreateDeal = DealInput;

/// Deals in the record machinery: a new deal's stage is resolved and its owner, company
/// and contacts checked in the caller's workspace before the command runs.
pub struct Deals;

impl Record for Deals {
    const TYPE: RecordType = RecordType::Deal;
    type Row = Model;
    type Table = deal::Entity;
    type View = DealView;
    type Detail = DealView;
    type Create = CreateDeal;
    type Patch = PatchDeal;
    type Command = DealCommand;

    async fn execute(
        s: Services<'_>,
        id: EntityId,
        command: Guarded<DealCommand>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Option<Model>, AppError> {
        s.commands
            .record::<crm_domain::deal::Deal, _, deal::Entity>(id, command, meta, new)
            .await
    }

    async fn create_command(
        s: Services<'_>,
        caller: &Caller,
        mut body: CreateDeal,
    ) -> Result<DealCommand, AppError> {
        let (stage, pipeline) = (body.stage_id.map(|e| e.0), body.pipeline_id.map(|e| e.0));
        let stage = match (stage, pipeline) {
            (Some(stage), pipeline) => resolve_stage(s, caller, stage, pipeline).await?,
            (None, Some(pipeline)) => first_stage(s, caller, pipeline, StageKind::Open).await?,
            (None, None) => {
                let oldest = pipelines::list(s.db, &caller.scope)
                    .await?
                    .into_iter()
                    .next();
                let pipeline = oldest
                    .ok_or_else(|| {
                        AppError::invalid("pipeline_id", "the workspace has no pipeline")
                    })?
                    .0
                    .id;
                first_stage(s, caller, pipeline, StageKind::Open).await?
            }
        };
        let owner = *body.owner_id.get_or_insert(caller.user);
        let contacts: Vec<Uuid> = body.contact_ids.iter().map(|c| c.0).collect();
        let company = body.company_id.map(|c| c.0);
        check_links(s, caller, Some(owner.0), company, &contacts).await?;
        body.stage = Some(stage);
        Ok(DealCommand::Create(body))
    }

    async fn update_command(
        s: Services<'_>,
        caller: &Caller,
        id: Uuid,
        if_version: Option<u64>,
        body: PatchDeal,
    ) -> Result<Guarded<DealCommand>, AppError> {
        // Another workspace's deal is a 404 before its links are looked at.
        super::load::<Self>(s, caller, id).await?;
        let contacts: Vec<Uuid> = body.contact_ids.iter().flatten().map(|c| c.0).collect();
        check_links(
            s,
            caller,
            body.owner_id.flatten().map(|u| u.0),
            body.company_id.flatten().map(|c| c.0),
            &contacts,
        )
        .await?;
        Ok(Guarded {
            if_version,
            command: DealCommand::Update(body),
        })
    }

    async fn detail(_: Services<'_>, _: &TenantScope, row: Model) -> Result<DealView, AppError> {
        Ok(row.into())
    }

    fn create_custom(
        body: &mut Self::Create,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Deal, &mut body.custom))
    }

    fn patch_custom(
        body: &mut Self::Patch,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Deal, &mut body.custom))
    }

    fn delete_command() -> DealCommand {
        DealCommand::Delete
    }

    fn restore_command() -> DealCommand {
        DealCommand::Restore
    }

    /// A deal belongs to its `owner_id` (none: nobody's, so no Member's).
    fn owner(row: &Model) -> String {
        row.owner_id.map(|o| o.to_string()).unwrap_or_default()
    }
}

/// `PATCH /v1/deals/{id}` body: the command's patch.
pub type PatchDeal = DealPatch;

/// `POST /v1/deals/{id}/move` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"stage_id": "0190a5b3-7c1e-7d2a-9f3b-2c4d5e6f7a8b"}))]
pub struct MoveDeal {
    /// An open stage, of any pipeline of the workspace.
    pub stage_id: Uuid,
}

/// `POST /v1/deals/{id}/win`, `/lose`, `/reopen` body. Without `stage_id`, the first
/// active stage of the right kind in the deal's pipeline.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Chose a competitor's offer"}))]
pub struct CloseDeal {
    /// Why (required to lose; not used to reopen).
    pub reason: Option<String>,
    /// The stage to close or reopen into, of the deal's pipeline and of the right kind.
    pub stage_id: Option<Uuid>,
}

/// One line item in a request. `discount_percent` is a decimal string (`"12.5"`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemBody {
    /// Product name.
    pub product: String,
    /// Quantity, 1 to 10^9.
    pub quantity: i64,
    /// Unit price.
    pub unit_price: Money,
    /// Discount in percent, 0 to 100, as a decimal string; default 0.
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[schema(value_type = Option<String>, example = "12.5")]
    pub discount_percent: Option<Decimal>,
}

/// `PUT /v1/deals/{id}/line-items` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [
    {"product": "Licence", "quantity": 10, "unit_price": {"amount_minor": 9900, "currency": "EUR"},
     "discount_percent": "12.5"},
    {"product": "Onboarding", "quantity": 1, "unit_price": {"amount_minor": 150000, "currency": "EUR"}}
]}))]
pub struct LineItemsBody {
    /// The complete list (an empty list removes them all and keeps the amount).
    pub items: Vec<LineItemBody>,
}

/// Moves an open deal to another open stage, of any pipeline of the workspace.
///
/// # Errors
/// Forbidden, not found, a conflict when the deal is closed or deleted, a stale
/// `if_version`, a validation error for a stage the workspace does not have active.
pub async fn move_stage(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    stage_id: Uuid,
) -> Result<Model, AppError> {
    super::ensure_owner::<Deals>(s, caller, id).await?;
    super::load::<Deals>(s, caller, id).await?;
    let stage = resolve_stage(s, caller, stage_id, None).await?;
    super::run::<Deals>(
        s,
        caller,
        meta,
        id,
        if_version,
        DealCommand::MoveStage(stage),
    )
    .await
}

/// Closes a deal as won or lost, or reopens it (`kind` `Open`), into `body.stage_id` or
/// the first active stage of that kind in the deal's pipeline.
///
/// # Errors
/// Forbidden, not found, a conflict when the deal is closed (or open) already or
/// deleted, a stale `if_version`, validation errors (no such stage, a loss without a
/// reason).
pub async fn close(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    body: CloseDeal,
    kind: StageKind,
) -> Result<Model, AppError> {
    super::ensure_owner::<Deals>(s, caller, id).await?;
    let deal = super::load::<Deals>(s, caller, id).await?;
    let stage = match body.stage_id {
        Some(stage) => resolve_stage(s, caller, stage, Some(deal.pipeline_id)).await?,
        None => first_stage(s, caller, deal.pipeline_id, kind).await?,
    };
    let at = meta.occurred_at;
    let command = match kind {
        StageKind::Won => DealCommand::Win {
            stage,
            reason: body.reason,
            at,
        },
        StageKind::Lost => DealCommand::Lose {
            stage,
            reason: body.reason.unwrap_or_default(),
            at,
        },
        StageKind::Open => DealCommand::Reopen(stage),
    };
    super::run::<Deals>(s, caller, meta, id, if_version, command).await
}

/// Replaces a deal's line items; its amount becomes their sum.
///
/// # Errors
/// Forbidden, not found, a conflict when the deal is closed or deleted, a stale
/// `if_version`, validation errors (mixed currencies, overflow, bad lines).
pub async fn set_line_items(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    body: LineItemsBody,
) -> Result<Model, AppError> {
    let items = body
        .items
        .into_iter()
        .map(|i| LineItemInput {
            product: i.product,
            quantity: i.quantity,
            unit_price: i.unit_price,
            discount_percent: i.discount_percent.unwrap_or_default(),
        })
        .collect();
    super::run::<Deals>(
        s,
        caller,
        meta,
        id,
        if_version,
        DealCommand::SetLineItems(items),
    )
    .await
}

impl Listed for Deals {
    type Conditions = deals::DealConditions;
    const COLUMNS: &'static [Column<Model>] = EXPORT;
    const FIELDS: Option<crm_domain::fields::RecordKind> =
        Some(crm_domain::fields::RecordKind::Deal);
    fn custom(row: &Model) -> Option<&serde_json::Value> {
        Some(&row.custom)
    }
}
