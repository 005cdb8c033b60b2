//! Tenant-scoped reads of the read models. Every function takes a
//! [`crm_store::TenantScope`], filters on its tenant and runs inside the scope's
//! transaction, so row-level security backs the filter.

pub mod activities;
pub mod companies;
pub mod contacts;
pub mod deals;
pub mod duplicates;
pub mod page;
pub mod pipelines;
pub mod records;
pub mod users;

pub use page::{Cursor, Sort, SortField};

use sea_orm::{DatabaseConnection, DbErr, EntityTrait, PrimaryKeyTrait};
use uuid::Uuid;

/// One row, deleted or not, of a read table keyed by `(tenant_id, id)`; `None` when the
/// scope's workspace has no such row (another workspace's id included).
///
/// # Errors
/// Any database error.
pub async fn row<E>(
    db: &DatabaseConnection,
    scope: &crm_store::TenantScope,
    id: Uuid,
) -> Result<Option<E::Model>, DbErr>
where
    E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = (Uuid, Uuid)>>,
{
    let txn = scope.read(db).await?;
    let row = E::find_by_id((scope.tenant().0, id)).one(&txn).await?;
    txn.commit().await?;
    Ok(row)
}

/// The rows of `ids`, deleted or not, of a read table keyed by `(tenant_id, id)`, in no
/// particular order; ids the scope's workspace does not have are left out.
///
/// # Errors
/// Any database error.
pub async fn rows<E>(
    db: &DatabaseConnection,
    scope: &crm_store::TenantScope,
    ids: Vec<Uuid>,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = (Uuid, Uuid)>>,
{
    use sea_orm::QueryFilter;
    let txn = scope.read(db).await?;
    let rows = E::find()
        .filter(sea_orm::sea_query::Expr::cust_with_values(
            "tenant_id = $1 AND id = ANY($2)",
            [
                sea_orm::Value::from(scope.tenant().0),
                sea_orm::Value::from(ids),
            ],
        ))
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows)
}
