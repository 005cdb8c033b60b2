//! The list of every record table sorted by name (companies, contacts, deals): one query,
//! the conditions all share ([`CommonFilter`], deleted rows or not), the conditions of the
//! type ([`Conditions`]), and a keyset page in name or creation order.

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Select};

use super::page::{keyset_page, CommonFilter, Sort};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// What a record list asks for; `X` holds the type's own conditions.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter<X> {
    /// Search, tag and creation-time conditions.
    pub common: CommonFilter,
    /// The type's own conditions.
    pub own: X,
    /// Include soft-deleted records.
    pub include_deleted: bool,
    /// Sort order.
    pub sort: Sort,
    /// A sort by a custom value instead of `sort`.
    pub custom_sort: Option<super::page::CustomSort>,
    /// Page size (clamped to 1..=200).
    pub limit: Option<u64>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

impl<X> RecordFilter<X> {
    /// The same list with the type's own conditions `own`.
    pub fn with<Y>(self, own: Y) -> RecordFilter<Y> {
        RecordFilter {
            common: self.common,
            own,
            include_deleted: self.include_deleted,
            sort: self.sort,
            custom_sort: self.custom_sort,
            limit: self.limit,
            cursor: self.cursor,
        }
    }
}

impl<X: Clone> RecordFilter<X> {
    /// The same filter at page size `limit`, from `cursor`.
    pub fn paged(&self, limit: u64, cursor: Option<String>) -> Self {
        Self {
            limit: Some(limit),
            cursor,
            ..self.clone()
        }
    }
}

/// A record table with a generated `sort_name` column: its keyset columns and key.
pub trait SortedByName: EntityTrait {
    /// `tenant_id`.
    fn tenant_column() -> Self::Column;
    /// `deleted`.
    fn deleted_column() -> Self::Column;
    /// `(sort_name, created_at, id)`: the keyset's columns.
    fn key_columns() -> (Self::Column, Self::Column, Self::Column);
    /// A row's `(sort_name, created_at, id)`.
    fn key(row: &Self::Model) -> (String, chrono::DateTime<chrono::Utc>, uuid::Uuid);
    /// A row's custom values (keyed by API key) and id.
    fn custom(row: &Self::Model) -> (&serde_json::Value, uuid::Uuid);
}

/// A record type's own list conditions on its table `E`.
pub trait Conditions<E: EntityTrait> {
    /// `select` with the conditions added.
    fn apply(&self, select: Select<E>) -> Select<E>;
}

/// No conditions of the type's own.
impl<E: EntityTrait> Conditions<E> for () {
    fn apply(&self, select: Select<E>) -> Select<E> {
        select
    }
}

/// A page of the tenant's records of table `E` that `filter` selects.
///
/// # Errors
/// [`ListError`].
pub async fn list<E, X>(
    db: &DatabaseConnection,
    scope: &TenantScope,
    filter: &RecordFilter<X>,
) -> Result<Page<E::Model>, ListError>
where
    E: SortedByName,
    X: Conditions<E>,
{
    let txn = scope.read(db).await?;
    let mut select = E::find().filter(E::tenant_column().eq(scope.tenant().0));
    if !filter.include_deleted {
        select = select.filter(E::deleted_column().eq(false));
    }
    select = filter.common.apply(select, scope.tenant().0);
    select = filter.own.apply(select);
    let page = match &filter.custom_sort {
        Some(sort) => {
            super::page::custom_keyset_page(
                &txn,
                select,
                sort,
                filter.cursor.as_deref(),
                filter.limit,
                E::key_columns().2,
                E::custom,
            )
            .await?
        }
        None => {
            keyset_page(
                &txn,
                select,
                filter.sort,
                filter.cursor.as_deref(),
                filter.limit,
                E::key_columns(),
                E::key,
            )
            .await?
        }
    };
    txn.commit().await?;
    Ok(page)
}
