//! Rebuilding every read table from the event store.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use crate::apply::apply;
use crate::catchup::{
    load_checkpoint, read_after, read_after_for, save_checkpoint, Position, LOCK_SQL, READ_MODELS,
};
use crate::personal_data::Keyring;
use crate::TenantScope;

/// The read tables a rebuild empties and refills.
pub const READ_TABLES: [&str; 9] = [
    "workspaces",
    "users",
    "companies",
    "contacts",
    "pipelines",
    "pipeline_stages",
    "deals",
    "activities",
    "contact_companies",
];

/// Events replayed per read.
const BATCH: u64 = 1_000;

/// Empties the read tables and replays every event into them, in commit order, in one
/// transaction: readers see the old rows until it commits, then the new ones (writers of
/// the same rows, such as the inline projector, wait for it). Holds the
/// projector's advisory lock, so the catch-up projector waits; events committed while it
/// runs are left to the catch-up projector, whose checkpoint it moves to the last event it
/// replayed. Returns the number of events replayed.
///
/// # Errors
/// Any database error; nothing changes then.
pub async fn rebuild_all(db: &DatabaseConnection, keyring: &Keyring) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock({LOCK_SQL})"),
        [READ_MODELS.into()],
    ))
    .await?;
    load_checkpoint(&txn, READ_MODELS).await?;
    // DELETE, not TRUNCATE: TRUNCATE's exclusive lock would block every reader until the
    // rebuild commits; deleted rows stay visible to other transactions until then.
    for table in READ_TABLES {
        txn.execute_unprepared(&format!("DELETE FROM {table}"))
            .await?;
    }
    let horizon: String = txn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no snapshot".into()))?
        .try_get("", "h")?;
    let mut position = Position {
        transaction_id: "0".into(),
        global_position: 0,
    };
    let mut replayed = 0;
    loop {
        let batch = read_after(&txn, keyring, &position, Some(&horizon), BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        let last = last.clone();
        for (_, event) in &batch {
            if let Some(event) = event {
                apply(&txn, event).await?;
            }
            replayed += 1;
        }
        position = last;
    }
    save_checkpoint(&txn, READ_MODELS, &position).await?;
    txn.commit().await?;
    Ok(replayed)
}

/// Where a rebuild is, reported after every batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Events replayed so far.
    pub replayed: u64,
    /// Events to replay (counted when the rebuild started).
    pub total: u64,
    /// Replay rate so far, events per second.
    pub events_per_second: f64,
}

impl Progress {
    /// Share done, 0 to 100.
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            (self.replayed as f64 * 100.0 / self.total as f64).min(100.0)
        }
    }
}

/// Rebuilds one workspace's read rows from its events, in one transaction: the tenant's
/// rows are deleted and its events replayed in commit order, reporting [`Progress`]
/// after every batch. Other workspaces are not touched, and this workspace's readers see
/// the old rows until the commit (PostgreSQL MVCC), so nobody waits on a read. Holds the
/// projector's advisory lock; the shared checkpoint is left where it is (events after it
/// are applied again by the catch-up projector, a no-op by version). Interrupted, it rolls
/// back whole and can simply be started again. Returns the number of events replayed.
///
/// # Errors
/// Any database error; nothing changes then.
pub async fn rebuild_tenant(
    db: &DatabaseConnection,
    keyring: &Keyring,
    scope: &TenantScope,
    mut progress: impl FnMut(Progress),
) -> Result<u64, DbErr> {
    let tenant = scope.tenant().0;
    let started = std::time::Instant::now();
    let txn = db.begin().await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock({LOCK_SQL})"),
        [READ_MODELS.into()],
    ))
    .await?;
    let horizon: String = txn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS h",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no snapshot".into()))?
        .try_get("", "h")?;
    let total: i64 = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM events WHERE tenant_id = $1 AND transaction_id < $2::xid8",
            [tenant.into(), horizon.clone().into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no count".into()))?
        .try_get("", "n")?;
    for table in READ_TABLES {
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("DELETE FROM {table} WHERE tenant_id = $1"),
            [tenant.into()],
        ))
        .await?;
    }
    let mut position = Position {
        transaction_id: "0".into(),
        global_position: 0,
    };
    let mut replayed = 0_u64;
    loop {
        let batch = read_after_for(
            &txn,
            keyring,
            &position,
            Some(&horizon),
            Some(tenant),
            BATCH,
        )
        .await?;
        let Some((last, _)) = batch.last() else { break };
        let last = last.clone();
        for (_, event) in &batch {
            if let Some(event) = event {
                apply(&txn, event).await?;
            }
            replayed += 1;
        }
        position = last;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        progress(Progress {
            replayed,
            total: u64::try_from(total).unwrap_or(0),
            events_per_second: replayed as f64 / seconds,
        });
    }
    txn.commit().await?;
    Ok(replayed)
}
