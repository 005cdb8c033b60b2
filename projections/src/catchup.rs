//! The durable catch-up projector: tails `events` in commit order from a stored checkpoint.
//!
//! A global position drawn from a sequence is not commit order: a transaction that took
//! position 10 may commit after the one that took 11, and a reader taking
//! `position > checkpoint` would skip 10 forever. So this reader only takes rows whose
//! transaction is older than every transaction still running
//! (`transaction_id < pg_snapshot_xmin(pg_current_snapshot())`), in
//! `(transaction_id, global_position)` order: the pattern of Emmett's PostgreSQL event
//! store (ARCHITECTURE.md, invariant 5). Each batch applies its events and moves the
//! checkpoint in one transaction, under a transaction-level advisory lock, so several
//! server processes may run it and one at a time does the work. The lock is a lease
//! ([`LEASE_SECONDS`]): a process that stops answering in the middle of a batch loses its
//! session, hence the lock, and the batch is rolled back for another to do. A holder that
//! the lease cannot reach (stopped while PostgreSQL is blocked sending it rows: its session
//! is then neither idle nor running a statement it can cancel) is ended by the others
//! once its batch is older than [`OVERDUE_SECONDS`].

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

use crate::apply::{apply, Applied};
use crm_store::event::StoredEvent;
use crm_store::personal_data::{needs_key, Keyring, Show};

/// The checkpoint name of the projector that maintains every read table.
pub const READ_MODELS: &str = "read_models";

/// Key of the advisory lock that serialises the projector and rebuilds.
pub(crate) const LOCK_SQL: &str = "hashtext('crm-projector:' || $1)";

/// How long a batch's transaction may wait on its process between statements before
/// PostgreSQL ends the session (`idle_in_transaction_session_timeout`), and with it the
/// lock: the lock is a lease that a stuck process (stopped, starved, hung on I/O) loses,
/// so another process goes on. A killed process's lock goes at once, with its
/// connection. Seconds.
pub const LEASE_SECONDS: u64 = 5;

/// How long one statement of a batch may run (`statement_timeout`), so that a batch
/// stuck in the database gives the lock up too. Seconds.
pub const STATEMENT_SECONDS: u64 = 60;

/// The age of a batch's transaction past which the other processes end its session
/// (`pg_terminate_backend`, allowed between sessions of one role): longer than any
/// batch that is making progress takes. Seconds.
pub const OVERDUE_SECONDS: u64 = 2 * STATEMENT_SECONDS;

/// What a batch's session adds to its `application_name` for the length of the batch,
/// so that the holder of the lock is known for a batch (and not, say, a rebuild, which
/// holds the same lock for as long as it needs).
const BATCH_NAME: &str = " projector-batch";

/// A position in commit order: `(transaction_id, global_position)`; the transaction id is
/// an `xid8` carried as its decimal text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// `events.transaction_id` as text.
    pub transaction_id: String,
    /// `events.global_position`.
    pub global_position: i64,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Events read.
    pub read: u64,
    /// Events that changed a row (the rest were already applied).
    pub applied: u64,
    /// Whether another process held the lock, so nothing was read.
    pub busy: bool,
}

/// The catch-up projector of the read tables.
#[derive(Debug, Clone)]
pub struct CatchUp {
    db: DatabaseConnection,
    keyring: Keyring,
    name: String,
    overdue: Duration,
}

impl CatchUp {
    /// A projector writing through `db` (connected as `crm_projector`) under checkpoint
    /// [`READ_MODELS`], opening contacts' personal data with `keyring`.
    pub fn new(db: DatabaseConnection, keyring: Keyring) -> Self {
        Self {
            db,
            keyring,
            name: READ_MODELS.to_owned(),
            overdue: Duration::from_secs(OVERDUE_SECONDS),
        }
    }

    /// The same projector, ending another process's batch once it is older than
    /// `overdue` instead of [`OVERDUE_SECONDS`] (for tests).
    #[must_use]
    pub fn overdue_after(mut self, overdue: Duration) -> Self {
        self.overdue = overdue;
        self
    }

    /// Applies up to `limit` events past the checkpoint, in commit order.
    ///
    /// # Errors
    /// Any database error; the batch is then rolled back whole.
    #[tracing::instrument(
        name = "projector_batch",
        skip_all,
        fields(checkpoint = %self.name, read = tracing::field::Empty, applied = tracing::field::Empty)
    )]
    pub async fn run_once(&self, limit: u64) -> Result<BatchReport, DbErr> {
        let txn = self.db.begin().await?;
        txn.execute_unprepared(&format!(
            "SET LOCAL idle_in_transaction_session_timeout = '{LEASE_SECONDS}s';
             SET LOCAL statement_timeout = '{STATEMENT_SECONDS}s';
             SELECT set_config('application_name', current_setting('application_name') || '{BATCH_NAME}', true)"
        ))
        .await?;
        let locked = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT pg_try_advisory_xact_lock({LOCK_SQL}) AS locked"),
                [self.name.clone().into()],
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            drop(txn);
            self.end_overdue_holder().await?;
            return Ok(BatchReport {
                busy: true,
                ..BatchReport::default()
            });
        }
        let from = load_checkpoint(&txn, &self.name).await?;
        let events = read_after(&txn, &self.keyring, &from, None, limit).await?;
        let mut report = BatchReport {
            read: events.len() as u64,
            ..BatchReport::default()
        };
        let mut last = from;
        for (position, event) in events {
            if let Some(event) = event {
                if apply(&txn, &event).await? == Applied::Yes {
                    report.applied += 1;
                }
            }
            last = position;
        }
        save_checkpoint(&txn, &self.name, &last).await?;
        txn.commit().await?;
        let span = tracing::Span::current();
        span.record("read", report.read);
        span.record("applied", report.applied);
        Ok(report)
    }

    /// Ends the session of another process whose batch holds the lock and is older than
    /// the overdue age (see the module); nothing when the holder is not a batch or is
    /// younger.
    async fn end_overdue_holder(&self) -> Result<(), DbErr> {
        let ended = self
            .db
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT a.pid, pg_terminate_backend(a.pid) AS ended
                       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                      WHERE l.locktype = 'advisory' AND l.granted
                        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND l.objid::bigint = ({LOCK_SQL}::bigint & 4294967295)
                        AND a.application_name LIKE '%{BATCH_NAME}'
                        AND a.xact_start < now() - make_interval(secs => $2)"
                ),
                [self.name.clone().into(), self.overdue.as_secs_f64().into()],
            ))
            .await?;
        if let Some(row) = ended {
            let pid: i32 = row.try_get("", "pid")?;
            tracing::warn!(
                pid,
                overdue_s = self.overdue.as_secs_f64(),
                "ended the session of an overdue projector batch holding the lock"
            );
        }
        Ok(())
    }

    /// Runs batches of `batch` events until `shutdown` resolves, sleeping `idle` whenever
    /// it has caught up. Errors are logged and retried after `idle`.
    pub async fn run(
        self,
        batch: u64,
        idle: Duration,
        shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut shutdown = shutdown;
        loop {
            let pause = match self.run_once(batch).await {
                Ok(report) if report.read >= batch => Duration::ZERO,
                Ok(report) => {
                    if report.applied > 0 {
                        tracing::debug!(
                            applied = report.applied,
                            "catch-up projector applied events"
                        );
                    }
                    idle
                }
                Err(err) => {
                    tracing::error!(error = %err, "catch-up projector batch failed");
                    idle
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }
}

/// The checkpoint of `name`, created at the start if missing.
pub async fn load_checkpoint<C: ConnectionTrait>(conn: &C, name: &str) -> Result<Position, DbErr> {
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO projector_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
        [name.into()],
    ))
    .await?;
    let row = conn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT last_transaction_id::text AS tx, last_position AS pos FROM projector_checkpoints WHERE name = $1 FOR UPDATE",
            [name.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound(format!("checkpoint {name}")))?;
    Ok(Position {
        transaction_id: row.try_get("", "tx")?,
        global_position: row.try_get("", "pos")?,
    })
}

/// Stores `position` as the checkpoint of `name`.
pub async fn save_checkpoint<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    position: &Position,
) -> Result<(), DbErr> {
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE projector_checkpoints SET last_transaction_id = $2::xid8, last_position = $3, updated_at = now() WHERE name = $1",
        [name.into(), position.transaction_id.clone().into(), position.global_position.into()],
    ))
    .await?;
    Ok(())
}

/// Reads up to `limit` events after `from` in commit order, only from transactions older
/// than every running one (or than `below`, an `xid8` as text, when given). An event that
/// does not decode is logged and returned as `None`, so it is passed over, not retried
/// forever. Contacts' sealed personal fields are opened with `keyring` (left out when
/// erased).
pub(crate) async fn read_after<C: ConnectionTrait>(
    conn: &C,
    keyring: &Keyring,
    from: &Position,
    below: Option<&str>,
    limit: u64,
) -> Result<Vec<(Position, Option<StoredEvent>)>, DbErr> {
    read_after_for(conn, keyring, from, below, None, None, limit).await
}

/// [`read_after`], only the events of `tenant` when given, and only those of transactions
/// visible in `snapshot` (a `pg_snapshot` as text) when given instead of `below`.
pub(crate) async fn read_after_for<C: ConnectionTrait>(
    conn: &C,
    keyring: &Keyring,
    from: &Position,
    below: Option<&str>,
    snapshot: Option<&str>,
    tenant: Option<uuid::Uuid>,
    limit: u64,
) -> Result<Vec<(Position, Option<StoredEvent>)>, DbErr> {
    let sql = "SELECT aggregate_type, aggregate_id, sequence, payload, metadata, transaction_id::text AS tx, global_position
           FROM events
          WHERE (transaction_id, global_position) > ($1::xid8, $2)
            AND transaction_id < coalesce(pg_snapshot_xmax($6::pg_snapshot), $4::xid8,
                                          pg_snapshot_xmin(pg_current_snapshot()))
            AND ($6::pg_snapshot IS NULL OR pg_visible_in_snapshot(transaction_id, $6::pg_snapshot))
            AND ($5::uuid IS NULL OR tenant_id = $5)
          ORDER BY transaction_id, global_position
          LIMIT $3";
    let values: Vec<sea_orm::Value> = vec![
        from.transaction_id.clone().into(),
        from.global_position.into(),
        (limit as i64).into(),
        below.map(str::to_owned).into(),
        tenant.into(),
        snapshot.map(str::to_owned).into(),
    ];
    let rows = conn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    let sealed: Vec<String> = rows
        .iter()
        .filter_map(|row| {
            let t: String = row.try_get("", "aggregate_type").ok()?;
            let payload: serde_json::Value = row.try_get("", "payload").ok()?;
            needs_key(&t, &payload)
                .then(|| row.try_get::<String>("", "aggregate_id").ok())
                .flatten()
        })
        .collect();
    let keys = keyring
        .load(conn, sealed.iter().map(String::as_str))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let position = Position {
            transaction_id: row.try_get("", "tx")?,
            global_position: row.try_get("", "global_position")?,
        };
        let aggregate_type: String = row.try_get("", "aggregate_type")?;
        let aggregate_id: String = row.try_get("", "aggregate_id")?;
        let sequence: i64 = row.try_get("", "sequence")?;
        let mut payload: serde_json::Value = row.try_get("", "payload")?;
        let metadata: serde_json::Value = row.try_get("", "metadata")?;
        if let Err(err) = keyring.open(
            &keys,
            &aggregate_type,
            &aggregate_id,
            &mut payload,
            Show::Domain,
        ) {
            tracing::error!(%aggregate_id, sequence, error = %err, "event does not open; passed over");
            out.push((position, None));
            continue;
        }
        let event = match StoredEvent::from_row(
            &aggregate_type,
            &aggregate_id,
            sequence,
            payload,
            metadata,
        ) {
            Ok(event) => Some(event),
            Err(err) => {
                tracing::error!(%aggregate_id, sequence, error = %err, "event does not decode; passed over");
                None
            }
        };
        out.push((position, event));
    }
    Ok(out)
}
