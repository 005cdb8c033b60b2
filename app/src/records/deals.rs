//! Deals: the view, the bodies, the record type, and moving, closing and line items.
//! A deal's stage is resolved, and its owner, company and contacts checked, in the
//! caller's workspace before a command runs.

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::deal::{DealCommand, DealInput, DealPatch, LineItemInput, StageRef};
use crm_domain::pipeline::StageKind;
use crm_domain::{EntityId, EventMetadata, Guarded, Money, UserId};
use crm_projections::entities::deal::{self, Model};
use crm_projections::queries::{deals, pipelines, users};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;
use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::companies::Companies;
use super::contacts::Contacts;
use super::listing::{joined, major, opt, text, Column, Listed};
use super::{MoneyView, Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;

/// A deal as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DealView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Amount, or null.
    pub amount: Option<MoneyView>,
    /// Pipeline.
    pub pipeline_id: Uuid,
    /// Stage.
    pub stage_id: Uuid,
    /// `open`, `won` or `lost`.
    pub status: String,
    /// Owning user.
    pub owner_id: Option<Uuid>,
    /// Company.
    pub company_id: Option<Uuid>,
    /// Contacts.
    pub contact_ids: Vec<Uuid>,
    /// Expected close date (ISO 8601 date).
    pub expected_close_date: Option<NaiveDate>,
    /// Why it was won or lost.
    pub close_reason: Option<String>,
    /// When it was won or lost.
    pub closed_at: Option<DateTime<Utc>>,
    /// Line items with their totals (empty when the deal has none).
    #[schema(value_type = Vec<LineItemView>)]
    pub line_items: serde_json::Value,
    /// Tags (lowercase).
    pub tags: Vec<String>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Aggregate version (also the `ETag`).
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Creating actor.
    pub created_by: String,
    /// Last changing actor.
    pub updated_by: String,
}

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

impl From<Model> for DealView {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            amount: m
                .amount_minor
                .zip(m.currency)
                .map(|(amount_minor, currency)| MoneyView {
                    amount_minor,
                    currency,
                }),
            pipeline_id: m.pipeline_id,
            stage_id: m.stage_id,
            status: m.status,
            owner_id: m.owner_id,
            company_id: m.company_id,
            contact_ids: m.contact_ids,
            expected_close_date: m.expected_close_date,
            close_reason: m.close_reason,
            closed_at: m.closed_at,
            line_items: m.line_items,
            tags: m.tags,
            deleted: m.deleted,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            created_by: m.created_by,
            updated_by: m.updated_by,
        }
    }
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

/// `POST /v1/deals` body. Without `stage_id`, the deal starts in the first open stage of
/// `pipeline_id` (default: the workspace's oldest pipeline); without `owner_id`, the caller
/// owns it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme renewal 2025",
    "amount": {"amount_minor": 1250000, "currency": "EUR"},
    "expected_close_date": "2025-06-30", "tags": ["renewal"]}))]
pub struct CreateDeal {
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Amount `{"amount_minor": …, "currency": "EUR"}`.
    pub amount: Option<Money>,
    /// Pipeline (default: the workspace's oldest).
    pub pipeline_id: Option<Uuid>,
    /// An active stage (of `pipeline_id` when given); default: the pipeline's first open
    /// stage.
    pub stage_id: Option<Uuid>,
    /// A user of the workspace; default: the caller.
    pub owner_id: Option<Uuid>,
    /// A company of the workspace.
    pub company_id: Option<Uuid>,
    /// Contacts of the workspace.
    #[serde(default)]
    pub contact_ids: Vec<Uuid>,
    /// ISO 8601 date.
    pub expected_close_date: Option<NaiveDate>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

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
        body: CreateDeal,
    ) -> Result<DealCommand, AppError> {
        let stage = match (body.stage_id, body.pipeline_id) {
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
        let owner = body.owner_id.unwrap_or(caller.user.0);
        check_links(s, caller, Some(owner), body.company_id, &body.contact_ids).await?;
        Ok(DealCommand::Create(DealInput {
            name: body.name,
            amount: body.amount,
            stage,
            owner_id: Some(UserId(owner)),
            company_id: body.company_id.map(EntityId),
            contact_ids: body.contact_ids.into_iter().map(EntityId).collect(),
            expected_close_date: body.expected_close_date,
            tags: body.tags,
        }))
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
        check_links(
            s,
            caller,
            body.owner_id.flatten(),
            body.company_id.flatten(),
            body.contact_ids.as_deref().unwrap_or_default(),
        )
        .await?;
        Ok(Guarded {
            if_version,
            command: DealCommand::Update(DealPatch {
                name: body.name,
                amount: body.amount,
                owner_id: body.owner_id.map(|o| o.map(UserId)),
                company_id: body.company_id.map(|o| o.map(EntityId)),
                contact_ids: body
                    .contact_ids
                    .map(|v| v.into_iter().map(EntityId).collect()),
                expected_close_date: body.expected_close_date,
                tags: body.tags,
            }),
        })
    }

    async fn detail(_: Services<'_>, _: &TenantScope, row: Model) -> Result<DealView, AppError> {
        Ok(row.into())
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

/// `PATCH /v1/deals/{id}` body: absent fields stay, `null` clears (RFC 7396).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme renewal 2025 (3 years)", "expected_close_date": null,
    "tags": ["renewal", "multi-year"]}))]
pub struct PatchDeal {
    /// New name.
    pub name: Option<String>,
    /// New amount or null (refused while the deal has line items).
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub amount: Option<Option<Money>>,
    /// New owner or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub owner_id: Option<Option<Uuid>>,
    /// New company or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub company_id: Option<Option<Uuid>>,
    /// New contact list.
    pub contact_ids: Option<Vec<Uuid>>,
    /// New expected close date or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub expected_close_date: Option<Option<NaiveDate>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
}

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
    type Filter = deals::DealFilter;
    const COLUMNS: &'static [Column<Model>] = &[
        Column {
            name: "id",
            cell: |d| d.id.to_string(),
        },
        Column {
            name: "name",
            cell: |d| text(Some(&d.name)),
        },
        Column {
            name: "amount",
            cell: |d| major(d.amount_minor, d.currency.as_deref()),
        },
        Column {
            name: "amount_minor",
            cell: |d| opt(d.amount_minor),
        },
        Column {
            name: "currency",
            cell: |d| opt(d.currency.as_ref()),
        },
        Column {
            name: "pipeline_id",
            cell: |d| d.pipeline_id.to_string(),
        },
        Column {
            name: "stage_id",
            cell: |d| d.stage_id.to_string(),
        },
        Column {
            name: "status",
            cell: |d| d.status.clone(),
        },
        Column {
            name: "owner_id",
            cell: |d| opt(d.owner_id),
        },
        Column {
            name: "company_id",
            cell: |d| opt(d.company_id),
        },
        Column {
            name: "contact_ids",
            cell: |d| joined(&d.contact_ids),
        },
        Column {
            name: "expected_close_date",
            cell: |d| opt(d.expected_close_date),
        },
        Column {
            name: "close_reason",
            cell: |d| text(d.close_reason.as_deref()),
        },
        Column {
            name: "closed_at",
            cell: |d| opt(d.closed_at.map(|t| t.to_rfc3339())),
        },
        Column {
            name: "tags",
            cell: |d| text(Some(&d.tags.join(";"))),
        },
        Column {
            name: "deleted",
            cell: |d| d.deleted.to_string(),
        },
        Column {
            name: "created_at",
            cell: |d| d.created_at.to_rfc3339(),
        },
        Column {
            name: "updated_at",
            cell: |d| d.updated_at.to_rfc3339(),
        },
    ];

    async fn page(
        db: &DatabaseConnection,
        scope: &TenantScope,
        filter: &Self::Filter,
    ) -> Result<Page<Model>, ListError> {
        deals::list(db, scope, filter).await
    }

    fn paged(filter: &Self::Filter, limit: u64, cursor: Option<String>) -> Self::Filter {
        deals::DealFilter {
            limit: Some(limit),
            cursor,
            ..filter.clone()
        }
    }
}
