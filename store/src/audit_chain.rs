//! The hash chain of the event store and its signed checkpoints (reads; the hashing is the
//! database's, the signing the server's).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::TenantScope;

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The last event of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Head {
    /// Aggregate type.
    pub t: String,
    /// Stream id.
    pub id: String,
    /// Sequence of the last event.
    pub seq: i64,
    /// Its hash, hexadecimal.
    pub hash: String,
}

/// The heads of every stream of the tenant, in stream order (the checkpoint's content).
///
/// # Errors
/// Any database error.
pub async fn heads(db: &DatabaseConnection, scope: &TenantScope) -> Result<Vec<Head>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(stmt(
            "SELECT DISTINCT ON (aggregate_type, aggregate_id) aggregate_type, aggregate_id, sequence, encode(hash, 'hex') AS hash
               FROM events WHERE tenant_id = $1 ORDER BY aggregate_type, aggregate_id, sequence DESC",
            vec![scope.tenant().0.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|r| {
            Ok(Head {
                t: r.try_get("", "aggregate_type")?,
                id: r.try_get("", "aggregate_id")?,
                seq: r.try_get("", "sequence")?,
                hash: r.try_get("", "hash")?,
            })
        })
        .collect()
}

/// The first event, in store order, whose hash does not follow from its content and its
/// predecessor's hash, or whose predecessor is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Break {
    /// Its position in the store.
    pub position: i64,
    /// Aggregate type.
    pub entity_type: String,
    /// Stream id.
    pub stream: String,
    /// Sequence.
    pub sequence: i64,
    /// What is wrong.
    pub reason: String,
}

/// Walks the tenant's chains; returns how many events were checked and the first break.
///
/// # Errors
/// Any database error.
pub async fn first_break(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<(i64, Option<Break>), DbErr> {
    let txn = scope.begin(db).await?;
    let tenant = scope.tenant().0;
    let count: i64 = txn
        .query_one(stmt(
            "SELECT count(*) AS n FROM events WHERE tenant_id = $1",
            vec![tenant.into()],
        ))
        .await?
        .map(|r| r.try_get("", "n"))
        .transpose()?
        .unwrap_or(0);
    let row = txn
        .query_one(stmt(
            "SELECT e.global_position, e.aggregate_type, e.aggregate_id, e.sequence,
                    (e.sequence > 1 AND p.hash IS NULL) AS gap
               FROM events e
               LEFT JOIN events p ON p.tenant_id = e.tenant_id AND p.aggregate_type = e.aggregate_type
                                 AND p.aggregate_id = e.aggregate_id AND p.sequence = e.sequence - 1
              WHERE e.tenant_id = $1
                AND ((e.sequence > 1 AND p.hash IS NULL)
                     OR e.hash IS DISTINCT FROM crm_event_hash(p.hash, e.aggregate_type, e.aggregate_id, e.sequence,
                                                               e.event_type, e.event_version, e.payload, e.metadata))
              ORDER BY e.global_position
              LIMIT 1",
            vec![tenant.into()],
        ))
        .await?;
    txn.commit().await?;
    let found = row
        .map(|r| -> Result<Break, DbErr> {
            let gap: bool = r.try_get("", "gap")?;
            Ok(Break {
                position: r.try_get("", "global_position")?,
                entity_type: r.try_get("", "aggregate_type")?,
                stream: r.try_get("", "aggregate_id")?,
                sequence: r.try_get("", "sequence")?,
                reason: if gap {
                    "the event before it is missing".into()
                } else {
                    "its hash does not match its content and its predecessor".into()
                },
            })
        })
        .transpose()?;
    Ok((count, found))
}

/// Whether an event with this stream, sequence and hash exists.
///
/// # Errors
/// Any database error.
pub async fn has_event(
    db: &DatabaseConnection,
    scope: &TenantScope,
    head: &Head,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(stmt(
            "SELECT 1 AS ok FROM events WHERE tenant_id = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND sequence = $4 AND hash = decode($5, 'hex')",
            vec![scope.tenant().0.into(), head.t.clone().into(), head.id.clone().into(), head.seq.into(), head.hash.clone().into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(row.is_some())
}

/// A stored checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Id (increasing).
    pub id: i64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// The stream heads, as signed (JSON text of `Vec<Head>`).
    pub heads: serde_json::Value,
    /// HMAC-SHA256 of the tenant id and the heads.
    pub mac: Vec<u8>,
}

/// Stores a checkpoint.
///
/// # Errors
/// Any database error.
pub async fn save_checkpoint(
    db: &DatabaseConnection,
    scope: &TenantScope,
    taken_at: DateTime<Utc>,
    heads: serde_json::Value,
    mac: Vec<u8>,
) -> Result<i64, DbErr> {
    let txn = scope.begin(db).await?;
    let id: i64 = txn
        .query_one(stmt(
            "INSERT INTO audit_checkpoints (tenant_id, taken_at, heads, mac) VALUES ($1, $2, $3, $4) RETURNING id",
            vec![scope.tenant().0.into(), taken_at.into(), heads.into(), mac.into()],
        ))
        .await?
        .map(|r| r.try_get("", "id"))
        .transpose()?
        .unwrap_or_default();
    txn.commit().await?;
    Ok(id)
}

/// The latest checkpoint of the tenant.
///
/// # Errors
/// Any database error.
pub async fn latest_checkpoint(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Option<Checkpoint>, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(stmt("SELECT id, taken_at, heads, mac FROM audit_checkpoints WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1", vec![scope.tenant().0.into()]))
        .await?;
    txn.commit().await?;
    row.map(|r| {
        Ok(Checkpoint {
            id: r.try_get("", "id")?,
            taken_at: r.try_get("", "taken_at")?,
            heads: r.try_get("", "heads")?,
            mac: r.try_get("", "mac")?,
        })
    })
    .transpose()
}

/// Every tenant (for checkpoints of all workspaces; projector role).
///
/// # Errors
/// Any database error.
pub async fn tenants(projector: &DatabaseConnection) -> Result<Vec<(Uuid, String)>, DbErr> {
    let rows = projector
        .query_all(stmt(
            "SELECT tenant_id, slug FROM workspace_slugs ORDER BY slug",
            vec![],
        ))
        .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("", "tenant_id")?, r.try_get("", "slug")?)))
        .collect()
}
