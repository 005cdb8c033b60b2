//! Support staff's accounts: outside every workspace, reaching one only through an
//! Owner's grant ([`crate::support_grants`]). An account is made on the command line with
//! a password and a TOTP secret; it signs in with both (two-factor is not optional for
//! support) and gets an opaque bearer token (`crms_…`, one hour, stored as its SHA-256).

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use crm_access::support::{self, SupportCredentials};
use crm_domain::Email;
use rand::RngCore;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use crate::error::AppError;
use crate::records::Services;
use crate::sign_in::{count, Limits};
use crate::totp::{self, SecretBox};
use crate::{opaque_token, password};

/// The prefix of support tokens, so they are told from JWTs and API keys at a glance.
pub const TOKEN_PREFIX: &str = "crms_";

/// How long a support sign-in lasts: one hour (short-lived, like the access tokens).
pub const SESSION_SECONDS: i64 = 3_600;

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
/// A validation error for a bad email or a password outside the policy; a conflict when
/// the email is taken; the store's errors.
pub async fn create_account(
    db: &DatabaseConnection,
    totp_box: &SecretBox,
    email: &str,
    display_name: &str,
    password: SecretString,
) -> Result<NewSupportAccount, AppError> {
    let email = Email::parse(email).map_err(|e| AppError::invalid("email", e.to_string()))?;
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
        return Err(AppError::Conflict(
            "a support account has this email".into(),
        ));
    }
    Ok(NewSupportAccount { id, otpauth_uri })
}

/// Checks a support account's password and TOTP code (RFC 6238, one step of skew, each
/// step accepted once) and opens a session: `(token, expires_at)`. Unknown email, wrong
/// password and wrong code fail alike.
///
/// # Errors
/// [`AppError::Unauthenticated`]; the store's errors.
pub async fn sign_in(
    db: &DatabaseConnection,
    totp_box: &SecretBox,
    email: &str,
    password: SecretString,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), AppError> {
    const BAD: AppError = AppError::Unauthenticated("invalid email, password or code");
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
    support::open_session(db, opaque_token::hash(&token), id, now, expires_at).await?;
    Ok((token, expires_at))
}

/// Signs a support account in from client address `ip` ([`sign_in`]), counted against
/// the sign-in limits per address (every attempt) and per account (every attempt; a
/// success clears the count).
///
/// # Errors
/// [`AppError::RateLimited`] past a limit; otherwise as [`sign_in`].
#[allow(clippy::too_many_arguments)]
pub async fn sign_in_limited(
    s: Services<'_>,
    totp_box: &SecretBox,
    limits: Limits,
    ip: &str,
    email: &str,
    password: SecretString,
    code: &str,
    now: DateTime<Utc>,
) -> Result<(String, DateTime<Utc>), AppError> {
    let window = limits.window_seconds;
    let ip_key = format!("support-login-ip:{ip}");
    count(s, &ip_key, limits.max_per_ip, window, now).await?;
    let account_key = format!("support-login-account:{}", email.trim().to_lowercase());
    count(
        s,
        &account_key,
        limits.max_failures_per_account,
        window,
        now,
    )
    .await?;
    let opened = sign_in(s.db, totp_box, email, password, code, now).await?;
    crm_access::rate_limits::clear(s.db, &account_key).await?;
    Ok(opened)
}

/// Ends the support sign-in of `token`.
///
/// # Errors
/// [`AppError::Unauthenticated`] when no live sign-in has this token; the store's errors.
pub async fn sign_out(s: Services<'_>, token: &str) -> Result<(), AppError> {
    if !support::end_session(s.db, opaque_token::hash(token)).await? {
        return Err(AppError::Unauthenticated(
            "invalid or expired support token",
        ));
    }
    Ok(())
}
