//! Reads of `pipelines` and `pipeline_stages`, and the pipeline summary.

use rust_decimal::Decimal;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Statement,
};
use uuid::Uuid;

use crate::entities::{deal, pipeline, pipeline_stage};
use crm_store::TenantScope;

/// A pipeline with its stages: active ones by position, then retired ones.
pub type PipelineWithStages = (pipeline::Model, Vec<pipeline_stage::Model>);

async fn stages_of<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    pipeline_id: Uuid,
) -> Result<Vec<pipeline_stage::Model>, DbErr> {
    pipeline_stage::Entity::find()
        .filter(pipeline_stage::Column::TenantId.eq(tenant))
        .filter(pipeline_stage::Column::PipelineId.eq(pipeline_id))
        .order_by_asc(pipeline_stage::Column::Retired)
        .order_by_asc(pipeline_stage::Column::Position)
        .all(conn)
        .await
}

/// Every pipeline of the tenant, oldest first, with stages.
///
/// # Errors
/// Any database error.
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<PipelineWithStages>, DbErr> {
    let txn = scope.read(db).await?;
    let tenant = scope.tenant().0;
    let pipelines = pipeline::Entity::find()
        .filter(pipeline::Column::TenantId.eq(tenant))
        .order_by_asc(pipeline::Column::CreatedAt)
        .order_by_asc(pipeline::Column::Id)
        .all(&txn)
        .await?;
    let mut out = Vec::with_capacity(pipelines.len());
    for p in pipelines {
        let stages = stages_of(&txn, tenant, p.id).await?;
        out.push((p, stages));
    }
    txn.commit().await?;
    Ok(out)
}

/// One pipeline with stages.
///
/// # Errors
/// Any database error.
pub async fn get(
    db: &DatabaseConnection,
    scope: &TenantScope,
    id: Uuid,
) -> Result<Option<PipelineWithStages>, DbErr> {
    let txn = scope.read(db).await?;
    let tenant = scope.tenant().0;
    let Some(p) = pipeline::Entity::find_by_id((tenant, id)).one(&txn).await? else {
        return Ok(None);
    };
    let stages = stages_of(&txn, tenant, id).await?;
    txn.commit().await?;
    Ok(Some((p, stages)))
}

/// One stage, active or retired.
///
/// # Errors
/// Any database error.
pub async fn stage(
    db: &DatabaseConnection,
    scope: &TenantScope,
    stage_id: Uuid,
) -> Result<Option<pipeline_stage::Model>, DbErr> {
    let txn = scope.read(db).await?;
    let row = pipeline_stage::Entity::find_by_id((scope.tenant().0, stage_id))
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// The first active stage of `kind` (`open`, `won`, `lost`) in a pipeline.
///
/// # Errors
/// Any database error.
pub async fn first_stage(
    db: &DatabaseConnection,
    scope: &TenantScope,
    pipeline_id: Uuid,
    kind: &str,
) -> Result<Option<pipeline_stage::Model>, DbErr> {
    let txn = scope.read(db).await?;
    let row = pipeline_stage::Entity::find()
        .filter(pipeline_stage::Column::TenantId.eq(scope.tenant().0))
        .filter(pipeline_stage::Column::PipelineId.eq(pipeline_id))
        .filter(pipeline_stage::Column::Kind.eq(kind))
        .filter(pipeline_stage::Column::Retired.eq(false))
        .order_by_asc(pipeline_stage::Column::Position)
        .one(&txn)
        .await?;
    txn.commit().await?;
    Ok(row)
}

/// Open, live deals in a stage.
///
/// # Errors
/// Any database error.
pub async fn open_deals_in_stage(
    db: &DatabaseConnection,
    scope: &TenantScope,
    stage_id: Uuid,
) -> Result<u64, DbErr> {
    let txn = scope.read(db).await?;
    let n = deal::Entity::find()
        .filter(deal::Column::TenantId.eq(scope.tenant().0))
        .filter(deal::Column::StageId.eq(stage_id))
        .filter(deal::Column::Status.eq("open"))
        .filter(deal::Column::Deleted.eq(false))
        .count(&txn)
        .await?;
    txn.commit().await?;
    Ok(n)
}

/// One (stage, currency) cell of a pipeline summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRow {
    /// The stage.
    pub stage_id: Uuid,
    /// Its name.
    pub name: String,
    /// `open`, `won` or `lost`.
    pub kind: String,
    /// Its win probability in percent.
    pub probability: Decimal,
    /// Whether it is retired (listed only while it holds deals).
    pub retired: bool,
    /// The currency of this cell; `None` for deals without an amount (and for a stage
    /// without deals).
    pub currency: Option<String>,
    /// Live deals in the cell.
    pub deals: i64,
    /// Sum of their amounts in minor units, exact (`numeric`, so it cannot overflow in SQL).
    pub total_minor: Option<Decimal>,
}

/// Per stage and per currency: live deals, and the exact sum of their amounts. Amounts of
/// different currencies are never added together. Active stages come first, in order.
///
/// # Errors
/// Any database error.
pub async fn summary(
    db: &DatabaseConnection,
    scope: &TenantScope,
    pipeline_id: Uuid,
) -> Result<Vec<SummaryRow>, DbErr> {
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT s.id, s.name, s.kind, s.probability, s.retired, s.position, d.currency,
                    count(d.id) AS deals, sum(d.amount_minor)::numeric AS total
               FROM pipeline_stages s
               LEFT JOIN deals d
                 ON d.tenant_id = s.tenant_id AND d.stage_id = s.id AND d.pipeline_id = s.pipeline_id AND NOT d.deleted
              WHERE s.tenant_id = $1 AND s.pipeline_id = $2
              GROUP BY s.id, s.name, s.kind, s.probability, s.retired, s.position, d.currency
             HAVING NOT s.retired OR count(d.id) > 0
              ORDER BY s.retired, s.position, d.currency NULLS LAST",
            [scope.tenant().0.into(), pipeline_id.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(SummaryRow {
                stage_id: r.try_get("", "id")?,
                name: r.try_get("", "name")?,
                kind: r.try_get("", "kind")?,
                probability: r.try_get("", "probability")?,
                retired: r.try_get("", "retired")?,
                currency: r.try_get("", "currency")?,
                deals: r.try_get("", "deals")?,
                total_minor: r.try_get("", "total")?,
            })
        })
        .collect()
}
