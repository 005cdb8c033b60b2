//! `/v1/deals`: deals, their stages, closing, line items.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::deal::{DealCommand, DealInput, DealPatch, LineItemInput, StageRef};
use crm_domain::pipeline::StageKind;
use crm_domain::{Action, EntityId, EventMetadata, Guarded, Money, UserId};
use crm_projections::entities::deal::Model;
use crm_projections::queries::deals::{self, DealFilter};
use crm_projections::queries::{companies, contacts, pipelines, users, Page};
use crm_projections::TenantScope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::companies::MoneyView;
use super::records::{self, Record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::history::RecordType;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;

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

/// A line item as a deal shows it (`crm_domain::deal::LineItem`, as its events record
/// it; documentation only: the stored JSON is answered as it is).
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
    state: &AppState,
    auth: &AuthContext,
    stage_id: Uuid,
    pipeline: Option<Uuid>,
) -> Result<StageRef, ApiError> {
    let stage = pipelines::stage(&state.pools.app, &auth.scope, stage_id)
        .await?
        .filter(|s| !s.retired && pipeline.is_none_or(|p| p == s.pipeline_id))
        .ok_or_else(|| {
            ApiError::invalid(
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
    state: &AppState,
    auth: &AuthContext,
    pipeline: Uuid,
    kind: StageKind,
) -> Result<StageRef, ApiError> {
    let stage = pipelines::first_stage(&state.pools.app, &auth.scope, pipeline, kind.as_str())
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
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
    state: &AppState,
    auth: &AuthContext,
    owner: Option<Uuid>,
    company: Option<Uuid>,
    contact_ids: &[Uuid],
) -> Result<(), ApiError> {
    let db = &state.pools.app;
    if let Some(owner) = owner {
        if users::get_user(db, &auth.scope, owner).await?.is_none() {
            return Err(ApiError::invalid(
                "owner_id",
                "no such user in this workspace",
            ));
        }
    }
    if let Some(company) = company {
        if companies::get(db, &auth.scope, company)
            .await?
            .is_none_or(|c| c.deleted)
        {
            return Err(ApiError::invalid(
                "company_id",
                "no such company in this workspace",
            ));
        }
    }
    for id in contact_ids {
        if contacts::get(db, &auth.scope, *id)
            .await?
            .is_none_or(|c| c.deleted)
        {
            return Err(ApiError::invalid(
                "contact_ids",
                format!("no such contact in this workspace: {id}"),
            ));
        }
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
    type View = DealView;
    type Create = CreateDeal;
    type Patch = PatchDeal;
    type Command = DealCommand;

    async fn find(
        state: &AppState,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<Model>, ApiError> {
        Ok(deals::get(&state.pools.app, scope, id).await?)
    }

    async fn execute(
        state: &AppState,
        id: EntityId,
        command: Guarded<DealCommand>,
        meta: &EventMetadata,
    ) -> Result<(), ApiError> {
        Ok(state.commands.deal(id, command, meta).await?)
    }

    async fn create_command(
        state: &AppState,
        ctx: &CommandContext,
        body: CreateDeal,
    ) -> Result<DealCommand, ApiError> {
        let auth = &ctx.auth;
        let stage = match (body.stage_id, body.pipeline_id) {
            (Some(stage), pipeline) => resolve_stage(state, auth, stage, pipeline).await?,
            (None, Some(pipeline)) => first_stage(state, auth, pipeline, StageKind::Open).await?,
            (None, None) => {
                let oldest = pipelines::list(&state.pools.app, &auth.scope)
                    .await?
                    .into_iter()
                    .next();
                let pipeline = oldest
                    .ok_or_else(|| {
                        ApiError::invalid("pipeline_id", "the workspace has no pipeline")
                    })?
                    .0
                    .id;
                first_stage(state, auth, pipeline, StageKind::Open).await?
            }
        };
        let owner = body.owner_id.unwrap_or(auth.user.0);
        check_links(state, auth, Some(owner), body.company_id, &body.contact_ids).await?;
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
        state: &AppState,
        ctx: &CommandContext,
        id: Uuid,
        if_version: Option<u64>,
        body: PatchDeal,
    ) -> Result<Guarded<DealCommand>, ApiError> {
        // Another workspace's deal is a 404 before its links are looked at.
        records::load::<Self>(state, &ctx.auth, id).await?;
        check_links(
            state,
            &ctx.auth,
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

    fn delete_command() -> DealCommand {
        DealCommand::Delete
    }

    fn restore_command() -> DealCommand {
        DealCommand::Restore
    }

    fn version(row: &Model) -> i64 {
        row.version
    }

    fn deleted(row: &Model) -> bool {
        row.deleted
    }

    /// A deal belongs to its `owner_id` (none: nobody's, so no Member's).
    fn owner(row: &Model) -> String {
        row.owner_id.map(|o| o.to_string()).unwrap_or_default()
    }
}

crate::record_routes! {
    record: Deals,
    tag: "deals",
    collection: "/deals",
    item: "/deals/{id}",
    restore: "/deals/{id}/restore",
    view: DealView,
    detail: DealView,
    create: CreateDeal,
    patch: PatchDeal,
}

/// Runs `command` on a deal the caller may change: 200 with the deal.
async fn run(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    command: DealCommand,
) -> Result<HttpResponse, ApiError> {
    let row = records::run::<Deals>(req, state, ctx, id, command).await?;
    Ok(records::answer::<Deals>(StatusCode::OK, row))
}

/// `GET /v1/deals` query. Unknown parameters are refused.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealQuery {
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Search: every word starts a word of the name.
    pub q: Option<String>,
    /// `name`, `-name`, `created_at` or `-created_at`; default `name`.
    #[param(pattern = "^-?(name|created_at)$")]
    pub sort: Option<String>,
    /// Include soft-deleted deals (Owner and Admin only).
    pub include_deleted: Option<bool>,
    /// Only deals of this pipeline.
    pub pipeline_id: Option<Uuid>,
    /// Only deals in this stage.
    pub stage_id: Option<Uuid>,
    /// `open`, `won` or `lost`.
    pub status: Option<String>,
    /// Only deals owned by this user: a user id, or `me`.
    pub owner: Option<String>,
    /// Only deals of this company.
    pub company_id: Option<Uuid>,
    /// Only deals linked to this contact.
    pub contact_id: Option<Uuid>,
    /// ISO 4217 code; required with an amount range.
    pub currency: Option<String>,
    /// Minor units, inclusive.
    pub amount_min: Option<i64>,
    /// Minor units, inclusive.
    pub amount_max: Option<i64>,
    /// Expected close date on or after (ISO 8601).
    pub close_after: Option<NaiveDate>,
    /// Expected close date on or before.
    pub close_before: Option<NaiveDate>,
    /// Only deals with this tag.
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
}

/// The deal filter a query names, checked.
///
/// # Errors
/// 403 for `include_deleted` without the right; 422 for bad parameters.
pub fn filter(auth: &AuthContext, q: DealQuery) -> Result<DealFilter, ApiError> {
    let include_deleted = q.include_deleted.unwrap_or(false);
    if include_deleted {
        auth.require(Action::ViewDeleted)?;
    }
    let paging = super::ListQuery {
        limit: q.limit,
        sort: q.sort.clone(),
        ..Default::default()
    };
    if let Some(status) = &q.status {
        if !matches!(status.as_str(), "open" | "won" | "lost") {
            return Err(ApiError::invalid("status", "must be open, won or lost"));
        }
    }
    let owner_id = match q.owner.as_deref() {
        None => None,
        Some("me") => Some(auth.user.0),
        Some(text) => Some(
            Uuid::parse_str(text).map_err(|_| ApiError::invalid("owner", "a user id or \"me\""))?,
        ),
    };
    let currency = match &q.currency {
        Some(code) => Some(
            crm_domain::Currency::from_code(code)
                .map_err(|e| ApiError::invalid("currency", e.to_string()))?
                .code()
                .to_owned(),
        ),
        None => None,
    };
    if (q.amount_min.is_some() || q.amount_max.is_some()) && currency.is_none() {
        return Err(ApiError::invalid(
            "currency",
            "an amount range needs a currency: amounts of different currencies do not compare",
        ));
    }
    let filter = DealFilter {
        common: crm_projections::queries::page::CommonFilter {
            q: q.q,
            tag: q.tag,
            created_after: q.created_after,
            created_before: q.created_before,
        },
        pipeline_id: q.pipeline_id,
        stage_id: q.stage_id,
        status: q.status,
        owner_id,
        company_id: q.company_id,
        contact_id: q.contact_id,
        currency,
        amount_min: q.amount_min,
        amount_max: q.amount_max,
        close_after: q.close_after,
        close_before: q.close_before,
        include_deleted,
        sort: paging.sort()?,
        limit: paging.limit()?,
        cursor: q.cursor,
    };
    Ok(filter)
}

/// A page of deals: filtered, sorted, keyset-paginated.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "deals",
    params(DealQuery),
    responses((status = 200, description = "A page of deals.", body = Page<DealView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/deals")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<DealQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(&auth, q)?;
    let page = deals::list(&state.pools.app, &auth.scope, &filter).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(DealView::from).collect(),
        next_cursor: page.next_cursor,
    }))
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

/// Moves an open deal to another open stage: 200 with the deal.
///
/// # Errors
/// 403, 404, 409 (closed or deleted), 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = MoveDeal,
    responses(
        (status = 200, description = "The moved deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/move")]
pub async fn move_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<MoveDeal>,
) -> Result<HttpResponse, ApiError> {
    records::ensure_owner::<Deals>(&state, &ctx.auth, *id).await?;
    records::load::<Deals>(&state, &ctx.auth, *id).await?;
    let stage = resolve_stage(&state, &ctx.auth, body.stage_id, None).await?;
    run(&req, &state, &ctx, *id, DealCommand::MoveStage(stage)).await
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

async fn close(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: Uuid,
    body: CloseDeal,
    kind: StageKind,
) -> Result<HttpResponse, ApiError> {
    records::ensure_owner::<Deals>(&state, &ctx.auth, id).await?;
    let deal = records::load::<Deals>(&state, &ctx.auth, id).await?;
    let stage = match body.stage_id {
        Some(stage) => resolve_stage(&state, &ctx.auth, stage, Some(deal.pipeline_id)).await?,
        None => first_stage(&state, &ctx.auth, deal.pipeline_id, kind).await?,
    };
    let at = ctx.metadata.occurred_at;
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
    run(&req, &state, &ctx, id, command).await
}

/// Wins a deal: 200 with the deal, closed as won.
///
/// # Errors
/// 403, 404, 409 (closed already), 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = CloseDeal,
    responses(
        (status = 200, description = "The deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed already or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/win")]
pub async fn win(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CloseDeal>,
) -> Result<HttpResponse, ApiError> {
    close(req, state, ctx, *id, body, StageKind::Won).await
}

/// Loses a deal (a `reason` is required): 200 with the deal, closed as lost.
///
/// # Errors
/// 403, 404, 409, 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = CloseDeal,
    responses(
        (status = 200, description = "The deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed already or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/lose")]
pub async fn lose(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CloseDeal>,
) -> Result<HttpResponse, ApiError> {
    close(req, state, ctx, *id, body, StageKind::Lost).await
}

/// Reopens a closed deal: 200 with the deal, open again.
///
/// # Errors
/// 403, 404, 409 (open already), 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = CloseDeal,
    responses(
        (status = 200, description = "The deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is open already or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/reopen")]
pub async fn reopen(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CloseDeal>,
) -> Result<HttpResponse, ApiError> {
    close(req, state, ctx, *id, body, StageKind::Open).await
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

/// Replaces a deal's line items; the amount becomes their sum. 200 with the deal.
///
/// # Errors
/// 403, 404, 409, 412, 422 (mixed currencies, overflow, bad lines).
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch),
    request_body = LineItemsBody,
    responses(
        (status = 200, description = "The deal with its new line items.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[put("/deals/{id}/line-items")]
pub async fn set_line_items(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<LineItemsBody>,
) -> Result<HttpResponse, ApiError> {
    records::ensure_owner::<Deals>(&state, &ctx.auth, *id).await?;
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
    run(&req, &state, &ctx, *id, DealCommand::SetLineItems(items)).await
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore)
        .service(move_stage)
        .service(win)
        .service(lose)
        .service(reopen)
        .service(set_line_items);
}
