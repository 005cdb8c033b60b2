//! Reads of the `companies` table.

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::page::{keyset_page, CommonFilter, Sort};
use crate::entities::company::{self, Column as C};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// What a company list asks for.
#[derive(Debug, Clone, Default)]
pub struct CompanyFilter {
    /// Search, tag and creation-time conditions.
    pub common: CommonFilter,
    /// Include soft-deleted companies.
    pub include_deleted: bool,
    /// Sort order.
    pub sort: Sort,
    /// Page size (clamped to 1..=200).
    pub limit: Option<u64>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// A page of the tenant's companies.
///
/// # Errors
/// [`ListError`].
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
    filter: &CompanyFilter,
) -> Result<Page<company::Model>, ListError> {
    let txn = scope.read(db).await?;
    let mut select = company::Entity::find().filter(C::TenantId.eq(scope.tenant().0));
    if !filter.include_deleted {
        select = select.filter(C::Deleted.eq(false));
    }
    select = filter.common.apply(select);
    let page = keyset_page(
        &txn,
        select,
        filter.sort,
        filter.cursor.as_deref(),
        filter.limit,
        (C::SortName, C::CreatedAt, C::Id),
        |row| (row.sort_name.clone(), row.created_at, row.id),
    )
    .await?;
    txn.commit().await?;
    Ok(page)
}

/// A light index of the tenant's companies for an import: (id, name, domain, deleted).
///
/// # Errors
/// Any database error.
pub async fn index(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<(Uuid, String, Option<String>, bool)>, DbErr> {
    let txn = scope.read(db).await?;
    let rows: Vec<(Uuid, String, Option<String>, bool)> = company::Entity::find()
        .select_only()
        .columns([C::Id, C::Name, C::Domain, C::Deleted])
        .filter(C::TenantId.eq(scope.tenant().0))
        .into_tuple()
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows)
}
