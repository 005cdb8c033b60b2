//! Reads of the `deals` table.

use chrono::NaiveDate;
use sea_orm::sea_query::extension::postgres::PgBinOper;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::page::{keyset_page, CommonFilter, Sort};
use crate::entities::deal::{self, Column as D};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// What a deal list asks for. Every filter is optional; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct DealFilter {
    /// Search, tag and creation-time conditions.
    pub common: CommonFilter,
    /// In this pipeline.
    pub pipeline_id: Option<Uuid>,
    /// In this stage.
    pub stage_id: Option<Uuid>,
    /// `open`, `won` or `lost`.
    pub status: Option<String>,
    /// Owned by this user.
    pub owner_id: Option<Uuid>,
    /// Of this company.
    pub company_id: Option<Uuid>,
    /// With this contact.
    pub contact_id: Option<Uuid>,
    /// In this currency (required by the amount range).
    pub currency: Option<String>,
    /// Amount at least this many minor units.
    pub amount_min: Option<i64>,
    /// Amount at most this many minor units.
    pub amount_max: Option<i64>,
    /// Expected to close on or after.
    pub close_after: Option<NaiveDate>,
    /// Expected to close on or before.
    pub close_before: Option<NaiveDate>,
    /// Include soft-deleted deals.
    pub include_deleted: bool,
    /// Sort order.
    pub sort: Sort,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// A page of the tenant's deals.
///
/// # Errors
/// [`ListError`].
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
    f: &DealFilter,
) -> Result<Page<deal::Model>, ListError> {
    let txn = scope.read(db).await?;
    let mut select = deal::Entity::find().filter(D::TenantId.eq(scope.tenant().0));
    if !f.include_deleted {
        select = select.filter(D::Deleted.eq(false));
    }
    select = f.common.apply(select);
    if let Some(v) = f.pipeline_id {
        select = select.filter(D::PipelineId.eq(v));
    }
    if let Some(v) = f.stage_id {
        select = select.filter(D::StageId.eq(v));
    }
    if let Some(v) = &f.status {
        select = select.filter(D::Status.eq(v.clone()));
    }
    if let Some(v) = f.owner_id {
        select = select.filter(D::OwnerId.eq(v));
    }
    if let Some(v) = f.company_id {
        select = select.filter(D::CompanyId.eq(v));
    }
    if let Some(v) = f.contact_id {
        select = select.filter(Expr::col(D::ContactIds).binary(
            PgBinOper::Contains,
            Expr::val(vec![v]).cast_as(sea_orm::sea_query::Alias::new("uuid[]")),
        ));
    }
    if let Some(v) = &f.currency {
        select = select.filter(D::Currency.eq(v.clone()));
    }
    if let Some(v) = f.amount_min {
        select = select.filter(D::AmountMinor.gte(v));
    }
    if let Some(v) = f.amount_max {
        select = select.filter(D::AmountMinor.lte(v));
    }
    if let Some(v) = f.close_after {
        select = select.filter(D::ExpectedCloseDate.gte(v));
    }
    if let Some(v) = f.close_before {
        select = select.filter(D::ExpectedCloseDate.lte(v));
    }
    let page = keyset_page(
        &txn,
        select,
        f.sort,
        f.cursor.as_deref(),
        f.limit,
        (D::SortName, D::CreatedAt, D::Id),
        |row| (row.sort_name.clone(), row.created_at, row.id),
    )
    .await?;
    txn.commit().await?;
    Ok(page)
}

/// A light index of the tenant's deals for an import: (name, company).
///
/// # Errors
/// Any database error.
pub async fn index(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<(String, Option<Uuid>)>, DbErr> {
    use sea_orm::QuerySelect;
    let txn = scope.read(db).await?;
    let rows = deal::Entity::find()
        .select_only()
        .columns([D::Name, D::CompanyId])
        .filter(D::TenantId.eq(scope.tenant().0))
        .into_tuple()
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows)
}
