//! Webhooks (issue 13, Standard Webhooks 1.0): a workspace's endpoints receive a signed
//! message per domain event of the types they ask for, at least once, in event order per
//! endpoint, retried on the Svix schedule, with every attempt logged.
//!
//! - [`endpoints`]: the use cases behind `/v1/webhooks` (Owner, Admin): endpoints, secret
//!   rotation, test sends, the delivery log, retries and replays.
//! - [`dispatch`]: makes messages from the event log in commit order behind a checkpoint,
//!   as the catch-up projector reads it, so nothing committed is skipped.
//! - [`delivery`]: takes due messages by lease and sends them.
//! - [`signing`], [`schedule`], [`destinations`]: the signature scheme, the retry
//!   schedule, and where a webhook may go.

pub mod delivery;
pub mod destinations;
pub mod dispatch;
pub mod endpoints;
pub mod schedule;
pub mod signing;

use crate::totp::SecretBox;
use destinations::Destinations;

/// What the webhook use cases need besides the database: the key that seals signing
/// secrets and the destinations allowed.
#[derive(Debug, Clone)]
pub struct Webhooks {
    /// Seals signing secrets (AES-256-GCM, bound to workspace and endpoint).
    pub secrets: SecretBox,
    /// Where messages may go.
    pub destinations: Destinations,
}

/// The endpoints a workspace may have.
pub const MAX_ENDPOINTS: u64 = 20;

/// How long a rotated-out secret still signs: 24 hours.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
