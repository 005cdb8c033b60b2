//! Support staff: accounts outside every workspace that reach one only through an
//! Owner's grant.
//!
//! A support account signs in at `POST /v1/auth/support/login` and gets an opaque bearer
//! token (`crms_…`, one hour, stored as its SHA-256). Each request names its workspace in
//! `X-Support-Workspace: <workspace id>`; without an active grant there (unrevoked,
//! unexpired) the answer is 404, as for any record the caller may not see. With one, the
//! request runs with the grant's scope ([`crate::auth::SupportAccess::may`]), is written
//! to the workspace's access record, and every event it causes names the support account
//! (`actor_type` `support`).

use actix_web::HttpRequest;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use crm_domain::{Email, Role, TenantId, UserId};
use crm_projections::queries::support;
use crm_projections::TenantScope;
use rand::RngCore;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::context::{client_ip, workspace_rate_limit};
use crate::auth::{password, AuthContext, SupportAccess};
use crate::error::ApiError;
use crate::state::AppState;

/// The prefix of support tokens, so they are told from JWTs and API keys at a glance.
pub const TOKEN_PREFIX: &str = "crms_";

/// How long a support sign-in lasts: one hour (short-lived, like the access tokens).
pub const SESSION_SECONDS: i64 = 3_600;

/// The header that names the workspace of a support request.
pub const WORKSPACE_HEADER: &str = "x-support-workspace";

/// Creates a support account (the `crm create-support-account` command). Returns its id.
///
/// # Errors
/// 422 for a bad email or a password outside the policy; 409 when the email is taken.
pub async fn create_account(
    db: &DatabaseConnection,
    email: &str,
    display_name: &str,
    password: SecretString,
) -> Result<Uuid, ApiError> {
    let email = Email::parse(email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    password::check_policy(&password, &std::collections::HashSet::new())?;
    let hash = password::hash(password).await?;
    let id = Uuid::now_v7();
    if !support::create_account(db, id, email.as_str(), display_name.trim(), &hash).await? {
        return Err(ApiError::Conflict(
            "a support account has this email".into(),
        ));
    }
    Ok(id)
}

/// Checks a support account's password and opens a session: `(token, expires_at)`.
/// Unknown email and wrong password are the same 401.
///
/// # Errors
/// 401.
pub async fn sign_in(
    db: &DatabaseConnection,
    email: &str,
    password: SecretString,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ApiError> {
    let account = match Email::parse(email) {
        Ok(email) => support::account_by_email(db, email.as_str()).await?,
        Err(_) => None,
    };
    let matched = password::verify(password, account.as_ref().map(|(_, h)| h.clone())).await?;
    let Some((id, _)) = account.filter(|_| matched) else {
        return Err(ApiError::Unauthorized("invalid email or password"));
    };
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let expires_at = now + Duration::seconds(SESSION_SECONDS);
    support::open_session(db, crate::auth::session::hash(&token), id, now, expires_at).await?;
    Ok((token, expires_at))
}

/// Authenticates a support request: a live session, a workspace named in
/// [`WORKSPACE_HEADER`], an active grant there. Records the access.
///
/// # Errors
/// 401 for a bad or expired token; 404 without a workspace header or an active grant.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AuthContext, ApiError> {
    let account =
        support::session_account(&state.pools.app, crate::auth::session::hash(token), now)
            .await?
            .ok_or(ApiError::Unauthorized("invalid or expired support token"))?;
    let tenant = req
        .headers()
        .get(WORKSPACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(TenantId)
        .ok_or(ApiError::NotFound)?;
    let scope = TenantScope::new(tenant);
    let (grant, grant_scope) = support::active_grant(&state.pools.app, &scope, account, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    support::record_access(
        &state.pools.app,
        &scope,
        support::Access {
            grant_id: grant,
            support_id: account,
            method: req.method().to_string(),
            path: req.path().to_owned(),
            ip: client_ip(req).map(|ip| ip.to_string()),
            at: now,
        },
    )
    .await?;
    workspace_rate_limit(state, tenant, now).await?;
    Ok(AuthContext {
        tenant,
        user: UserId(account),
        role: Role::ReadOnly,
        session: Uuid::nil(),
        api_key: None,
        scope,
        support: Some(SupportAccess {
            account,
            grant,
            recovery: grant_scope == "recovery",
        }),
    })
}
