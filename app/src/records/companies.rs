//! Companies: the view, the bodies, and the record type.

use chrono::{DateTime, Utc};
use crm_domain::company::{Amount, CompanyCommand, CompanyInput, CompanyPatch};
use crm_domain::{EntityId, EventMetadata, Guarded, Money};
use crm_projections::entities::company::{self, Model};
use crm_projections::queries::companies;
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::listing::{major, opt, text, Column, Listed};
use super::{MoneyView, Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;

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
    type Table = company::Entity;
    type View = CompanyView;
    type Detail = CompanyView;
    type Create = CreateCompany;
    type Patch = PatchCompany;
    type Command = CompanyCommand;

    async fn execute(
        s: Services<'_>,
        id: EntityId,
        command: Guarded<CompanyCommand>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Option<Model>, AppError> {
        s.commands
            .record::<crm_domain::company::Company, _, company::Entity>(id, command, meta, new)
            .await
    }

    async fn create_command(
        _: Services<'_>,
        _: &Caller,
        body: CreateCompany,
    ) -> Result<CompanyCommand, AppError> {
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
        _: Services<'_>,
        _: &Caller,
        _: Uuid,
        if_version: Option<u64>,
        body: PatchCompany,
    ) -> Result<Guarded<CompanyCommand>, AppError> {
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

    async fn detail(_: Services<'_>, _: &TenantScope, row: Model) -> Result<CompanyView, AppError> {
        Ok(row.into())
    }

    fn delete_command() -> CompanyCommand {
        CompanyCommand::Delete
    }

    fn restore_command() -> CompanyCommand {
        CompanyCommand::Restore
    }
}

impl Listed for Companies {
    type Filter = companies::CompanyFilter;
    const COLUMNS: &'static [Column<Model>] = &[
        Column {
            name: "id",
            cell: |c| c.id.to_string(),
        },
        Column {
            name: "name",
            cell: |c| text(Some(&c.name)),
        },
        Column {
            name: "domain",
            cell: |c| text(c.domain.as_deref()),
        },
        Column {
            name: "industry",
            cell: |c| text(c.industry.as_deref()),
        },
        Column {
            name: "country",
            cell: |c| text(c.country.as_deref()),
        },
        Column {
            name: "currency",
            cell: |c| opt(c.currency.as_ref()),
        },
        Column {
            name: "employee_count",
            cell: |c| opt(c.employee_count),
        },
        Column {
            name: "annual_revenue",
            cell: |c| major(c.annual_revenue_minor, c.annual_revenue_currency.as_deref()),
        },
        Column {
            name: "annual_revenue_minor",
            cell: |c| opt(c.annual_revenue_minor),
        },
        Column {
            name: "annual_revenue_currency",
            cell: |c| opt(c.annual_revenue_currency.as_ref()),
        },
        Column {
            name: "annual_revenue_text",
            cell: |c| text(c.annual_revenue_text.as_deref()),
        },
        Column {
            name: "tags",
            cell: |c| text(Some(&c.tags.join(";"))),
        },
        Column {
            name: "deleted",
            cell: |c| c.deleted.to_string(),
        },
        Column {
            name: "created_at",
            cell: |c| c.created_at.to_rfc3339(),
        },
        Column {
            name: "updated_at",
            cell: |c| c.updated_at.to_rfc3339(),
        },
    ];

    async fn page(
        db: &DatabaseConnection,
        scope: &TenantScope,
        filter: &Self::Filter,
    ) -> Result<Page<Model>, ListError> {
        companies::list(db, scope, filter).await
    }

    fn paged(filter: &Self::Filter, limit: u64, cursor: Option<String>) -> Self::Filter {
        companies::CompanyFilter {
            limit: Some(limit),
            cursor,
            ..filter.clone()
        }
    }
}
