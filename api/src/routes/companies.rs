//! `/v1/companies`: create, read, list, update, soft-delete, restore.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::company::{Amount, CompanyCommand, CompanyInput, CompanyPatch};
use crm_domain::{Action, EntityId, Guarded, Money};
use crm_projections::entities::company::Model;
use crm_projections::queries::companies::{self, CompanyFilter};
use crm_store::page::Page;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{if_match, record, ListQuery};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;

/// Money on the wire: `{"amount_minor": 123456, "currency": "EUR"}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"amount_minor": 123456, "currency": "EUR"}))]
pub struct MoneyView {
    /// Integer minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A company as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Normalised web domain.
    pub domain: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Country or region.
    pub country: Option<String>,
    /// ISO 4217 code of the company's currency.
    pub currency: Option<String>,
    /// Number of employees.
    pub employee_count: Option<i64>,
    /// Annual revenue in minor units.
    pub annual_revenue: Option<MoneyView>,
    /// Revenue text kept when it could not be made exact.
    pub annual_revenue_text: Option<String>,
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
    /// Creating actor (user id or system actor).
    pub created_by: String,
    /// Last changing actor.
    pub updated_by: String,
}

impl From<Model> for CompanyView {
    fn from(m: Model) -> Self {
        let annual_revenue = m.annual_revenue_minor.zip(m.annual_revenue_currency).map(
            |(amount_minor, currency)| MoneyView {
                amount_minor,
                currency,
            },
        );
        Self {
            id: m.id,
            name: m.name,
            domain: m.domain,
            industry: m.industry,
            country: m.country,
            currency: m.currency,
            employee_count: m.employee_count,
            annual_revenue,
            annual_revenue_text: m.annual_revenue_text,
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

/// `POST /v1/companies` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Acme Corp", "domain": "acme.example", "industry": "Manufacturing",
    "annual_revenue": {"amount_minor": 125000000, "currency": "EUR"}, "tags": ["customer"]}))]
#[serde(deny_unknown_fields)]
pub struct CreateCompany {
    /// Name, 1 to 200 characters.
    pub name: String,
    /// Web domain or URL (normalised to a domain).
    pub domain: Option<String>,
    /// Industry.
    pub industry: Option<String>,
    /// Country or region.
    pub country: Option<String>,
    /// ISO 4217 code.
    pub currency: Option<String>,
    /// Number of employees, at least 0.
    pub employee_count: Option<i64>,
    /// Annual revenue, at least 0.
    pub annual_revenue: Option<Money>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `PATCH /v1/companies/{id}` body: absent fields stay, `null` clears (RFC 7396).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"industry": "Logistics", "employee_count": null}))]
pub struct PatchCompany {
    /// New name (cannot be cleared).
    pub name: Option<String>,
    /// New domain or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub domain: Option<Option<String>>,
    /// New industry or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub industry: Option<Option<String>>,
    /// New country or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub country: Option<Option<String>>,
    /// New currency or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub currency: Option<Option<String>>,
    /// New employee count or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub employee_count: Option<Option<i64>>,
    /// New annual revenue or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub annual_revenue: Option<Option<Money>>,
    /// New revenue text or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub annual_revenue_text: Option<Option<String>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
}

async fn load(state: &AppState, auth: &AuthContext, id: Uuid) -> Result<Model, ApiError> {
    companies::get(&state.pools.app, &auth.scope, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Creates one record from a create body; returns its read row.
///
/// # Errors
/// 409, 422 and the store's errors.
pub(crate) async fn create_one(
    state: &AppState,
    ctx: &CommandContext,
    body: CreateCompany,
) -> Result<Model, ApiError> {
    let id = EntityId::new();
    let input = CompanyInput {
        name: body.name,
        domain: body.domain,
        industry: body.industry,
        country: body.country,
        currency: body.currency,
        employee_count: body.employee_count,
        annual_revenue: body.annual_revenue.map(Amount::Minor),
        annual_revenue_text: None,
        tags: body.tags,
    };
    state
        .commands
        .company(id, CompanyCommand::Create(input), &ctx.metadata)
        .await?;
    load(state, &ctx.auth, id.0).await
}

/// Creates a company: 201 with `Location` and the company.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "companies",
    request_body = CreateCompany,
    params(IdempotencyKey),
    responses((status = 201, description = "Created.", body = CompanyView, headers(
        ("ETag" = String, description = "The record's version, e.g. `\"1\"`."),
        ("Location" = String, description = "`/v1/companies/{id}`."),
    ))),
    extensions(("x-permission" = json!("create_records"))),
)]
#[post("/companies")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<CreateCompany>,
) -> Result<HttpResponse, ApiError> {
    let model = create_one(&state, &ctx, body).await?;
    let id = EntityId(model.id);
    let mut response = record(
        StatusCode::CREATED,
        model.version,
        &CompanyView::from(model),
    );
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/companies/{}", id.0)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// One company. With `?as_of=<RFC 3339>` or `?version=N` (Owner, Admin): the record as
/// it was then, rebuilt from its events (see [`super::history::past`]).
///
/// # Errors
/// 404 when the workspace has no such company.
#[utoipa::path(
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id."), super::history::PointInTime),
    responses((status = 200, description = "The company, or its past state.",
        body = super::history::CurrentOrPast<CompanyView>,
        headers(("ETag" = String, description = "The record's version (current state only)."))
    )),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/companies/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(point): Query<super::history::PointInTime>,
) -> Result<HttpResponse, ApiError> {
    if let Some(at) = point.at()? {
        return super::history::past(&state, &auth, crate::history::RecordType::Company, *id, at)
            .await;
    }
    let model = load(&state, &auth, *id).await?;
    if model.deleted && !auth.may(Action::ViewDeleted) {
        return Err(ApiError::NotFound);
    }
    Ok(record(
        StatusCode::OK,
        model.version,
        &CompanyView::from(model),
    ))
}

/// A page of companies (keyset pagination; `company_id` is not a filter here).
///
/// # Errors
/// 403 for `include_deleted` without the right; 422 for bad parameters.
#[utoipa::path(
    tag = "companies",
    params(ListQuery),
    responses((status = 200, description = "A page of companies.", body = Page<CompanyView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/companies")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(query): Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let include_deleted = query.include_deleted.unwrap_or(false);
    if include_deleted {
        auth.require(Action::ViewDeleted)?;
    }
    if query.company_id.is_some() {
        return Err(ApiError::invalid("company_id", "not a filter of companies"));
    }
    let filter = CompanyFilter {
        common: query.common(),
        include_deleted,
        sort: query.sort()?,
        limit: query.limit()?,
        cursor: query.cursor.clone(),
    };
    let page = companies::list(&state.pools.app, &auth.scope, &filter).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(CompanyView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Applies one patch body to record `id`, guarded by `if_version`; returns its read row.
///
/// # Errors
/// 404, 409, 412, 422 and the store's errors.
pub(crate) async fn update_one(
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    if_version: Option<u64>,
    body: PatchCompany,
) -> Result<Model, ApiError> {
    super::ensure_owner(state, &ctx.auth, super::Owned::Company, id).await?;
    let patch = CompanyPatch {
        name: body.name,
        domain: body.domain,
        industry: body.industry,
        country: body.country,
        currency: body.currency,
        employee_count: body.employee_count,
        annual_revenue: body.annual_revenue.map(|o| o.map(Amount::Minor)),
        annual_revenue_text: body.annual_revenue_text,
        tags: body.tags,
    };
    state
        .commands
        .company(
            EntityId(id),
            Guarded {
                if_version,
                command: CompanyCommand::Update(patch),
            },
            &ctx.metadata,
        )
        .await?;
    load(state, &ctx.auth, id).await
}

/// Changes a company (JSON merge patch, RFC 7396): 200 with the company.
///
/// # Errors
/// 403, 404, 409 (deleted), 412, 422.
#[utoipa::path(
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id."), IfMatch),
    request_body = PatchCompany,
    responses(
        (status = 200, description = "The changed company.", body = CompanyView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The company is deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[patch("/companies/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<PatchCompany>,
) -> Result<HttpResponse, ApiError> {
    let model = update_one(&state, &ctx, *id, if_match(&req)?, body).await?;
    Ok(record(
        StatusCode::OK,
        model.version,
        &CompanyView::from(model),
    ))
}

/// Soft-deletes a company: 204. It stays in history and can be restored.
///
/// # Errors
/// 403, 404, 409 (already deleted), 412.
#[utoipa::path(
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id."), IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "Already deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("delete_records"))),
)]
#[delete("/companies/{id}")]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    super::ensure_owner(&state, &ctx.auth, super::Owned::Company, *id).await?;
    state
        .commands
        .company(
            EntityId(*id),
            Guarded {
                if_version: if_match(&req)?,
                command: CompanyCommand::Delete,
            },
            &ctx.metadata,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Restores a soft-deleted company: 200 with the company.
///
/// # Errors
/// 403, 404, 409 (not deleted), 412.
#[utoipa::path(
    tag = "companies",
    params(("id" = Uuid, Path, description = "The company's id."), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "The restored company.", body = CompanyView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "Not deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("restore_records"))),
)]
#[post("/companies/{id}/restore")]
pub async fn restore(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .commands
        .company(
            EntityId(*id),
            Guarded {
                if_version: if_match(&req)?,
                command: CompanyCommand::Restore,
            },
            &ctx.metadata,
        )
        .await?;
    let model = load(&state, &ctx.auth, *id).await?;
    Ok(record(
        StatusCode::OK,
        model.version,
        &CompanyView::from(model),
    ))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore);
}
