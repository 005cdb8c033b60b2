//! `/v1/companies`: create, read, list, update, soft-delete, restore.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::company::{Amount, CompanyCommand, CompanyInput, CompanyPatch};
use crm_domain::{Action, EntityId, EventMetadata, Guarded, Money};
use crm_projections::entities::company::Model;
use crm_projections::queries::companies::{self, CompanyFilter};
use crm_projections::queries::Page;
use crm_projections::TenantScope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::Record;
use super::ListQuery;
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Query;
use crate::history::RecordType;

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

/// Companies in the record machinery.
pub struct Companies;

impl Record for Companies {
    const TYPE: RecordType = RecordType::Company;
    type Row = Model;
    type View = CompanyView;
    type Create = CreateCompany;
    type Patch = PatchCompany;
    type Command = CompanyCommand;

    async fn find(
        state: &AppState,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<Model>, ApiError> {
        Ok(companies::get(&state.pools.app, scope, id).await?)
    }

    async fn execute(
        state: &AppState,
        id: EntityId,
        command: Guarded<CompanyCommand>,
        meta: &EventMetadata,
    ) -> Result<(), ApiError> {
        Ok(state.commands.company(id, command, meta).await?)
    }

    async fn create_command(
        _: &AppState,
        _: &CommandContext,
        body: CreateCompany,
    ) -> Result<CompanyCommand, ApiError> {
        Ok(CompanyCommand::Create(CompanyInput {
            name: body.name,
            domain: body.domain,
            industry: body.industry,
            country: body.country,
            currency: body.currency,
            employee_count: body.employee_count,
            annual_revenue: body.annual_revenue.map(Amount::Minor),
            annual_revenue_text: None,
            tags: body.tags,
        }))
    }

    async fn update_command(
        _: &AppState,
        _: &CommandContext,
        _: Uuid,
        if_version: Option<u64>,
        body: PatchCompany,
    ) -> Result<Guarded<CompanyCommand>, ApiError> {
        Ok(Guarded {
            if_version,
            command: CompanyCommand::Update(CompanyPatch {
                name: body.name,
                domain: body.domain,
                industry: body.industry,
                country: body.country,
                currency: body.currency,
                employee_count: body.employee_count,
                annual_revenue: body.annual_revenue.map(|o| o.map(Amount::Minor)),
                annual_revenue_text: body.annual_revenue_text,
                tags: body.tags,
            }),
        })
    }

    fn delete_command() -> CompanyCommand {
        CompanyCommand::Delete
    }

    fn restore_command() -> CompanyCommand {
        CompanyCommand::Restore
    }

    fn version(row: &Model) -> i64 {
        row.version
    }

    fn deleted(row: &Model) -> bool {
        row.deleted
    }

    fn owner(row: &Model) -> String {
        row.created_by.clone()
    }
}

crate::batch_routes! {
    record: Companies,
    tag: "companies",
    create_path: "/companies/batch/create",
    update_path: "/companies/batch/update",
    create: CreateCompany,
    patch: PatchCompany,
}

crate::record_routes! {
    record: Companies,
    tag: "companies",
    collection: "/companies",
    item: "/companies/{id}",
    restore: "/companies/{id}/restore",
    view: CompanyView,
    detail: CompanyView,
    create: CreateCompany,
    patch: PatchCompany,
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

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore)
        .service(batch_create)
        .service(batch_update);
}
