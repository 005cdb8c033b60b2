//! The record tables as declared once (`crm_projections::entities::table`) and as the
//! migrations made them agree: every declared column exists with the same nullability,
//! and every column of the table is declared. A field added to a migration but not to the
//! declaration (or the other way round) fails here, before any request reads it. Columns
//! the database generates (sort keys, search vectors) are left out: a declaration names
//! one only to read it.

use crm_projections::entities::{activity, company, contact, deal};
use sea_orm::{ColumnTrait, EntityName, EntityTrait, IdenStatic, Iterable};
use sqlx::PgPool;

use crate::helpers::spawn_app;

/// `(name, nullable)` of each column of `table` in the migrated database that it does not
/// generate, sorted.
async fn migrated(pool: &PgPool, table: &str) -> Vec<(String, bool)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, is_nullable::text FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name = $1 AND is_generated = 'NEVER'
          ORDER BY column_name",
    )
    .bind(table)
    .fetch_all(pool)
    .await
    .unwrap_or_else(|e| panic!("columns of {table}: {e}"));
    rows.into_iter()
        .map(|(n, null)| (n, null == "YES"))
        .collect()
}

/// `(name, nullable)` of each column `E` declares but `sort_name` (generated), sorted.
fn declared<E: EntityTrait>() -> Vec<(String, bool)> {
    let mut columns: Vec<(String, bool)> = E::Column::iter()
        .filter(|c| c.as_str() != "sort_name")
        .map(|c| (c.as_str().to_owned(), c.def().is_null()))
        .collect();
    columns.sort();
    columns
}

#[tokio::test]
async fn every_record_table_is_declared_as_migrated() {
    let app = spawn_app().await;
    let pool = app.pool_as(None).await;
    for (table, declared) in [
        (company::Entity.table_name(), declared::<company::Entity>()),
        (contact::Entity.table_name(), declared::<contact::Entity>()),
        (deal::Entity.table_name(), declared::<deal::Entity>()),
        (
            activity::Entity.table_name(),
            declared::<activity::Entity>(),
        ),
    ] {
        let migrated = migrated(&pool, table).await;
        assert!(migrated.len() > 10, "{table} has no columns: {migrated:?}");
        assert_eq!(
            declared, migrated,
            "{table}: declared (left) and migrated (right)"
        );
    }
}
