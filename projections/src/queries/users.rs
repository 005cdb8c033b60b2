//! Reads of the `users` and `workspaces` read models (and the owners' lock and the
//! workspace's two-factor requirement). Credentials, slugs, invitations and password
//! resets are `crm_access::credentials`.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement};
use uuid::Uuid;

use crate::entities::{user, workspace};
use crm_store::TenantScope;

/// One user of the tenant.
///
/// # Errors
/// Any database error.
pub async fn get_user(
    db: &DatabaseConnection,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Option<user::Model>, DbErr> {
    let txn = scope.read(db).await?;
    let row = user::Entity::find_by_id((scope.tenant().0, id))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// The tenant's workspace.
///
/// # Errors
/// Any database error.
pub async fn get_workspace(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Option<workspace::Model>, DbErr> {
    let txn = scope.read(db).await?;
    let row = workspace::Entity::find_by_id(scope.tenant().0)
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// The tenant's users, by email.
///
/// # Errors
/// Any database error.
pub async fn list_users(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<user::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let txn = scope.read(db).await?;
    let rows = user::Entity::find()
        .filter(user::Column::TenantId.eq(scope.tenant().0))
        .order_by_asc(user::Column::Email)
        .all(&txn)
        .await?;
    txn.commit().await?;
    Ok(rows)
}

/// Active owners of the tenant other than `except`.
///
/// # Errors
/// Any database error.
pub async fn other_active_owners(
    db: &DatabaseConnection,
    scope: &TenantScope,
    except: Uuid,
) -> Result<u64, DbErr> {
    use sea_orm::{ColumnTrait, PaginatorTrait, QueryFilter};
    let txn = scope.read(db).await?;
    let n = user::Entity::find()
        .filter(user::Column::TenantId.eq(scope.tenant().0))
        .filter(user::Column::Role.eq("owner"))
        .filter(user::Column::Status.eq("active"))
        .filter(user::Column::Id.ne(except))
        .count(&txn)
        .await?;
    txn.commit().await?;
    Ok(n)
}

/// Serialises changes of owners in a workspace (role changes and deactivations), so two
/// owners demoting each other at once cannot leave it with none: hold the returned
/// transaction until the change is done.
///
/// # Errors
/// Any database error.
pub async fn lock_owners(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock(hashtext('crm-owners:' || $1))",
        [scope.tenant().0.to_string().into()],
    ))
    .await?;
    Ok(txn)
}
