//! A read request's one transaction: the session check of a `GET` opens it and leaves it
//! here, and the request's first tenant read ([`TenantScope::read`]) goes on in it, so
//! authentication, the two-factor policy and the query commit together (one transaction
//! and four statements per read: `BEGIN`, the check, the query, `COMMIT`).
//!
//! The slot lives for one request (a Tokio task-local set by [`serve`]), holds at most one
//! transaction, and only ever the authenticated tenant's. Anything that begins another
//! transaction ([`TenantScope::begin`]) commits a waiting one first, so a request never
//! holds two pooled connections at once; whatever is still waiting when the handler is
//! done is committed by [`serve`].

use std::cell::RefCell;
use std::future::Future;

use crm_domain::TenantId;
use sea_orm::{DatabaseTransaction, DbErr};

use crate::TenantScope;

tokio::task_local! {
    static WAITING: RefCell<Option<(TenantId, DatabaseTransaction)>>;
}

/// Runs `request` (a request's whole handling) with a slot for its read transaction, then
/// commits the transaction if nothing took it (its session check may have counted the
/// request against the workspace's rate limit, which must stay counted).
///
/// # Errors
/// The request's own output; a failed final commit is logged, not returned (the request's
/// answer does not depend on it).
pub async fn serve<F: Future>(request: F) -> F::Output {
    WAITING
        .scope(RefCell::new(None), async {
            let out = request.await;
            if let Some(Err(err)) = settle().await {
                tracing::warn!(error = %err, "a request's read transaction did not commit");
            }
            out
        })
        .await
}

/// Leaves `txn`, which has set `tenant` as `app.tenant_id` for itself, for the request's
/// first read. Outside [`serve`] (or when a transaction already waits) it is handed back.
///
/// # Errors
/// `txn` itself, when there is no free slot.
pub fn offer(tenant: TenantId, txn: DatabaseTransaction) -> Result<(), DatabaseTransaction> {
    let mut txn = Some(txn);
    let _ = WAITING.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = txn.take().map(|t| (tenant, t));
        }
    });
    match txn {
        None => Ok(()),
        Some(txn) => Err(txn),
    }
}

/// The waiting transaction, when it is `tenant`'s.
pub(crate) fn take(tenant: TenantId) -> Option<DatabaseTransaction> {
    WAITING
        .try_with(|slot| {
            let mut slot = slot.borrow_mut();
            match slot.take() {
                Some((t, txn)) if t == tenant => Some(txn),
                other => {
                    *slot = other;
                    None
                }
            }
        })
        .ok()
        .flatten()
}

/// Commits the waiting transaction, if any (`None` when there was none).
pub(crate) async fn settle() -> Option<Result<(), DbErr>> {
    let waiting = WAITING
        .try_with(|slot| slot.borrow_mut().take())
        .ok()
        .flatten();
    match waiting {
        Some((_, txn)) => Some(txn.commit().await),
        None => None,
    }
}

impl TenantScope {
    /// Begins a read of this tenant's rows: goes on in the request's waiting transaction
    /// when its session check left one (see the module), else as [`TenantScope::begin`].
    ///
    /// # Errors
    /// Any database error.
    pub async fn read(
        &self,
        db: &sea_orm::DatabaseConnection,
    ) -> Result<DatabaseTransaction, DbErr> {
        match take(self.tenant()) {
            Some(txn) => Ok(txn),
            None => self.begin(db).await,
        }
    }
}
