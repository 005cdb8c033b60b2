//! Snapshots of long streams (`record_snapshots`): a record's aggregate state at every
//! [`EVERY`]th version, so a past state replays from the nearest one. A cache: derived from
//! events by reads, keyed by a `format` that changes whenever the aggregates' `apply`
//! does, so a stale one is never used.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use crate::TenantScope;

/// A snapshot is kept at every this-many versions of a stream.
pub const EVERY: i64 = 100;
/// The snapshot format of this build: bump it whenever an aggregate's state or `apply`
/// changes, and older snapshots are ignored.
pub const FORMAT: i32 = 1;

/// One snapshot: the aggregate's serialized state after `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The version the state is after.
    pub version: i64,
    /// When that version's command was accepted.
    pub occurred_at: DateTime<Utc>,
    /// When that version was stored.
    pub recorded_at: DateTime<Utc>,
    /// The aggregate's state, as `serde_json` serializes it.
    pub state: serde_json::Value,
}

/// Which snapshot to start from: the last one at or before a version, or the last one
/// whose command was accepted at or before a time.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// At or before this version.
    Version(i64),
    /// Accepted at or before this time.
    Time(DateTime<Utc>),
}

/// The nearest usable snapshot of the tenant's stream within `bound`, if any.
///
/// # Errors
/// Database errors.
pub async fn nearest(
    db: &DatabaseConnection,
    scope: &TenantScope,
    aggregate_type: &str,
    entity: Uuid,
    bound: Bound,
) -> Result<Option<Snapshot>, DbErr> {
    let (version, time) = match bound {
        Bound::Version(v) => (Some(v), None),
        Bound::Time(t) => (None, Some(t)),
    };
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT version, occurred_at, recorded_at, state FROM record_snapshots
              WHERE tenant_id = $1 AND aggregate_type = $2 AND aggregate_id = $3 AND format = $4
                AND ($5::bigint IS NULL OR version <= $5)
                AND ($6::timestamptz IS NULL OR occurred_at <= $6)
              ORDER BY version DESC LIMIT 1",
            [
                scope.tenant().0.into(),
                aggregate_type.into(),
                format!("{}:{entity}", scope.tenant().0).into(),
                FORMAT.into(),
                version.into(),
                time.into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    row.map(|row| {
        Ok(Snapshot {
            version: row.try_get("", "version")?,
            occurred_at: row.try_get("", "occurred_at")?,
            recorded_at: row.try_get("", "recorded_at")?,
            state: row.try_get("", "state")?,
        })
    })
    .transpose()
}

/// Stores `snapshots` of the tenant's stream: one already stored with the same format and
/// state is left alone; one of another format, or whose state differs (a damaged one that
/// a replay from the start has just corrected), is replaced.
///
/// # Errors
/// Database errors.
pub async fn save(
    db: &DatabaseConnection,
    scope: &TenantScope,
    aggregate_type: &str,
    entity: Uuid,
    snapshots: &[Snapshot],
) -> Result<(), DbErr> {
    if snapshots.is_empty() {
        return Ok(());
    }
    let txn = scope.begin(db).await?;
    for s in snapshots {
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO record_snapshots
               (tenant_id, aggregate_type, aggregate_id, version, format, occurred_at, recorded_at, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (tenant_id, aggregate_type, aggregate_id, version) DO UPDATE
               SET format = EXCLUDED.format, occurred_at = EXCLUDED.occurred_at,
                   recorded_at = EXCLUDED.recorded_at, state = EXCLUDED.state
             WHERE record_snapshots.format <> EXCLUDED.format
                OR record_snapshots.state <> EXCLUDED.state",
            [
                scope.tenant().0.into(),
                aggregate_type.into(),
                format!("{}:{entity}", scope.tenant().0).into(),
                s.version.into(),
                FORMAT.into(),
                s.occurred_at.into(),
                s.recorded_at.into(),
                s.state.clone().into(),
            ],
        ))
        .await?;
    }
    txn.commit().await
}
