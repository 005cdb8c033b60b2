//! Reads of the `companies` table.

use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use super::records::RecordFilter;
use crate::entities::company;
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

/// The tenant's companies, deleted ones too, whose name is one of `names` (compared as
/// the database lowercases both) or whose domain is one of `domains`: `(id, name,
/// domain, live)`, `live` false for a deleted company or a merge's tombstone. An index
/// lookup per name
/// (`companies_by_name`) and per domain (`companies_by_domain`), so an import checks a
/// batch of rows against the workspace without holding its whole index in memory.
///
/// # Errors
/// Any database error.
pub async fn matching(
    db: &DatabaseConnection,
    scope: &TenantScope,
    names: Vec<String>,
    domains: Vec<String>,
) -> Result<Vec<(Uuid, String, Option<String>, bool)>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let txn = scope.read(db).await?;
    // One index lookup per name and per domain, whatever the statistics say: each
    // lookup is its own subquery (`OFFSET 0` keeps the planner from merging it into a join),
    // and the names are lowercased before, so the comparison is a plain `=` that
    // row-level security lets into the index condition (`lower()` is not leakproof).
    // Planned as one query, a batch was checked by scanning every row of the workspace
    // whenever the statistics were older than the import (1.4 s a batch at 200,000 rows,
    // against about 3 ms).
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.id, c.name, c.domain, NOT c.deleted AS live
               FROM unnest(ARRAY(SELECT lower(n) FROM unnest($2::text[]) AS n)) AS k(key)
              CROSS JOIN LATERAL (SELECT id, name, domain, deleted FROM companies
                                   WHERE tenant_id = $1 AND sort_name = k.key
                                   OFFSET 0) AS c
             UNION ALL
             SELECT c.id, c.name, c.domain, NOT c.deleted AS live
               FROM unnest($3::text[]) AS k(domain)
              CROSS JOIN LATERAL (SELECT id, name, domain, deleted FROM companies
                                   WHERE tenant_id = $1 AND domain = k.domain
                                   OFFSET 0) AS c",
            [scope.tenant().0.into(), names.into(), domains.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "id")?,
                row.try_get("", "name")?,
                row.try_get("", "domain")?,
                row.try_get("", "live")?,
            ))
        })
        .collect()
}

/// The tenant's live (not deleted) companies whose name is one of `names` (compared as
/// the database lowercases both): `(id, name)`. One index
/// lookup per name, as [`matching`], for an import that links its rows to companies.
///
/// # Errors
/// Any database error.
pub async fn live_named(
    db: &DatabaseConnection,
    scope: &TenantScope,
    names: Vec<String>,
) -> Result<Vec<(Uuid, String)>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.id, c.name
               FROM unnest(ARRAY(SELECT lower(n) FROM unnest($2::text[]) AS n)) AS k(key)
              CROSS JOIN LATERAL (SELECT id, name FROM companies
                                   WHERE tenant_id = $1 AND sort_name = k.key AND NOT deleted
                                   OFFSET 0) AS c",
            [scope.tenant().0.into(), names.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "name")?)))
        .collect()
}
