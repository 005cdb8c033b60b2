//! Reads of the `contacts` table.

use sea_orm::{DatabaseConnection, DbErr, QueryFilter, Select};
use uuid::Uuid;

use super::records::{Conditions, RecordFilter};
use crate::entities::contact;
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// What a contact list asks for.
pub type ContactFilter = RecordFilter<ContactConditions>;

/// A contact list's own conditions.
#[derive(Debug, Clone, Default)]
pub struct ContactConditions {
    /// Only contacts of this company: their primary company, or an associated one.
    pub company_id: Option<Uuid>,
}

impl Conditions<contact::Entity> for ContactConditions {
    fn apply(&self, select: Select<contact::Entity>) -> Select<contact::Entity> {
        match self.company_id {
            // The primary company, or any associated one.
            Some(company) => select.filter(sea_orm::sea_query::Expr::cust_with_values(
                "(contacts.company_id = $1 OR EXISTS (SELECT 1 FROM contact_companies cc
                   WHERE cc.tenant_id = contacts.tenant_id AND cc.contact_id = contacts.id AND cc.company_id = $2))",
                [company, company],
            )),
            None => select,
        }
    }
}

/// A page of the tenant's contacts.
///
/// # Errors
/// [`ListError`].
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
    filter: &ContactFilter,
) -> Result<Page<contact::Model>, ListError> {
    super::records::list::<contact::Entity, _>(db, scope, filter).await
}

/// The tenant's contacts whose sort name starts with one of `names` (each a "first last"
/// text, compared as the database lowercases and trims both):
/// `(first name, last name, company)`. A superset of the contacts of those names, which
/// the caller compares exactly. One index range per name (`contacts_by_name`, whose sort
/// name is "first last email"), so an import checks a batch of rows without holding
/// every contact of the workspace in memory. The bounds are computed before the lookup,
/// so row-level security lets the leakproof `>=` and `<` into the index condition.
///
/// # Errors
/// Any database error.
pub async fn named(
    db: &DatabaseConnection,
    scope: &TenantScope,
    names: Vec<String>,
) -> Result<Vec<(Option<String>, Option<String>, Option<Uuid>)>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.first_name, c.last_name, c.company_id
               FROM unnest(ARRAY(SELECT lower(btrim(n)) FROM unnest($2::text[]) AS n),
                           ARRAY(SELECT lower(btrim(n)) || chr(1114111)
                                   FROM unnest($2::text[]) AS n)) AS k(lo, hi)
              CROSS JOIN LATERAL (SELECT first_name, last_name, company_id FROM contacts
                                   WHERE tenant_id = $1 AND sort_name >= k.lo
                                     AND sort_name < k.hi
                                   OFFSET 0) AS c",
            [scope.tenant().0.into(), names.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get("", "first_name")?,
                row.try_get("", "last_name")?,
                row.try_get("", "company_id")?,
            ))
        })
        .collect()
}

/// Which of `ids` are the tenant's live contacts (not deleted, no merge's tombstone):
/// one primary-key lookup each.
///
/// # Errors
/// Any database error.
pub async fn live(
    db: &DatabaseConnection,
    scope: &TenantScope,
    ids: Vec<Uuid>,
) -> Result<std::collections::HashSet<Uuid>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    if ids.is_empty() {
        return Ok(std::collections::HashSet::new());
    }
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM contacts WHERE tenant_id = $1 AND id = ANY($2) AND NOT deleted",
            [scope.tenant().0.into(), ids.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter().map(|row| row.try_get("", "id")).collect()
}

/// The companies a contact is associated with, and its role at each, oldest link first
/// is not tracked: ordered by company id for a stable answer.
///
/// # Errors
/// Any database error.
pub async fn companies_of(
    db: &DatabaseConnection,
    scope: &TenantScope,
    contact_id: Uuid,
) -> Result<Vec<(Uuid, Option<String>)>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT company_id, role FROM contact_companies WHERE tenant_id = $1 AND contact_id = $2 ORDER BY company_id",
            [scope.tenant().0.into(), contact_id.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| Ok((r.try_get("", "company_id")?, r.try_get("", "role")?)))
        .collect()
}
