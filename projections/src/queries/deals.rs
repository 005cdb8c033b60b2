//! Reads of the `deals` table.

use chrono::NaiveDate;
use sea_orm::sea_query::extension::postgres::PgBinOper;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, QueryFilter, Select};
use uuid::Uuid;

use super::records::{Conditions, RecordFilter};
use crate::entities::deal::{self, Column as D};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// What a deal list asks for.
pub type DealFilter = RecordFilter<DealConditions>;

/// A deal list's own conditions. Every one is optional; they combine with AND.
#[derive(Debug, Clone, Default)]
pub struct DealConditions {
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
}

impl Conditions<deal::Entity> for DealConditions {
    fn apply(&self, mut select: Select<deal::Entity>) -> Select<deal::Entity> {
        if let Some(v) = self.pipeline_id {
            select = select.filter(D::PipelineId.eq(v));
        }
        if let Some(v) = self.stage_id {
            select = select.filter(D::StageId.eq(v));
        }
        if let Some(v) = &self.status {
            select = select.filter(D::Status.eq(v.clone()));
        }
        if let Some(v) = self.owner_id {
            select = select.filter(D::OwnerId.eq(v));
        }
        if let Some(v) = self.company_id {
            select = select.filter(D::CompanyId.eq(v));
        }
        if let Some(v) = self.contact_id {
            select = select.filter(Expr::col(D::ContactIds).binary(
                PgBinOper::Contains,
                Expr::val(vec![v]).cast_as(sea_orm::sea_query::Alias::new("uuid[]")),
            ));
        }
        if let Some(v) = &self.currency {
            select = select.filter(D::Currency.eq(v.clone()));
        }
        if let Some(v) = self.amount_min {
            select = select.filter(D::AmountMinor.gte(v));
        }
        if let Some(v) = self.amount_max {
            select = select.filter(D::AmountMinor.lte(v));
        }
        if let Some(v) = self.close_after {
            select = select.filter(D::ExpectedCloseDate.gte(v));
        }
        if let Some(v) = self.close_before {
            select = select.filter(D::ExpectedCloseDate.lte(v));
        }
        select
    }
}

/// A page of the tenant's deals.
///
/// # Errors
/// [`ListError`].
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
    filter: &DealFilter,
) -> Result<Page<deal::Model>, ListError> {
    super::records::list::<deal::Entity, _>(db, scope, filter).await
}

/// The tenant's deals whose name is one of `names` (compared as the database lowercases
/// both): `(name, company)`. One index lookup per name
/// (`deals_by_name`), so an import checks a batch of rows without holding every deal of
/// the workspace in memory (see `companies::matching` for the query's shape).
///
/// # Errors
/// Any database error.
pub async fn named(
    db: &DatabaseConnection,
    scope: &TenantScope,
    names: Vec<String>,
) -> Result<Vec<(String, Option<Uuid>)>, DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT d.name, d.company_id
               FROM unnest(ARRAY(SELECT lower(n) FROM unnest($2::text[]) AS n)) AS k(key)
              CROSS JOIN LATERAL (SELECT name, company_id FROM deals
                                   WHERE tenant_id = $1 AND sort_name = k.key
                                   OFFSET 0) AS d",
            [scope.tenant().0.into(), names.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "name")?, row.try_get("", "company_id")?)))
        .collect()
}
