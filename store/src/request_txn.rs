//! A request's one transaction: the session check opens it and leaves it here, and the
//! request's first use of the database goes on in it, so authentication, the two-factor
//! policy and the work commit together. A read (`GET`, `HEAD`) opens it as `crm_app` and
//! its first tenant read ([`TenantScope::read`]) takes it: `BEGIN`, the check, the query,
//! `COMMIT`. A write opens it as `crm_command` and its first command's unit of work takes
//! it ([`take_command`]): `BEGIN`, the check, the command's statements, `COMMIT`. Under an
//! `Idempotency-Key` the key is claimed in that transaction before the command
//! ([`resume`]), and the command's unit of work leaves it uncommitted ([`park`]) for the
//! key's answer to be stored in before the `COMMIT` ([`take_unfinished`]).
//!
//! The slot lives for one request (a Tokio task-local set by [`serve`]), holds at most one
//! transaction, and only ever the authenticated tenant's. Anything that begins another
//! transaction ([`TenantScope::begin`]) commits a waiting one first, so a request never
//! holds two pooled connections at once; whatever is still waiting when the handler is
//! done is committed by [`serve`].
//!
//! The check also counts the request against its workspace's budget, in the same
//! transaction. Work that fails after it took the transaction (a malformed cursor, a
//! refused command, a lost connection) rolls the count back with it; so that failing
//! requests still count, [`serve`] counts again, in a statement of its own, any request
//! whose counting transaction did not commit.

use std::cell::RefCell;
use std::future::Future;

use chrono::{DateTime, Utc};
use crm_domain::TenantId;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};

use crate::TenantScope;

/// What a waiting transaction is for, which says the role it runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A read, as `crm_app`.
    Read,
    /// A command, as `crm_command`.
    Command,
    /// A command's transaction whose work is done, as `crm_command`, left ([`park`]) for
    /// the request's `Idempotency-Key` to record the answer in before it commits, so the
    /// command and its stored answer commit together. Anything else that needs the
    /// database commits it first, like any waiting transaction.
    Answer,
}

/// What a request's slot holds.
#[derive(Default)]
struct Slot {
    /// The transaction the session check left, its tenant and what it is for.
    waiting: Option<(TenantId, Purpose, DatabaseTransaction)>,
    /// The request count the check made in that transaction, until it commits.
    count: Option<Count>,
}

/// A request count to make again (`crm_count_request`) if its transaction rolls back.
#[derive(Debug, Clone)]
pub struct Count {
    /// The connection pool to count through (the application role's).
    pub db: DatabaseConnection,
    /// The workspace's minute (`workspace:<tenant>:<minute>`).
    pub key: String,
    /// The request's time.
    pub now: DateTime<Utc>,
}

tokio::task_local! {
    static SLOT: RefCell<Slot>;
}

/// Runs `request` (a request's whole handling) with a slot for its read transaction, then
/// commits the transaction if nothing took it, and counts the request again if its count
/// was rolled back (see the module).
///
/// # Errors
/// The request's own output; failures of the closing statements are logged, not returned
/// (the request's answer does not depend on them).
pub async fn serve<F: Future>(request: F) -> F::Output {
    SLOT.scope(RefCell::new(Slot::default()), async {
        let out = request.await;
        if let Some(Err(err)) = settle().await {
            tracing::warn!(error = %err, "a request's read transaction did not commit");
        }
        let lost = SLOT
            .try_with(|slot| slot.borrow_mut().count.take())
            .ok()
            .flatten();
        if let Some(count) = lost {
            let again = count
                .db
                .query_one(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT crm_count_request($1, $2)",
                    [count.key.into(), count.now.into()],
                ))
                .await;
            if let Err(err) = again {
                tracing::warn!(error = %err, "a request could not be counted");
            }
        }
        out
    })
    .await
}

/// Leaves `txn`, which has set `tenant` as `app.tenant_id` for itself (and made `count`,
/// if any), for the request's first read or command, as `purpose` says. Outside [`serve`]
/// (or when a transaction already waits) it is handed back.
///
/// # Errors
/// `txn` itself, when there is no free slot.
pub fn offer(
    tenant: TenantId,
    purpose: Purpose,
    txn: DatabaseTransaction,
    count: Option<Count>,
) -> Result<(), DatabaseTransaction> {
    put(tenant, purpose, txn, Some(count))
}

/// Leaves `txn` in the slot for `purpose`, with `count` when it is `Some`; hands it back
/// when the slot is taken or there is none.
fn put(
    tenant: TenantId,
    purpose: Purpose,
    txn: DatabaseTransaction,
    count: Option<Option<Count>>,
) -> Result<(), DatabaseTransaction> {
    let mut txn = Some(txn);
    let _ = SLOT.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.waiting.is_none() {
            slot.waiting = txn.take().map(|t| (tenant, purpose, t));
            if let Some(count) = count {
                slot.count = count;
            }
        }
    });
    txn.map_or(Ok(()), Err)
}

/// The waiting transaction, when it is `tenant`'s and for `purpose`.
fn take(tenant: TenantId, purpose: Purpose) -> Option<DatabaseTransaction> {
    SLOT.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        match slot.waiting.take() {
            Some((t, p, txn)) if t == tenant && p == purpose => Some(txn),
            other => {
                slot.waiting = other;
                None
            }
        }
    })
    .ok()
    .flatten()
}

/// The transaction a write's session check left for `tenant`'s first command (on the
/// `crm_command` pool, the tenant set), if any. Whoever takes it calls [`kept`] once it
/// commits.
pub fn take_command(tenant: TenantId) -> Option<DatabaseTransaction> {
    take(tenant, Purpose::Command)
}

/// Puts back the transaction a request took with [`take_command`] after running its own
/// statements in it (the `Idempotency-Key`'s claim), for the request's first command, with
/// the request's count as it was. Outside [`serve`] (or when a transaction already waits)
/// it is handed back.
///
/// # Errors
/// `txn` itself, when there is no free slot.
pub fn resume(tenant: TenantId, txn: DatabaseTransaction) -> Result<(), DatabaseTransaction> {
    put(tenant, Purpose::Command, txn, None)
}

/// Leaves a command's finished transaction uncommitted (see [`Purpose::Answer`]); the
/// caller counts it as committed. Outside [`serve`] (or when a transaction already waits)
/// it is handed back, to commit at once.
///
/// # Errors
/// `txn` itself, when there is no free slot.
pub fn park(tenant: TenantId, txn: DatabaseTransaction) -> Result<(), DatabaseTransaction> {
    put(tenant, Purpose::Answer, txn, None)
}

/// The request's last command transaction, still uncommitted ([`park`]), or else the
/// command transaction its session check left and nothing took: the transaction the
/// request's answer may still be recorded in. Whoever takes it commits it and then calls
/// [`kept`].
pub fn take_unfinished(tenant: TenantId) -> Option<DatabaseTransaction> {
    take(tenant, Purpose::Answer).or_else(|| take(tenant, Purpose::Command))
}

/// Records that the transaction the request's count was made in has committed: nothing
/// to count again.
pub fn kept() {
    let _ = SLOT.try_with(|slot| slot.borrow_mut().count = None);
}

/// Commits the request's waiting transaction, if any, so that the request's next read
/// begins a transaction of its own: for a read that runs on another server (a hot
/// standby) than the one the session check ran on.
///
/// # Errors
/// The commit's.
pub async fn release() -> Result<(), DbErr> {
    settle().await.unwrap_or(Ok(()))
}

/// Commits the waiting transaction, if any (`None` when there was none).
pub(crate) async fn settle() -> Option<Result<(), DbErr>> {
    let waiting = SLOT
        .try_with(|slot| slot.borrow_mut().waiting.take())
        .ok()
        .flatten();
    let (_, _, txn) = waiting?;
    let done = txn.commit().await;
    if done.is_ok() {
        kept();
    }
    Some(done)
}

/// A transaction of [`TenantScope::read`]: a [`DatabaseTransaction`] that, when it is the
/// one the request's session check opened, records at its commit that the request's count
/// is kept. Dropped without a commit, it rolls back.
pub struct ReadTxn {
    txn: DatabaseTransaction,
    counts: bool,
}

impl ReadTxn {
    /// Commits the transaction.
    ///
    /// # Errors
    /// Any database error.
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        if self.counts {
            kept();
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl ConnectionTrait for ReadTxn {
    fn get_database_backend(&self) -> DbBackend {
        self.txn.get_database_backend()
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        self.txn.execute(stmt).await
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        self.txn.execute_unprepared(sql).await
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        self.txn.query_one(stmt).await
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        self.txn.query_all(stmt).await
    }
}

impl TenantScope {
    /// Begins a read of this tenant's rows: goes on in the request's waiting transaction
    /// when its session check left one (see the module), else as [`TenantScope::begin`].
    ///
    /// # Errors
    /// Any database error.
    pub async fn read(&self, db: &DatabaseConnection) -> Result<ReadTxn, DbErr> {
        Ok(match take(self.tenant(), Purpose::Read) {
            Some(txn) => ReadTxn { txn, counts: true },
            None => ReadTxn {
                txn: self.begin(db).await?,
                counts: false,
            },
        })
    }
}
