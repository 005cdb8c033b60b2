//! Sessions: what sign-in opens, refresh rotates and sign-out revokes.
//!
//! A refresh token is opaque: URL-safe base64 of the tenant's 16 id bytes and 32 random
//! bytes (256 bits from the OS generator), so the server finds the tenant before it looks
//! the token up; only its SHA-256 is stored.

use base64::Engine;
use crm_access::sessions;
use crm_domain::{Role, TenantId, UserId};
use crm_store::{Credential, TenantScope};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The tokens a sign-in or refresh hands out.
#[derive(Debug, Serialize)]
pub struct TokenPair {
    /// The JWT access token (at most 15 minutes).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The single-use refresh token.
    pub refresh_token: String,
    /// The session both belong to.
    pub session_id: Uuid,
}

/// A new refresh token of `tenant` and its hash.
pub fn new_refresh_token(tenant: TenantId) -> (String, Vec<u8>) {
    let mut bytes = [0_u8; 48];
    bytes[..16].copy_from_slice(tenant.0.as_bytes());
    rand::rngs::OsRng.fill_bytes(&mut bytes[16..]);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// SHA-256 of a token's text.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The tenant a refresh token names, if it is well-formed.
pub fn tenant_of(token: &str) -> Option<TenantId> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    if bytes.len() != 48 {
        return None;
    }
    Uuid::from_slice(&bytes[..16]).ok().map(TenantId)
}

/// Opens a session for `user` and returns its first tokens.
///
/// # Errors
/// 500 on database or signing failure.
pub async fn open(
    state: &AppState,
    tenant: TenantId,
    user: UserId,
    role: Role,
    ip: Option<String>,
    user_agent: Option<String>,
) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    let session = Uuid::now_v7();
    let (refresh, refresh_hash) = new_refresh_token(tenant);
    let ttl = chrono::Duration::seconds(
        i64::try_from(state.settings.auth.refresh_token_ttl_seconds).unwrap_or(2_592_000),
    );
    sessions::create(
        &state.pools.app,
        &TenantScope::for_credential(Credential::SignIn(tenant)),
        session,
        user.0,
        now,
        now + ttl,
        ip,
        user_agent,
        refresh_hash,
    )
    .await?;
    let access = state
        .tokens
        .issue(tenant, user, role, session, now)
        .map_err(ApiError::internal)?;
    Ok(TokenPair {
        access_token: access.access_token,
        token_type: access.token_type,
        expires_in: access.expires_in,
        refresh_token: refresh,
        session_id: session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_carry_their_tenant_and_are_unique() {
        let tenant = TenantId::new();
        let (a, ha) = new_refresh_token(tenant);
        let (b, hb) = new_refresh_token(tenant);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(tenant_of(&a), Some(tenant));
        assert_eq!(hash(&a), ha);
        assert_eq!(tenant_of("short"), None);
    }
}
