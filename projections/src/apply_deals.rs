//! Applying pipeline and deal events to their read tables (see [`crate::apply`] for the
//! version rule). A pipeline event that touches stage rows runs in its own transaction
//! (a savepoint inside the catch-up projector's), so the version and the stages move
//! together.

use crm_domain::deal::{DealEvent, DealFields};
use crm_domain::pipeline::{PipelineEvent, Stage};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, DbErr, Statement, TransactionTrait};

use crate::apply::{insert_first, set_deleted, update_next};
use crate::entities::table::sets_of;
use crate::entities::{deal, pipeline, pipeline_stage};
use crm_store::event::StoredEvent;

fn stage_row(ev: &StoredEvent, stage: &Stage, position: i32) -> pipeline_stage::ActiveModel {
    pipeline_stage::ActiveModel {
        tenant_id: Set(ev.stream.tenant.0),
        id: Set(stage.id.0),
        pipeline_id: Set(ev.stream.entity.0),
        name: Set(stage.name.clone()),
        probability: Set(stage.probability),
        kind: Set(stage.kind.as_str().to_owned()),
        position: Set(position),
        retired: Set(false),
    }
}

async fn exec<C: ConnectionTrait>(
    conn: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<u64, DbErr> {
    Ok(conn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?
        .rows_affected())
}

/// Renumbers the active stages of a pipeline 0, 1, 2… in their current order.
async fn renumber<C: ConnectionTrait>(conn: &C, ev: &StoredEvent) -> Result<(), DbErr> {
    exec(
        conn,
        "UPDATE pipeline_stages s SET position = o.n
           FROM (SELECT id, row_number() OVER (ORDER BY position, id) - 1 AS n
                   FROM pipeline_stages WHERE tenant_id = $1 AND pipeline_id = $2 AND NOT retired) o
          WHERE s.tenant_id = $1 AND s.id = o.id",
        vec![ev.stream.tenant.0.into(), ev.stream.entity.0.into()],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn apply_pipeline<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &PipelineEvent,
) -> Result<u64, DbErr> {
    let txn = conn.begin().await?;
    let tenant = ev.stream.tenant.0;
    let affected = match e {
        PipelineEvent::PipelineCreated { name, stages } => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            let row = pipeline::ActiveModel {
                tenant_id: Set(tenant),
                id: Set(ev.stream.entity.0),
                name: Set(name.clone()),
                version: Set(1),
                created_at: Set(ev.metadata.occurred_at),
                updated_at: Set(ev.metadata.occurred_at),
            };
            let inserted = insert_first(
                &txn,
                ev.stream.entity.0,
                row,
                [pipeline::Column::TenantId, pipeline::Column::Id],
            )
            .await?;
            if inserted == 1 {
                for (i, stage) in stages.iter().enumerate() {
                    let position = i32::try_from(i).unwrap_or(i32::MAX);
                    insert_first(
                        &txn,
                        stage.id.0,
                        stage_row(ev, stage, position),
                        [pipeline_stage::Column::TenantId, pipeline_stage::Column::Id],
                    )
                    .await?;
                }
            }
            inserted
        }
        PipelineEvent::PipelineRenamed { name } => {
            update_next::<_, pipeline::Entity>(
                &txn,
                ev,
                vec![(pipeline::Column::Name, Expr::value(name.clone()))],
            )
            .await?
        }
        PipelineEvent::StageAdded { stage, position } => {
            let moved = update_next::<_, pipeline::Entity>(&txn, ev, vec![]).await?;
            if moved == 1 {
                let position = i32::try_from(*position).unwrap_or(i32::MAX);
                exec(
                    &txn,
                    "UPDATE pipeline_stages SET position = position + 1 WHERE tenant_id = $1 AND pipeline_id = $2 AND NOT retired AND position >= $3",
                    vec![tenant.into(), ev.stream.entity.0.into(), position.into()],
                )
                .await?;
                insert_first(
                    &txn,
                    stage.id.0,
                    stage_row(ev, stage, position),
                    [pipeline_stage::Column::TenantId, pipeline_stage::Column::Id],
                )
                .await?;
                renumber(&txn, ev).await?;
            }
            moved
        }
        PipelineEvent::StageUpdated {
            stage_id,
            name,
            probability,
        } => {
            let moved = update_next::<_, pipeline::Entity>(&txn, ev, vec![]).await?;
            if moved == 1 {
                exec(
                    &txn,
                    "UPDATE pipeline_stages SET name = coalesce($3, name), probability = coalesce($4, probability) WHERE tenant_id = $1 AND id = $2",
                    vec![tenant.into(), stage_id.0.into(), name.clone().into(), (*probability).into()],
                )
                .await?;
            }
            moved
        }
        PipelineEvent::StagesReordered { order } => {
            let moved = update_next::<_, pipeline::Entity>(&txn, ev, vec![]).await?;
            if moved == 1 {
                for (i, id) in order.iter().enumerate() {
                    let position = i32::try_from(i).unwrap_or(i32::MAX);
                    exec(
                        &txn,
                        "UPDATE pipeline_stages SET position = $3 WHERE tenant_id = $1 AND id = $2",
                        vec![tenant.into(), id.0.into(), position.into()],
                    )
                    .await?;
                }
            }
            moved
        }
        PipelineEvent::StageRetired { stage_id } => {
            let moved = update_next::<_, pipeline::Entity>(&txn, ev, vec![]).await?;
            if moved == 1 {
                exec(
                    &txn,
                    "UPDATE pipeline_stages SET retired = true WHERE tenant_id = $1 AND id = $2",
                    vec![tenant.into(), stage_id.0.into()],
                )
                .await?;
                renumber(&txn, ev).await?;
            }
            moved
        }
    };
    txn.commit().await?;
    Ok(affected)
}

/// The `deals` row a deal's `DealCreated` (its first event) makes.
pub(crate) fn deal_row(ev: &StoredEvent, fields: &DealFields) -> deal::ActiveModel {
    deal::ActiveModel {
        pipeline_id: Set(fields.pipeline_id.0),
        stage_id: Set(fields.stage_id.0),
        status: Set("open".to_owned()),
        close_reason: Set(None),
        closed_at: Set(None),
        line_items: Set(serde_json::json!([])),
        custom: Set(crate::custom::column(&fields.custom)),
        ..deal::ActiveModel::created(ev, fields.clone())
    }
}

pub(crate) async fn apply_deal<C: ConnectionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &DealEvent,
) -> Result<u64, DbErr> {
    use deal::Column as D;
    let by = ev.metadata.actor.id();
    let money = |m: Option<crm_domain::Money>| {
        (
            m.map(|m| m.amount_minor),
            m.map(|m| m.currency.code().to_owned()),
        )
    };
    match e {
        DealEvent::DealCreated(fields) => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            crate::apply::insert_record(
                conn,
                ev,
                deal_row(ev, fields),
                [D::TenantId, D::Id],
                (crm_domain::fields::RecordKind::Deal, &fields.custom),
            )
            .await
        }
        DealEvent::DealUpdated(changes) => {
            let mut sets = sets_of(&deal::ActiveModel::changed(changes.clone()));
            sets.push((D::UpdatedBy, Expr::value(by)));
            if !changes.custom.is_empty() {
                sets.push((
                    D::Custom,
                    crate::custom::merge(crm_domain::fields::RecordKind::Deal, &changes.custom),
                ));
            }
            let custom = (crm_domain::fields::RecordKind::Deal, &changes.custom);
            crate::apply::update_record::<_, deal::Entity>(conn, ev, sets, custom).await
        }
        DealEvent::DealStageChanged {
            pipeline_id,
            stage_id,
        }
        | DealEvent::DealReopened {
            pipeline_id,
            stage_id,
        } => {
            let sets = vec![
                (D::PipelineId, Expr::value(pipeline_id.0)),
                (D::StageId, Expr::value(stage_id.0)),
                (D::Status, Expr::value("open")),
                (D::CloseReason, Expr::value(Option::<String>::None)),
                (
                    D::ClosedAt,
                    Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
                ),
                (D::UpdatedBy, Expr::value(by)),
            ];
            update_next::<_, deal::Entity>(conn, ev, sets).await
        }
        DealEvent::DealWon {
            pipeline_id,
            stage_id,
            closed_at,
            ..
        }
        | DealEvent::DealLost {
            pipeline_id,
            stage_id,
            closed_at,
            ..
        } => {
            let status = if matches!(e, DealEvent::DealWon { .. }) {
                "won"
            } else {
                "lost"
            };
            let sets = vec![
                (D::PipelineId, Expr::value(pipeline_id.0)),
                (D::StageId, Expr::value(stage_id.0)),
                (D::Status, Expr::value(status)),
                (D::CloseReason, Expr::value(reason_of(e))),
                (D::ClosedAt, Expr::value(Some(*closed_at))),
                (D::UpdatedBy, Expr::value(by)),
            ];
            update_next::<_, deal::Entity>(conn, ev, sets).await
        }
        DealEvent::DealLineItemsSet { items, amount } => {
            let (minor, currency) = money(*amount);
            let sets = vec![
                (
                    D::LineItems,
                    Expr::value(serde_json::to_value(items).unwrap_or_default()),
                ),
                (D::AmountMinor, Expr::value(minor)),
                (D::Currency, Expr::value(currency)),
                (D::UpdatedBy, Expr::value(by)),
            ];
            update_next::<_, deal::Entity>(conn, ev, sets).await
        }
        DealEvent::DealDeleted | DealEvent::DealRestored => {
            let deleted = matches!(e, DealEvent::DealDeleted);
            set_deleted::<_, deal::Entity>(conn, ev, deleted).await
        }
    }
}

fn reason_of(e: &DealEvent) -> Option<String> {
    match e {
        DealEvent::DealWon { reason, .. } => reason.clone(),
        DealEvent::DealLost { reason, .. } => Some(reason.clone()),
        _ => None,
    }
}

/// A contact's association with a company: the contact's version moves and the
/// association row is written (`role: Some(_)`) or removed (`None`), together.
pub(crate) async fn apply_contact_link<C: ConnectionTrait + TransactionTrait>(
    conn: &C,
    ev: &StoredEvent,
    company_id: uuid::Uuid,
    role: Option<Option<String>>,
) -> Result<u64, DbErr> {
    use crate::entities::contact;
    let txn = conn.begin().await?;
    let moved = update_next::<_, contact::Entity>(
        &txn,
        ev,
        vec![(
            contact::Column::UpdatedBy,
            Expr::value(ev.metadata.actor.id()),
        )],
    )
    .await?;
    if moved == 1 {
        let (tenant, contact_id) = (ev.stream.tenant.0, ev.stream.entity.0);
        match role {
            Some(role) => {
                exec(
                    &txn,
                    "INSERT INTO contact_companies (tenant_id, contact_id, company_id, role) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (tenant_id, contact_id, company_id) DO UPDATE SET role = EXCLUDED.role",
                    vec![tenant.into(), contact_id.into(), company_id.into(), role.into()],
                )
                .await?;
            }
            None => {
                exec(
                    &txn,
                    "DELETE FROM contact_companies WHERE tenant_id = $1 AND contact_id = $2 AND company_id = $3",
                    vec![tenant.into(), contact_id.into(), company_id.into()],
                )
                .await?;
            }
        }
    }
    txn.commit().await?;
    Ok(moved)
}
