//! Rebuilding read tables from the event store: every table without downtime (shadow
//! tables, then a switch), or one workspace's rows in one transaction.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

use crate::apply::apply_batch;
use crate::catchup::{
    read_after, read_after_for, save_checkpoint, Position, LOCK_SQL, READ_MODELS,
};
use crm_store::personal_data::Keyring;
use crm_store::TenantScope;

/// The read tables a rebuild empties and refills.
pub const READ_TABLES: [&str; 10] = [
    "workspaces",
    "users",
    "companies",
    "contacts",
    "pipelines",
    "pipeline_stages",
    "deals",
    "activities",
    "contact_companies",
    "custom_claims",
];

/// Events replayed per read.
const BATCH: u64 = 1_000;

/// The checkpoint of a full rebuild's replay into the shadow tables.
pub const REBUILD: &str = "rebuild";
/// The schema that holds the shadow tables while a full rebuild runs.
pub const SHADOW_SCHEMA: &str = "crm_rebuild";

/// Rebuilds every read table without downtime ([`rebuild_all_with`] without progress).
///
/// # Errors
/// Any database error; the rebuild can then be started again and resumes.
pub async fn rebuild_all(db: &DatabaseConnection, keyring: &Keyring) -> Result<u64, DbErr> {
    rebuild_all_with(db, keyring, |_| {}).await
}

/// Rebuilds every read table without downtime, reporting [`Progress`] after every batch:
///
/// 1. [`prepare`] makes empty shadow copies of the read tables (schema
///    [`SHADOW_SCHEMA`]), or finds those of an interrupted rebuild;
/// 2. [`step`] replays the events in commit order into the copies, one committed batch at
///    a time under the [`REBUILD`] checkpoint, while the live tables keep serving and the
///    projectors keep them current; an interrupted rebuild resumes from the checkpoint;
/// 3. [`switch`] swaps the copies in, in one short transaction, and hands the catch-up
///    projector the rebuild's position.
///
/// Returns the number of events this call replayed.
///
/// # Errors
/// Any database error; what was committed stays, and a new call resumes.
pub async fn rebuild_all_with(
    db: &DatabaseConnection,
    keyring: &Keyring,
    mut progress: impl FnMut(Progress),
) -> Result<u64, DbErr> {
    let started = std::time::Instant::now();
    prepare(db).await?;
    let (done, total) = counts(db).await?;
    let mut replayed = 0_u64;
    loop {
        let n = step(db, keyring, BATCH).await?;
        if n == 0 {
            break;
        }
        replayed += n;
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        progress(Progress {
            replayed: done + replayed,
            total,
            events_per_second: replayed as f64 / seconds,
        });
    }
    analyze(db).await?;
    replayed += switch(db, keyring).await?;
    Ok(replayed)
}

/// Gathers the planner's statistics on the shadow tables (`crm_rebuild_analyze`, as the
/// owner), so that queries are planned on them from the moment they are switched in.
///
/// # Errors
/// Any database error; a rebuild with no shadow tables is refused.
pub async fn analyze(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT crm_rebuild_analyze()")
        .await
        .map(drop)
}

/// Events already replayed into the shadow tables, and events stored now.
async fn counts(db: &DatabaseConnection) -> Result<(u64, u64), DbErr> {
    let row = db
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT (SELECT count(*) FROM events e, projector_checkpoints c
                      WHERE c.name = $1
                        AND (e.transaction_id, e.global_position) <= (c.last_transaction_id, c.last_position)) AS done,
                    (SELECT count(*) FROM events) AS total",
            [REBUILD.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no count".into()))?;
    let done: i64 = row.try_get("", "done")?;
    let total: i64 = row.try_get("", "total")?;
    Ok((
        u64::try_from(done).unwrap_or(0),
        u64::try_from(total).unwrap_or(0),
    ))
}

/// Makes the shadow tables, or keeps those of an interrupted rebuild: returns `true` when
/// it resumes one.
///
/// # Errors
/// Any database error.
pub async fn prepare(db: &DatabaseConnection) -> Result<bool, DbErr> {
    db.query_one(Statement::from_string(
        DbBackend::Postgres,
        "SELECT crm_rebuild_prepare() AS resumed",
    ))
    .await?
    .ok_or_else(|| DbErr::Custom("crm_rebuild_prepare answered nothing".into()))?
    .try_get("", "resumed")
}

/// Drops the shadow tables of an interrupted rebuild (a new one then starts over).
///
/// # Errors
/// Any database error.
pub async fn discard(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT crm_rebuild_discard()")
        .await?;
    Ok(())
}

/// A transaction whose unqualified read tables are the shadow copies. Refuses when there
/// are none (another rebuild switched or discarded them), so a replay can never fall
/// through to the live tables.
async fn shadow_txn(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    let exists = txn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT to_regnamespace('{SHADOW_SCHEMA}') IS NOT NULL AS present"),
        ))
        .await?
        .map(|r| r.try_get::<bool>("", "present"))
        .transpose()?
        .unwrap_or(false);
    if !exists {
        return Err(DbErr::Custom(
            "no rebuild in progress (its shadow tables are gone)".into(),
        ));
    }
    txn.execute_unprepared(&format!("SET LOCAL search_path = {SHADOW_SCHEMA}, public"))
        .await?;
    Ok(txn)
}

/// The [`REBUILD`] checkpoint, locked for this transaction; an error when it is missing
/// (never made again at the start, which would replay the store twice).
async fn rebuild_checkpoint(txn: &DatabaseTransaction) -> Result<Position, DbErr> {
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT last_transaction_id::text AS tx, last_position AS pos
               FROM projector_checkpoints WHERE name = $1 FOR UPDATE",
            [REBUILD.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no rebuild in progress (its checkpoint is gone)".into()))?;
    Ok(Position {
        transaction_id: row.try_get("", "tx")?,
        global_position: row.try_get("", "pos")?,
    })
}

/// Replays up to `limit` events past the [`REBUILD`] checkpoint into the shadow tables and
/// moves the checkpoint, in one transaction; returns how many (0: caught up with every
/// committed event below the cluster's oldest running transaction).
///
/// # Errors
/// Any database error (the batch is rolled back whole).
pub async fn step(db: &DatabaseConnection, keyring: &Keyring, limit: u64) -> Result<u64, DbErr> {
    let txn = shadow_txn(db).await?;
    let n = replay_batch(&txn, keyring, limit).await?;
    txn.commit().await?;
    Ok(n)
}

async fn replay_batch(
    txn: &DatabaseTransaction,
    keyring: &Keyring,
    limit: u64,
) -> Result<u64, DbErr> {
    let from = rebuild_checkpoint(txn).await?;
    let batch = read_after(txn, keyring, &from, None, limit).await?;
    let Some((last, _)) = batch.last() else {
        return Ok(0);
    };
    let last = last.clone();
    apply_batch(txn, batch.iter().filter_map(|(_, e)| e.as_ref())).await?;
    save_checkpoint(txn, REBUILD, &last).await?;
    Ok(batch.len() as u64)
}

/// Replays what is left into the shadow tables and switches them in, in one transaction
/// under the projector's advisory lock (the catch-up projector waits); returns the events
/// replayed in it. Readers wait only for the switch itself; a switch that cannot get its
/// locks within 3 seconds gives up and is tried again (three times).
///
/// # Errors
/// Any database error; nothing changes then, and the rebuild can resume.
pub async fn switch(db: &DatabaseConnection, keyring: &Keyring) -> Result<u64, DbErr> {
    let mut attempt = 0;
    loop {
        match switch_once(db, keyring).await {
            Err(err) if attempt < 2 && err.to_string().contains("lock timeout") => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

async fn switch_once(db: &DatabaseConnection, keyring: &Keyring) -> Result<u64, DbErr> {
    let txn = shadow_txn(db).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!("SELECT pg_advisory_xact_lock({LOCK_SQL})"),
        [READ_MODELS.into()],
    ))
    .await?;
    let mut replayed = 0;
    loop {
        let n = replay_batch(&txn, keyring, BATCH).await?;
        if n == 0 {
            break;
        }
        replayed += n;
    }
    // Events committed above the cluster's horizon are already in the live tables (the
    // inline projector put them there): apply every one this transaction can see too, so
    // none goes missing at the switch. The checkpoint stays below them, so the catch-up
    // projector still applies, in commit order, anything that commits later with an older
    // transaction id (applying twice is a no-op by version).
    let visible: String = txn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no snapshot".into()))?
        .try_get("", "x")?;
    let mut position = rebuild_checkpoint(&txn).await?;
    loop {
        let batch = read_after(&txn, keyring, &position, Some(&visible), BATCH).await?;
        let Some((last, _)) = batch.last() else { break };
        let last = last.clone();
        apply_batch(&txn, batch.iter().filter_map(|(_, e)| e.as_ref())).await?;
        position = last;
    }
    txn.execute_unprepared("SELECT crm_rebuild_switch()")
        .await?;
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
    for table in READ_TABLES {
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("DELETE FROM {table} WHERE tenant_id = $1"),
            [tenant.into()],
        ))
        .await?;
    }
    // Every event whose transaction committed before the deletes is replayed here: those
    // visible in a snapshot taken after them, not only those below the cluster's oldest
    // running transaction (`xmin`), which a long transaction anywhere holds back. With
    // `xmin`, rows of events above it stayed deleted until the catch-up projector, held
    // back by the same transaction, reached them: the workspace's users vanished and its
    // sessions answered 401 meanwhile. Events of transactions still running then are not
    // replayed: their own unit of work wrote their rows, which the deletes (seeing only
    // committed rows) left in place, and the catch-up projector applies them again (a
    // no-op by version).
    let snapshot: String = txn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_current_snapshot()::text AS s",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no snapshot".into()))?
        .try_get("", "s")?;
    let total: i64 = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM events
              WHERE tenant_id = $1 AND pg_visible_in_snapshot(transaction_id, $2::pg_snapshot)",
            [tenant.into(), snapshot.clone().into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no count".into()))?
        .try_get("", "n")?;
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
            None,
            Some(&snapshot),
            Some(tenant),
            BATCH,
        )
        .await?;
        let Some((last, _)) = batch.last() else { break };
        let last = last.clone();
        apply_batch(&txn, batch.iter().filter_map(|(_, e)| e.as_ref())).await?;
        replayed += batch.len() as u64;
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
