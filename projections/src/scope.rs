//! The tenant scope every read goes through.

use crm_domain::TenantId;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

/// Proof that a request is bound to one tenant. The API builds it only in its
/// authentication extractor, from a verified token; every query in [`crate::queries`]
/// takes one, filters on its tenant explicitly, and runs in a transaction that has set
/// `app.tenant_id` for PostgreSQL's row-level security (ARCHITECTURE.md, invariant 4), so a
/// forgotten filter still returns nothing of another tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantScope {
    tenant: TenantId,
}

impl TenantScope {
    /// The scope of `tenant`. Call only with a tenant taken from verified credentials.
    pub fn new(tenant: TenantId) -> Self {
        Self { tenant }
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Begins a transaction with `app.tenant_id` set for this transaction only
    /// (`set_config(…, true)`), so a pooled connection never carries the tenant further.
    ///
    /// # Errors
    /// Any database error.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
        let txn = db.begin().await?;
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.tenant_id', $1, true)",
            [self.tenant.0.to_string().into()],
        ))
        .await?;
        Ok(txn)
    }
}
