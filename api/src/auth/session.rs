//! Sessions: what sign-in opens, refresh rotates and sign-out revokes.
//!
//! A refresh token is opaque ([`crm_app::opaque_token`]); only its SHA-256 is stored.

use crm_access::sessions;
use crm_domain::{Role, TenantId, UserId};
use crm_store::{Credential, TenantScope};
use serde::Serialize;
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
    let (refresh, refresh_hash) = crm_app::opaque_token::new(tenant);
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
