//! Reads from a PostgreSQL hot standby, consistent with the caller's own writes.
//!
//! With `database.replica_url` set, the reads that scan (lists and search, exports, the
//! audit trail, history and past states) go to a streaming-replication standby, under
//! the same role and row-level security as on the primary. A standby replays the
//! primary's write-ahead log a little behind it, so a read there could miss a write the
//! caller was just answered for. The rule that prevents it:
//!
//! 1. The request's session check, on the primary, reads the primary's WAL *flush*
//!    position ([`Caller::primary_lsn`]; `pg_current_wal_flush_lsn()`). Every write the
//!    caller (or anyone) was answered for before the request began has its commit record
//!    at or before that position, since a command's commit is flushed before its answer:
//!    this needs `synchronous_commit` on (PostgreSQL's default) for the server's roles;
//!    with it off, a read right after a write may miss it (`docs/operations.md`).
//! 2. The read goes to the standby only once its replay position
//!    (`pg_last_wal_replay_lsn()`) has reached that position, which the standby is polled
//!    for up to `database.replica_wait_ms`. Otherwise the primary serves it.
//! 3. A standby that fails (refused or lost connections, a query cancelled by a recovery
//!    conflict) is left alone for `database.replica_retry_ms`, and its read is run again
//!    on the primary. One that did not catch up within the wait is left alone for
//!    [`LAGGING_MS`] (at most the retry period); and while one read waits past a tenth
//!    of the wait, others that find it behind do not wait too. So while it lags, few
//!    reads pay the wait, not every read.
//! 4. The standby is checked to be in recovery and a copy of the primary's cluster (the
//!    same `system_identifier`), once, and again after each failure (a failover); a
//!    server that is not is never read.
//!
//! So a standby read sees at least what the primary had committed when the request
//! arrived (read-your-writes, and monotonic reads across requests and processes); it
//! waits for replay at most `replica_wait_ms`, for a connection to the standby at most
//! that or 250 ms, whichever is longer; and a stopped standby costs one failed check per
//! retry period. The PostgreSQL documentation's "Hot Standby" chapter (§27.4) describes the
//! replay position and the query conflicts this relies on.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

use crate::caller::Caller;
use crate::error::AppError;

/// How long reads go straight to the primary after the standby failed to catch up within
/// the wait (milliseconds; at most `database.replica_retry_ms`).
pub const LAGGING_MS: u64 = 1_000;

/// Where a read ran, for the metrics and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The standby, caught up to the request's position.
    Replica,
    /// The primary, because no standby is configured.
    NoReplica,
    /// The primary, because the standby had not replayed the request's position within
    /// the wait.
    Behind,
    /// The primary, because the standby failed a check or a read, now or within the
    /// retry period.
    Down,
}

impl Served {
    /// The `reason` label of `crm_replica_fallbacks_total`, or `None` for no fallback.
    fn fallback(self) -> Option<&'static str> {
        match self {
            Self::Replica | Self::NoReplica => None,
            Self::Behind => Some("behind"),
            Self::Down => Some("down"),
        }
    }
}

/// The standby and its state.
#[derive(Debug)]
struct Standby {
    db: DatabaseConnection,
    wait: Duration,
    retry: Duration,
    /// When the standby may be tried again: milliseconds since `epoch` (0: now).
    down_until_ms: AtomicU64,
    /// Until when reads skip the standby for lagging: milliseconds since `epoch`.
    lagging_until_ms: AtomicU64,
    /// Since when a read has been waiting for the standby past its first check:
    /// milliseconds since `epoch` (0: none is).
    waiting_since_ms: AtomicU64,
    /// Whether the standby was found to be a standby of the primary's cluster since it
    /// last failed.
    verified: AtomicBool,
    epoch: Instant,
}

/// Clears [`Standby::waiting_since_ms`] when the read that set it stops waiting (also
/// when its request is dropped mid-wait).
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

impl Standby {
    fn is_resting(&self) -> bool {
        self.elapsed_ms() < self.down_until_ms.load(Ordering::Relaxed)
    }

    fn is_lagging(&self) -> bool {
        self.elapsed_ms() < self.lagging_until_ms.load(Ordering::Relaxed)
    }

    fn lag(&self) {
        let window = LAGGING_MS.min(millis(self.retry));
        let until = self.elapsed_ms().saturating_add(window);
        self.lagging_until_ms.store(until, Ordering::Relaxed);
    }

    fn rest(&self, why: &dyn std::fmt::Display) {
        let until = self.elapsed_ms().saturating_add(millis(self.retry));
        self.down_until_ms.store(until, Ordering::Relaxed);
        // After a failure it may be another server (a failover): check it again.
        self.verified.store(false, Ordering::Relaxed);
        tracing::warn!(error = %why, retry_ms = millis(self.retry), "the read replica failed: reads go to the primary for now");
    }

    fn elapsed_ms(&self) -> u64 {
        millis(self.epoch.elapsed())
    }

    /// Whether the standby is in recovery and a copy of `primary`'s cluster (the same
    /// `system_identifier`, so their WAL positions compare), checked once after each
    /// failure. Not so: the standby rests, with an error logged.
    async fn verify(&self, primary: &DatabaseConnection) -> Result<bool, DbErr> {
        if self.verified.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let identity = "SELECT pg_is_in_recovery() AS standby,
                               (pg_control_system()).system_identifier::text AS cluster";
        let read = |row: Option<sea_orm::QueryResult>| -> Result<(bool, String), DbErr> {
            let row =
                row.ok_or_else(|| DbErr::Custom("pg_control_system() returned no row".into()))?;
            Ok((row.try_get("", "standby")?, row.try_get("", "cluster")?))
        };
        let stmt = || Statement::from_string(DbBackend::Postgres, identity);
        let (is_standby, cluster) = read(self.db.query_one(stmt()).await?)?;
        let (_, primary_cluster) = read(primary.query_one(stmt()).await?)?;
        if !is_standby || cluster != primary_cluster {
            let why = if is_standby {
                "database.replica_url is a standby of another cluster than database.url's"
            } else {
                "database.replica_url is not a standby (pg_is_in_recovery() is false)"
            };
            tracing::error!(why, "the read replica is not used");
            self.rest(&why);
            return Ok(false);
        }
        self.verified.store(true, Ordering::Relaxed);
        Ok(true)
    }

    /// Polls the standby's replay position until it reaches `lsn` or the wait is over.
    /// Once one read has been waiting past its first check for a tenth of the wait, other
    /// reads that find the standby behind do not wait too: they are told `false` at once.
    async fn caught_up(&self, lsn: &str) -> Result<bool, DbErr> {
        let started = Instant::now();
        let deadline = started + self.wait;
        let patience = millis(self.wait / 10).max(1);
        let mut pause = Duration::from_millis(1);
        let mut waiting = None;
        loop {
            // NULL (not a standby, or one that has replayed nothing) counts as behind.
            let row = self
                .db
                .query_one(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS ok",
                    [lsn.into()],
                ))
                .await?;
            let ok = row.map(|r| r.try_get::<bool>("", "ok")).transpose()?;
            if ok == Some(true) {
                metrics::histogram!("crm_replica_wait_seconds")
                    .record(started.elapsed().as_secs_f64());
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if waiting.is_none() {
                let since = self.elapsed_ms().max(1);
                match self.waiting_since_ms.compare_exchange(
                    0,
                    since,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => waiting = Some(Waiting(&self.waiting_since_ms)),
                    Err(other) if since.saturating_sub(other) > patience => return Ok(false),
                    Err(_) => {}
                }
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(16));
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The read side's choice between the primary and the standby (see the module).
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reads {
    primary: DatabaseConnection,
    standby: Option<Arc<Standby>>,
}

impl Reads {
    /// Reads through `primary` (`crm_app`), and through `replica` (`crm_app` at the
    /// standby) when there is one, waiting up to `wait` for it to catch up and leaving it
    /// alone for `retry` after it fails.
    pub fn new(
        primary: DatabaseConnection,
        replica: Option<DatabaseConnection>,
        wait: Duration,
        retry: Duration,
    ) -> Self {
        Self {
            primary,
            standby: replica.map(|db| {
                Arc::new(Standby {
                    db,
                    wait,
                    retry,
                    down_until_ms: AtomicU64::new(0),
                    lagging_until_ms: AtomicU64::new(0),
                    waiting_since_ms: AtomicU64::new(0),
                    verified: AtomicBool::new(false),
                    epoch: Instant::now(),
                })
            }),
        }
    }

    /// The connection for `caller`'s read, and why: the standby once it has replayed the
    /// primary's position at the request's session check, else the primary. For a read
    /// that cannot be run twice (a streamed export): a standby failing during it fails
    /// the stream.
    ///
    /// # Errors
    /// The primary's, when the request's position has to be read there and cannot be.
    pub async fn pick(&self, caller: &Caller) -> Result<(DatabaseConnection, Served), AppError> {
        let Some(standby) = self.standby.as_deref() else {
            return Ok((self.primary.clone(), Served::NoReplica));
        };
        let served = if standby.is_resting() {
            Served::Down
        } else if standby.is_lagging() {
            Served::Behind
        } else {
            // The request's waiting transaction (its session check, on the primary) ends
            // here: the read runs elsewhere.
            crm_store::request_txn::release().await?;
            let lsn = match &caller.primary_lsn {
                Some(lsn) => lsn.clone(),
                None => self.primary_position().await?,
            };
            let checked = match standby.verify(&self.primary).await {
                Ok(true) => standby.caught_up(&lsn).await,
                Ok(false) => Ok(false),
                Err(err) => Err(err),
            };
            match checked {
                Ok(true) => Served::Replica,
                Ok(false) if standby.is_resting() => Served::Down,
                Ok(false) => {
                    standby.lag();
                    Served::Behind
                }
                Err(err) => {
                    standby.rest(&err);
                    Served::Down
                }
            }
        };
        record(served);
        Ok(match served {
            Served::Replica => (standby.db.clone(), served),
            _ => (self.primary.clone(), served),
        })
    }

    /// Runs `read` (given the connection to read through) on the standby or the primary
    /// as [`Reads::pick`] chooses; when it fails on the standby because of the standby
    /// (it cannot be reached, or PostgreSQL cancelled the query for a recovery conflict:
    /// [`AppError::Unavailable`], [`AppError::ConcurrentWrite`]), the standby rests and
    /// `read` runs again on the primary. An internal error on the standby also runs
    /// `read` again on the primary (whose answer is the one given), without the rest.
    ///
    /// # Errors
    /// `read`'s own, or the primary's as for [`Reads::pick`].
    pub async fn run<T, F, Fut>(&self, caller: &Caller, read: F) -> Result<T, AppError>
    where
        F: Fn(DatabaseConnection) -> Fut,
        Fut: Future<Output = Result<T, AppError>>,
    {
        let (db, served) = self.pick(caller).await?;
        let result = read(db).await;
        match (&result, served, self.standby.as_deref()) {
            (
                Err(err @ (AppError::Unavailable(_) | AppError::ConcurrentWrite(_))),
                Served::Replica,
                Some(standby),
            ) => {
                standby.rest(err);
                metrics::counter!("crm_replica_fallbacks_total", "reason" => "failed").increment(1);
                read(self.primary.clone()).await
            }
            (Err(err @ AppError::Internal(_)), Served::Replica, Some(_)) => {
                tracing::warn!(error = %err, "a read failed on the read replica: reading the primary");
                metrics::counter!("crm_replica_fallbacks_total", "reason" => "failed").increment(1);
                read(self.primary.clone()).await
            }
            _ => result,
        }
    }

    /// Sets the gauges of the standby, when there is one: `crm_replica_up` (1 when it
    /// answered now, else 0) and `crm_replica_lag_bytes` (the write-ahead log the primary
    /// has flushed and the standby has not replayed yet; left at its last value when the
    /// standby does not answer). For a metrics scrape; failures are logged.
    pub async fn observe(&self) {
        let Some(standby) = self.standby.as_deref() else {
            return;
        };
        let replayed = standby
            .db
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_last_wal_replay_lsn()::text AS lsn",
            ))
            .await
            .and_then(|row| {
                row.map(|r| r.try_get::<Option<String>>("", "lsn"))
                    .transpose()
                    .map(Option::flatten)
            });
        let lsn = match replayed {
            Ok(Some(lsn)) => lsn,
            Ok(None) => {
                metrics::gauge!("crm_replica_up").set(0.0);
                tracing::warn!("metrics: the read replica is not a standby");
                return;
            }
            Err(err) => {
                metrics::gauge!("crm_replica_up").set(0.0);
                tracing::warn!(error = %err, "metrics: the read replica does not answer");
                return;
            }
        };
        metrics::gauge!("crm_replica_up").set(1.0);
        let lag = self
            .primary
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT greatest(pg_wal_lsn_diff(pg_current_wal_flush_lsn(), $1::pg_lsn), 0)::float8 AS bytes",
                [lsn.into()],
            ))
            .await
            .and_then(|row| row.map(|r| r.try_get::<f64>("", "bytes")).transpose());
        match lag {
            Ok(Some(bytes)) => metrics::gauge!("crm_replica_lag_bytes").set(bytes),
            Ok(None) => {}
            Err(err) => tracing::warn!(error = %err, "metrics: the replica's lag reading failed"),
        }
    }

    /// Logs a warning when a standby is configured and `command` (the commands' pool)
    /// sessions start with `synchronous_commit` off: the rule of the module then no longer
    /// covers the caller's own writes. Failures to read the setting are logged too.
    pub async fn warn_if_writes_are_async(&self, command: &DatabaseConnection) {
        if self.standby.is_none() {
            return;
        }
        let setting = command
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_setting('synchronous_commit') AS s",
            ))
            .await
            .and_then(|row| row.map(|r| r.try_get::<String>("", "s")).transpose());
        match setting {
            Ok(Some(s)) if s == "off" => tracing::warn!(
                "synchronous_commit is off for the server's writes: a read on the read replica right after a write may miss it"
            ),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "could not read synchronous_commit"),
        }
    }

    /// The primary's WAL flush position now, as `pg_lsn` text.
    async fn primary_position(&self) -> Result<String, AppError> {
        let row = self
            .primary
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_current_wal_flush_lsn()::text AS lsn",
            ))
            .await?
            .ok_or_else(|| DbErr::Custom("pg_current_wal_flush_lsn() returned no row".into()))?;
        Ok(row.try_get("", "lsn")?)
    }
}

fn record(served: Served) {
    match served.fallback() {
        Some(reason) => {
            metrics::counter!("crm_replica_fallbacks_total", "reason" => reason).increment(1);
        }
        None if served == Served::Replica => {
            metrics::counter!("crm_replica_reads_total").increment(1);
        }
        None => {}
    }
}
