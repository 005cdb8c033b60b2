//! Signing in with email and password: the password step, with its rate limits and its
//! trail (OWASP Authentication Cheat Sheet).
//!
//! Every attempt counts against the client address; every attempt counts against the
//! account before the password is checked (so parallel guesses cannot slip past the
//! check), and a success clears that count. Past a limit the answer is
//! [`AppError::RateLimited`] with the seconds left in the window. An unknown email and a
//! wrong password fail alike; a failure for an unknown email goes to the system security
//! log (the email hashed), never to a workspace, and a wrong password is a
//! `LoginFailed` event on the user's stream.

use chrono::{DateTime, Utc};
use crm_access::{credentials, rate_limits, security_log, two_factor};
use crm_domain::user::UserCommand;
use crm_domain::{Email, EntityId, EventMetadata, Role, TenantId, UserId};
use crm_projections::queries::users;
use crm_store::{Credential, TenantScope};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::password;
use crate::records::Services;

/// The answer to bad credentials, whatever was wrong.
pub const BAD_CREDENTIALS: AppError = AppError::Unauthenticated("invalid email or password");

/// The sign-in limits (from `auth` settings).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Length of a counting window, in seconds.
    pub window_seconds: i64,
    /// Attempts per client address in a window.
    pub max_per_ip: u64,
    /// Failed attempts per account in a window.
    pub max_failures_per_account: u64,
}

/// Where an attempt came from.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The client address, if known.
    pub ip: Option<String>,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// The time of the attempt (the server's clock).
    pub at: DateTime<Utc>,
}

/// A passed password step.
#[derive(Debug)]
pub struct Verified {
    /// The user's workspace.
    pub tenant: TenantId,
    /// The user.
    pub user: UserId,
    /// Their role.
    pub role: Role,
    /// Whether a second factor must follow before a session opens.
    pub two_factor: bool,
}

/// Counts a hit on `key` and refuses past `limit`.
///
/// # Errors
/// [`AppError::RateLimited`] past the limit; the database's errors.
pub async fn count(
    s: Services<'_>,
    key: &str,
    limit: u64,
    window_seconds: i64,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let (hits, ends) = rate_limits::hit(s.db, key, now, window_seconds).await?;
    if u64::try_from(hits).unwrap_or(u64::MAX) > limit {
        crate::metrics::rate_limited(match key.split(':').next() {
            Some("login-ip") => "login_ip",
            Some("login-account") => "login_account",
            _ => "other",
        });
        let wait = (ends - now).num_seconds().max(1);
        return Err(AppError::RateLimited(u64::try_from(wait).unwrap_or(1)));
    }
    Ok(())
}

/// Checks `email` and `password`. `meta_for` gives the metadata of the events the attempt
/// causes on the user's stream (the user as actor, with their role name).
///
/// # Errors
/// [`BAD_CREDENTIALS`] for an unknown, invited or deactivated account or a wrong
/// password; [`AppError::RateLimited`] past a limit; the store's errors.
pub async fn password_step(
    s: Services<'_>,
    limits: Limits,
    attempt: &Attempt,
    email: &str,
    password: SecretString,
    meta_for: impl FnOnce(TenantId, UserId, &str) -> EventMetadata,
) -> Result<Verified, AppError> {
    let now = attempt.at;
    let parsed = Email::parse(email).ok();
    let account_key = format!(
        "login-account:{}",
        parsed
            .as_ref()
            .map_or_else(|| email.trim().to_lowercase(), ToString::to_string)
    );
    let ip_key = format!("login-ip:{}", attempt.ip.as_deref().unwrap_or("unknown"));
    count(s, &ip_key, limits.max_per_ip, limits.window_seconds, now).await?;
    count(
        s,
        &account_key,
        limits.max_failures_per_account,
        limits.window_seconds,
        now,
    )
    .await?;

    let record = match &parsed {
        Some(email) => credentials::find_login(s.db, email.as_str()).await?,
        None => None,
    };
    let matched =
        password::verify(password, record.as_ref().map(|r| r.password_hash.clone())).await?;
    let user = match &record {
        Some(r) => {
            users::get_user(
                s.db,
                &TenantScope::for_credential(Credential::SignIn(TenantId(r.tenant_id))),
                r.user_id,
            )
            .await?
        }
        None => None,
    };
    // Invited and deactivated users cannot sign in; they are told nothing more.
    let user = user.filter(|u| u.status == "active");
    let (Some(record), Some(user)) = (record, user) else {
        let subject = hex::encode(Sha256::digest(account_key.as_bytes()));
        security_log::security_event(
            s.db,
            "login_failed_unknown_email",
            Some(subject),
            attempt.ip.clone(),
            attempt.user_agent.clone(),
            now,
        )
        .await?;
        crate::metrics::sign_in_failed("unknown_account");
        return Err(BAD_CREDENTIALS);
    };
    let tenant = TenantId(record.tenant_id);
    if !matched {
        let meta = meta_for(tenant, UserId(user.id), &user.role);
        s.commands
            .user(EntityId(user.id), UserCommand::RecordLoginFailure, &meta)
            .await?;
        crate::metrics::sign_in_failed("wrong_password");
        return Err(BAD_CREDENTIALS);
    }
    rate_limits::clear(s.db, &account_key).await?;
    let role: Role = user.role.parse().map_err(AppError::internal)?;
    let two_factor = two_factor::secret(
        s.db,
        &TenantScope::for_credential(Credential::SignIn(tenant)),
        user.id,
    )
    .await?
    .is_some_and(|secret| secret.confirmed_at.is_some());
    Ok(Verified {
        tenant,
        user: UserId(user.id),
        role,
        two_factor,
    })
}

/// The answer to a wrong or missing second factor.
pub const BAD_SECOND_FACTOR: AppError = AppError::Unauthenticated("invalid two-factor code");

/// Checks the second factor of a sign-in whose password step passed (the caller has
/// verified the challenge that names `tenant` and `user`). Failures count against the
/// account like passwords (a success clears them) and are `LoginFailed` events; a
/// recovery code used is a `RecoveryCodeUsed` event. `meta_for` gives those events'
/// metadata for the user's role. Returns the role and that metadata, for the session.
///
/// # Errors
/// [`BAD_SECOND_FACTOR`] for a wrong factor or a user no longer active;
/// [`AppError::RateLimited`] past a limit; the store's errors.
#[allow(clippy::too_many_arguments)]
pub async fn second_factor_step(
    s: Services<'_>,
    key_box: &crate::totp::SecretBox,
    limits: Limits,
    at: DateTime<Utc>,
    tenant: TenantId,
    user: UserId,
    code: Option<&str>,
    recovery_code: Option<&str>,
    meta_for: impl FnOnce(Role) -> EventMetadata,
) -> Result<(Role, EventMetadata), AppError> {
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let key = format!("2fa-account:{}", user.0);
    count(
        s,
        &key,
        limits.max_failures_per_account,
        limits.window_seconds,
        at,
    )
    .await?;
    let member = users::get_user(s.db, &scope, user.0)
        .await?
        .filter(|u| u.status == "active")
        .ok_or(BAD_SECOND_FACTOR)?;
    let role: Role = member.role.parse().map_err(AppError::internal)?;
    let meta = meta_for(role);
    let checked =
        crate::two_factor::check(s, key_box, limits, at, &scope, user.0, code, recovery_code)
            .await?;
    let Some(recovered) = checked else {
        s.commands
            .user(EntityId(user.0), UserCommand::RecordLoginFailure, &meta)
            .await?;
        crate::metrics::sign_in_failed("second_factor");
        return Err(BAD_SECOND_FACTOR);
    };
    rate_limits::clear(s.db, &key).await?;
    if recovered {
        s.commands
            .user(EntityId(user.0), UserCommand::RecordRecoveryCodeUsed, &meta)
            .await?;
    }
    Ok((role, meta))
}
