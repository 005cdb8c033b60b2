//! Proving the trail was not edited: the database chains each stream's events by SHA-256
//! (`migrations/src/sql/000018_hash_chain.up.sql`); the server signs checkpoints of every
//! workspace's stream heads with HMAC-SHA256 (RFC 2104) under a key from its configuration
//! that the database never holds, and verifies both.
//!
//! What each check catches: an edited event breaks its own hash; a deleted or reordered
//! event breaks the next one's link; a whole stream suffix rewritten with fresh hashes, or
//! a deleted last event, no longer matches the last signed checkpoint; an edited
//! checkpoint fails its signature.

use chrono::{DateTime, Utc};
use crm_domain::TenantId;
use crm_store::audit_chain::{self, Break, Head};
use crm_store::TenantScope;
use hmac::{Hmac, Mac};
use sea_orm::DatabaseConnection;
use serde::Serialize;
use sha2::Sha256;

use crate::error::AppError;

/// The checkpoint signing key.
#[derive(Clone)]
pub struct CheckpointKey(Vec<u8>);

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckpointKey(..)")
    }
}

impl CheckpointKey {
    /// A key from its bytes.
    pub fn new(key: Vec<u8>) -> Self {
        Self(key)
    }

    /// An HMAC-SHA256 (RFC 2104) under this key for a workspace backup file: fed every line
    /// before the end marker, it signs the whole file (domain-separated from checkpoints).
    ///
    /// # Errors
    /// 500 if the key is unusable (never for HMAC, which takes any length).
    pub fn backup_mac(&self) -> Result<Hmac<Sha256>, AppError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .map_err(|e| AppError::Internal(e.to_string().into()))?;
        mac.update(b"crm-workspace-backup\n");
        Ok(mac)
    }

    fn mac(&self, tenant: TenantId, heads: &serde_json::Value) -> Result<Hmac<Sha256>, AppError> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0)
            .map_err(|e| AppError::Internal(e.to_string().into()))?;
        mac.update(tenant.0.as_bytes());
        mac.update(heads.to_string().as_bytes());
        Ok(mac)
    }
}

/// A verification's answer.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// True when no check failed.
    pub intact: bool,
    /// Events walked.
    pub events_checked: i64,
    /// The first event whose chain breaks, if any.
    pub first_break: Option<Break>,
    /// The checkpoint compared against, if any.
    pub checkpoint: Option<CheckpointReport>,
}

/// What the latest checkpoint showed.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointReport {
    /// Its id.
    pub id: i64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Whether its signature holds.
    pub signature_valid: bool,
    /// The first signed stream head no longer in the store as signed, if any.
    pub missing_head: Option<Head>,
}

/// Signs and stores a checkpoint of the tenant's stream heads now. Returns its id.
///
/// # Errors
/// 500 on database failure.
pub async fn checkpoint(
    db: &DatabaseConnection,
    key: &CheckpointKey,
    tenant: TenantId,
    now: DateTime<Utc>,
) -> Result<i64, AppError> {
    let scope = TenantScope::for_system(tenant);
    let heads =
        serde_json::to_value(audit_chain::heads(db, &scope).await?).map_err(AppError::internal)?;
    let mac = key.mac(tenant, &heads)?.finalize().into_bytes().to_vec();
    Ok(audit_chain::save_checkpoint(db, &scope, now, heads, mac).await?)
}

/// Walks the tenant's chains and checks the latest checkpoint.
///
/// # Errors
/// 500 on database failure.
pub async fn verify(
    db: &DatabaseConnection,
    key: &CheckpointKey,
    tenant: TenantId,
) -> Result<Report, AppError> {
    let scope = TenantScope::for_system(tenant);
    let (events_checked, first_break) = audit_chain::first_break(db, &scope).await?;
    let checkpoint = match audit_chain::latest_checkpoint(db, &scope).await? {
        None => None,
        Some(cp) => {
            let signature_valid = key.mac(tenant, &cp.heads)?.verify_slice(&cp.mac).is_ok();
            let heads: Vec<Head> = serde_json::from_value(cp.heads.clone()).unwrap_or_default();
            let mut missing_head = None;
            for head in heads {
                if !audit_chain::has_event(db, &scope, &head).await? {
                    missing_head = Some(head);
                    break;
                }
            }
            Some(CheckpointReport {
                id: cp.id,
                taken_at: cp.taken_at,
                signature_valid,
                missing_head,
            })
        }
    };
    let intact = first_break.is_none()
        && checkpoint
            .as_ref()
            .is_none_or(|c| c.signature_valid && c.missing_head.is_none());
    Ok(Report {
        intact,
        events_checked,
        first_break,
        checkpoint,
    })
}
