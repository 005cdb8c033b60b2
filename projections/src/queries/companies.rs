//! Reads of the `companies` table.

use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::records::RecordFilter;
use crate::entities::company::{self, Column as C};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// What a company list asks for: no conditions of its own.
pub type CompanyFilter = RecordFilter<()>;

/// A page of the tenant's companies.
///
/// # Errors
/// [`ListError`].
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
    filter: &CompanyFilter,
) -> Result<Page<company::Model>, ListError> {
    super::records::list::<company::Entity, _>(db, scope, filter).await
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
