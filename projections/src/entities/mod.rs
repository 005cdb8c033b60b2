//! sea-orm entities of the read tables (see `migrations/src/sql/000004_read_models.up.sql`).

pub mod activity;
pub mod company;
pub mod contact;
pub mod deal;
pub mod pipeline;
pub mod pipeline_stage;
pub mod table;
pub mod user;
pub mod workspace;

/// What every record row (companies, contacts, deals, activities) has: its aggregate
/// version, its soft-delete flag, and who created it.
pub trait RecordRow {
    /// The aggregate version the row reflects (also the `ETag`).
    fn version(&self) -> i64;
    /// Whether the record is soft-deleted.
    fn deleted(&self) -> bool;
    /// The principal that created it (a user, API key or system actor id).
    fn created_by(&self) -> &str;
    /// The record's id.
    fn id(&self) -> uuid::Uuid;
}

macro_rules! record_row {
    ($($module:ident),*) => {$(
        impl RecordRow for $module::Model {
            fn version(&self) -> i64 {
                self.version
            }
            fn deleted(&self) -> bool {
                self.deleted
            }
            fn created_by(&self) -> &str {
                &self.created_by
            }
            fn id(&self) -> uuid::Uuid {
                self.id
            }
        }
    )*};
}

record_row!(activity, company, contact, deal);

/// Record tables listed by name: keyed by `(sort_name, created_at, id)`.
macro_rules! sorted_by_name {
    ($($module:ident),*) => {$(
        impl crate::queries::records::SortedByName for $module::Entity {
            fn tenant_column() -> $module::Column {
                $module::Column::TenantId
            }
            fn deleted_column() -> $module::Column {
                $module::Column::Deleted
            }
            fn key_columns() -> ($module::Column, $module::Column, $module::Column) {
                ($module::Column::SortName, $module::Column::CreatedAt, $module::Column::Id)
            }
            fn key(row: &$module::Model) -> (String, chrono::DateTime<chrono::Utc>, uuid::Uuid) {
                (row.sort_name.clone(), row.created_at, row.id)
            }
            fn custom(row: &$module::Model) -> (&serde_json::Value, uuid::Uuid) {
                (&row.custom, row.id)
            }
        }
    )*};
}

sorted_by_name!(company, contact, deal);
