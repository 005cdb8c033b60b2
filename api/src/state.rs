//! What every handler shares.

use crm_app::access_token::TokenKeys;
use crm_app::commands::Commands;
use crm_app::config::Settings;
use crm_app::db::Pools;

/// Shared, immutable application state (cheap to clone: pools and frameworks are handles).
#[derive(Clone)]
pub struct AppState {
    /// The configuration the server started with.
    pub settings: Settings,
    /// Database pools.
    pub pools: Pools,
    /// Where the reads that scan go: the hot standby when one is configured and caught
    /// up, else the primary.
    pub reads: crm_app::replica::Reads,
    /// Access-token keys.
    pub tokens: TokenKeys,
    /// The write side.
    pub commands: Commands,
    /// The clock (the system's, or a test's).
    pub clock: std::sync::Arc<dyn crm_app::clock::Clock>,
    /// Outgoing mail.
    pub mailer: std::sync::Arc<dyn crm_app::mailer::Mailer>,
    /// The checkpoint signing key of the audit trail.
    pub checkpoint_key: crm_app::audit_chain::CheckpointKey,
    /// The key box of TOTP secrets.
    pub totp_box: crm_app::totp::SecretBox,
    /// Webhook secrets' key and allowed destinations.
    pub webhooks: crm_app::webhooks::Webhooks,
    /// The API contract and the route table read from it.
    pub contract: crate::openapi::Contract,
    /// Passwords refused as too common, lowercased.
    pub common_passwords: std::sync::Arc<std::collections::HashSet<String>>,
}

impl AppState {
    /// What the application layer's use cases run against.
    pub fn services(&self) -> crm_app::records::Services<'_> {
        crm_app::records::Services {
            db: &self.pools.app,
            commands: &self.commands,
        }
    }
}
