//! Support staff: accounts outside every workspace that reach one only through an
//! Owner's grant.
//!
//! A support account signs in at `POST /v1/auth/support/login` with its password and a
//! TOTP code (always: two-factor is not optional for support) and gets an opaque bearer
//! token (`crms_…`, one hour, stored as its SHA-256). Each request names its workspace in
//! `X-Support-Workspace: <workspace id>`; without an active grant there (unrevoked,
//! unexpired) the answer is 404, as for any record the caller may not see. With one, the
//! request runs with the grant's scope ([`crate::auth::SupportAccess::may`]), is written
//! to the workspace's access record, and every event it causes names the support account
//! (`actor_type` `support`).

use actix_web::HttpRequest;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use crm_access::support::{self, SupportCredentials};
use crm_domain::{Email, Role, TenantId, UserId};
use crm_store::{Credential, TenantScope};
use rand::RngCore;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use crate::auth::context::{client_ip, workspace_rate_limit};
use crate::auth::{AuthContext, Caller, SupportAccess};
use crate::error::ApiError;
use crate::state::AppState;
use crm_app::password;
use crm_app::totp::{self, SecretBox};

/// The prefix of support tokens, so they are told from JWTs and API keys at a glance.
pub const TOKEN_PREFIX: &str = "crms_";

/// How long a support sign-in lasts: one hour (short-lived, like the access tokens).
pub const SESSION_SECONDS: i64 = 3_600;

/// The header that names the workspace of a support request.
pub const WORKSPACE_HEADER: &str = "x-support-workspace";

/// A new support account: its id and the `otpauth://` URI of its TOTP secret (RFC 6238),
/// to be put into the staff member's authenticator; shown once.
#[derive(Debug, Clone)]
pub struct NewSupportAccount {
    /// The account's id.
    pub id: Uuid,
    /// `otpauth://totp/CRM:<email>?secret=…&issuer=CRM`.
    pub otpauth_uri: String,
}

/// Creates a support account with a password and a TOTP secret (sealed with `totp_box`),
/// for the `crm create-support-account` command.
///
/// # Errors
/// 422 for a bad email or a password outside the policy; 409 when the email is taken.
pub async fn create_account(
    db: &DatabaseConnection,
    totp_box: &SecretBox,
    email: &str,
    display_name: &str,
    password: SecretString,
) -> Result<NewSupportAccount, ApiError> {
    let email = Email::parse(email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    password::check_policy(&password, &std::collections::HashSet::new())?;
    let password_hash = password::hash(password).await?;
    let id = Uuid::now_v7();
    let secret = totp::new_secret();
    let otpauth_uri = totp::totp(secret.clone(), email.as_str())?.get_url();
    let (totp_ciphertext, totp_nonce) = totp_box.seal(Uuid::nil(), id, &secret)?;
    let credentials = SupportCredentials {
        password_hash,
        totp_ciphertext,
        totp_nonce,
    };
    if !support::create_account(db, id, email.as_str(), display_name.trim(), &credentials).await? {
        return Err(ApiError::Conflict(
            "a support account has this email".into(),
        ));
    }
    Ok(NewSupportAccount { id, otpauth_uri })
}

/// Checks a support account's password and TOTP code (RFC 6238, one step of skew, each
/// step accepted once) and opens a session: `(token, expires_at)`. Unknown email, wrong
/// password and wrong code are the same 401.
///
/// # Errors
/// 401.
pub async fn sign_in(
    db: &DatabaseConnection,
    totp_box: &SecretBox,
    email: &str,
    password: SecretString,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), ApiError> {
    const BAD: ApiError = ApiError::Unauthorized("invalid email, password or code");
    let account = match Email::parse(email) {
        Ok(email) => support::account_by_email(db, email.as_str()).await?,
        Err(_) => None,
    };
    let matched =
        password::verify(password, account.as_ref().map(|a| a.password_hash.clone())).await?;
    let Some(account) = account.filter(|_| matched) else {
        return Err(BAD);
    };
    let Some((ciphertext, nonce)) = &account.totp else {
        return Err(BAD);
    };
    // A secret that does not open (a changed auth.totp_encryption_key) is the same 401,
    // so the answer never tells that the password was right.
    let secret = match totp_box.open(Uuid::nil(), account.id, ciphertext, nonce) {
        Ok(secret) => secret,
        Err(err) => {
            tracing::error!(account = %account.id, error = %err, "support TOTP secret does not open");
            return Err(BAD);
        }
    };
    let generator = totp::totp(secret, email)?;
    let at = u64::try_from(now.timestamp()).unwrap_or(0);
    let Some(step) = totp::matching_step(&generator, code, at) else {
        return Err(BAD);
    };
    if !support::accept_step(db, account.id, step).await? {
        return Err(BAD);
    }
    let id = account.id;
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let expires_at = now + Duration::seconds(SESSION_SECONDS);
    support::open_session(db, crm_app::opaque_token::hash(&token), id, now, expires_at).await?;
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
        support::session_account(&state.pools.app, crm_app::opaque_token::hash(token), now)
            .await?
            .ok_or(ApiError::Unauthorized("invalid or expired support token"))?;
    let tenant = req
        .headers()
        .get(WORKSPACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(TenantId)
        .ok_or(ApiError::NotFound)?;
    let scope = TenantScope::for_credential(Credential::SupportSession(tenant));
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
    Ok(AuthContext(Caller {
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
    }))
}
