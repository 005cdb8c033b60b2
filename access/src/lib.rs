//! # crm-access
//!
//! Who may come in, and the state that remembers it: everything persisted that is not an
//! event and not a read model. Each module is named for the tables it holds.
//!
//! - [`credentials`]: sign-in credentials, workspace slugs, invitations and password
//!   resets.
//! - [`sessions`]: sign-in sessions and refresh-token rotation.
//! - [`two_factor`]: sealed TOTP secrets and hashed recovery codes.
//! - [`api_keys`]: API keys (hashed) and their request log.
//! - [`support`]: support accounts, their sessions, the grants workspaces give them and
//!   the access record of what they did.
//! - [`idempotency`]: stored responses of idempotent requests (`Idempotency-Key`).
//! - [`rate_limits`] and [`security_log`]: the login path's global tables.
//!
//! Tenant-scoped functions take a [`crm_store::TenantScope`]; the few global ones (rate
//! limits, the security log, support accounts, sign-in by email, the janitor's purges) say
//! so. Depends on `crm-store` for the scope, never on the read models.

pub mod api_keys;
pub mod credentials;
pub mod idempotency;
pub mod rate_limits;
pub mod security_log;
pub mod sessions;
pub mod support;
pub mod two_factor;
