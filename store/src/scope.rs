//! The tenant scope every tenant-scoped read and write goes through, and the only three
//! ways to get one.
//!
//! Modeled on lldap's access-controlled handlers: the scope is a value you only hold once
//! something allowed it, and each way in is a named constructor whose argument says what
//! allowed it. This crate cannot see tokens, so it cannot check that argument; what the
//! types buy is that there is no bare constructor, every call site names its grounds, and
//! a review finds them all with `grep -rn "TenantScope::for_"`. Request handlers never
//! build one: they take `AuthContext::scope` from the API's authentication extractor.

use crm_domain::{EventMetadata, TenantId};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, Statement,
    TransactionTrait,
};

/// Proof that work is bound to one tenant. Every tenant-scoped query (here, in
/// `crm-projections` and in `crm-access`) takes one, filters on its tenant explicitly, and
/// runs in a transaction that has set `app.tenant_id` for PostgreSQL's row-level security
/// (ARCHITECTURE.md, invariant 4), so a forgotten filter still returns nothing of another
/// tenant.
///
/// Built only by [`TenantScope::for_credential`] (the API's authentication and sign-in
/// flows), [`TenantScope::for_command`] (the application layer, for a command's own
/// tenant) and [`TenantScope::for_system`] (work no request asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantScope {
    tenant: TenantId,
}

/// The credential a request's tenant comes from: what [`TenantScope::for_credential`] is
/// built from. Each variant carries the tenant that credential names.
///
/// Where the scope is opened *to check* the credential (an API key, a support grant, a
/// token of the sign-in flows), the check runs inside the scope: row-level security shows
/// only the named tenant, so a credential that names a tenant it does not belong to finds
/// nothing and is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An access token whose signature, expiry and session the API verified (the
    /// authentication extractor, `api/src/auth/context.rs`).
    AccessToken(TenantId),
    /// An API key, whose first 16 bytes name its tenant: the scope is opened to look up the
    /// key's hash there (the check), then serves the request and its request-log entry.
    ApiKey(TenantId),
    /// A support account's live session naming a workspace in its `X-Workspace` header:
    /// the scope is opened to look up an active grant there (the check), then serves the
    /// request under that grant.
    SupportSession(TenantId),
    /// Signing up, signing in and the account flows around them (`api/src/auth/session.rs`
    /// and the sign-up, sign-in, refresh, two-factor, password-reset and invitation
    /// routes): the tenant of the `credentials` row the sign-in email found, of a
    /// two-factor challenge token whose signature verified, of a refresh, reset or
    /// invitation token's tenant prefix (checked by its hash in that tenant), or a new
    /// workspace's fresh random id at sign-up.
    SignIn(TenantId),
}

impl Credential {
    /// The tenant the credential names.
    pub fn tenant(self) -> TenantId {
        match self {
            Self::AccessToken(t) | Self::ApiKey(t) | Self::SupportSession(t) | Self::SignIn(t) => t,
        }
    }
}

impl TenantScope {
    /// The scope of the tenant a request's credential names.
    ///
    /// Who may call: only the API's authentication code and the sign-in flows, each
    /// naming the [`Credential`] it relies on. Everything a request does after
    /// authentication uses the scope the authentication extractor built
    /// (`AuthContext::scope`).
    pub fn for_credential(credential: Credential) -> Self {
        Self {
            tenant: credential.tenant(),
        }
    }

    /// The scope of a command's tenant, for the checks that run before its events are
    /// appended (claims, the records it links, import locks).
    ///
    /// Who may call: the application layer, for a command it is about to run with `meta`.
    /// Why it is sound: the metadata is built by the API from an authenticated caller
    /// (`CommandContext`) or by a system actor, and the command's events land in
    /// `meta.tenant_id`'s streams whatever the scope (ARCHITECTURE.md, invariant 1), so its
    /// checks may see exactly that tenant.
    pub fn for_command(meta: &EventMetadata) -> Self {
        Self {
            tenant: meta.tenant_id,
        }
    }

    /// The scope of `tenant` for work of the server itself, on no request's behalf.
    ///
    /// Who may call: the command line (rebuilding a workspace's read models, restoring a
    /// backup, verifying a workspace's audit chain), the janitor (signing audit-chain
    /// checkpoints) and `crm_app::audit_chain`, which the audit routes call only with the
    /// authenticated caller's own tenant. Never with a tenant taken from a request.
    pub fn for_system(tenant: TenantId) -> Self {
        Self { tenant }
    }

    /// The tenant.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    /// Begins a transaction with `app.tenant_id` set for this transaction only
    /// (`set_config(…, true)`), so a pooled connection never carries the tenant further.
    /// A read transaction the request's session check left waiting
    /// ([`crate::request_txn`]) is committed first, so a request holds one pooled
    /// connection at a time.
    ///
    /// # Errors
    /// Any database error.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
        if let Some(done) = crate::request_txn::settle().await {
            done?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_in_keeps_the_tenant() {
        let tenant = TenantId(uuid::Uuid::now_v7());
        for credential in [
            Credential::AccessToken(tenant),
            Credential::ApiKey(tenant),
            Credential::SupportSession(tenant),
            Credential::SignIn(tenant),
        ] {
            assert_eq!(TenantScope::for_credential(credential).tenant(), tenant);
        }
        assert_eq!(TenantScope::for_system(tenant).tenant(), tenant);
    }
}
