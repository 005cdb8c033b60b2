//! Rebuilding every read table from the event store.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use crate::apply::apply;
use crate::catchup::{
    load_checkpoint, read_after, save_checkpoint, Position, LOCK_SQL, READ_MODELS,
};

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
pub async fn rebuild_all(db: &DatabaseConnection) -> Result<u64, DbErr> {
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
        let batch = read_after(&txn, &position, Some(&horizon), BATCH).await?;
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
