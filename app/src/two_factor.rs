//! Two-factor sign-in (RFC 6238 TOTP): enrolling, confirming, turning it off, and checking
//! a second factor (a TOTP code, or a single-use recovery code) wherever it is asked for:
//! completing a sign-in, confirming an enrolment, turning two-factor off.

use chrono::{DateTime, Utc};
use crm_access::two_factor;
use crm_domain::user::UserCommand;
use crm_domain::{EntityId, EventMetadata};
use crm_projections::queries::users;
use crm_store::TenantScope;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::records::Services;
use crate::sign_in::{count, Limits};
use crate::totp::{self, SecretBox};

/// The user's login email, the account name of their authenticator entry.
///
/// # Errors
/// Not found for a user the workspace does not have; the database's errors.
pub async fn account(s: Services<'_>, scope: &TenantScope, user: Uuid) -> Result<String, AppError> {
    Ok(users::get_user(s.db, scope, user)
        .await?
        .ok_or(AppError::NotFound)?
        .email)
}

/// Checks `code` (TOTP) or `recovery` for `user`; a TOTP step or a recovery code is spent
/// on success. `Some(recovered)` when a factor matched (`true` for a recovery code),
/// `None` when none did or the user has no secret. Every check counts against the
/// account, wherever it comes from, at twice the sign-in limit, so six digits cannot be
/// brute-forced.
///
/// # Errors
/// [`AppError::RateLimited`] past the limit; the store's errors, and an internal error
/// for a secret that does not open with `key_box`.
#[allow(clippy::too_many_arguments)]
pub async fn check(
    s: Services<'_>,
    key_box: &SecretBox,
    limits: Limits,
    now: DateTime<Utc>,
    scope: &TenantScope,
    user: Uuid,
    code: Option<&str>,
    recovery: Option<&str>,
) -> Result<Option<bool>, AppError> {
    let Some(stored) = two_factor::secret(s.db, scope, user).await? else {
        return Ok(None);
    };
    let limit = limits.max_failures_per_account.saturating_mul(2);
    count(
        s,
        &format!("2fa-check:{user}"),
        limit,
        limits.window_seconds,
        now,
    )
    .await?;
    if let Some(code) = code {
        let secret = key_box.open(scope.tenant().0, user, &stored.ciphertext, &stored.nonce)?;
        let generator = totp::totp(secret, &account(s, scope, user).await?)?;
        let at = u64::try_from(now.timestamp()).unwrap_or(0);
        if let Some(step) = totp::matching_step(&generator, code, at) {
            if two_factor::accept_step(s.db, scope, user, step).await? {
                return Ok(Some(false));
            }
        }
        return Ok(None);
    }
    if let Some(recovery) = recovery {
        if stored.confirmed_at.is_some()
            && two_factor::use_recovery_code(s.db, scope, user, totp::recovery_hash(recovery), now)
                .await?
        {
            return Ok(Some(true));
        }
    }
    Ok(None)
}

/// A new two-factor secret, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The TOTP secret, base32 (RFC 4648), for typing into an authenticator.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as an `otpauth://totp/…` URI, for a QR code.
    pub otpauth_uri: String,
}

/// A second factor: a TOTP `code` or a `recovery_code`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct FactorBody {
    /// Six digits from the authenticator.
    pub code: Option<String>,
    /// One of the recovery codes.
    pub recovery_code: Option<String>,
}

/// The recovery codes of a newly confirmed two-factor sign-in, shown once.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each accepted instead of a TOTP code once.
    pub recovery_codes: Vec<String>,
}

/// What checking a factor needs besides the store: the key box that opens TOTP secrets,
/// the sign-in limits, and the time.
#[derive(Clone, Copy)]
pub struct Checker<'a> {
    /// Opens the sealed TOTP secrets.
    pub key_box: &'a SecretBox,
    /// The sign-in limits (a factor check counts at twice the account limit).
    pub limits: Limits,
    /// The time of the check (the server's clock).
    pub now: DateTime<Utc>,
}

/// Starts the caller's enrolment: a new secret, sealed and kept pending until
/// [`confirm`]; enrolling again replaces a pending one.
///
/// # Errors
/// Forbidden for an API key or support staff; a conflict when two-factor sign-in is on
/// already; the store's errors.
pub async fn enroll(
    s: Services<'_>,
    key_box: &SecretBox,
    caller: &Caller,
) -> Result<Enrolment, AppError> {
    caller.require_person()?;
    let (scope, user) = (&caller.scope, caller.user.0);
    let secret = totp::new_secret();
    let generator = totp::totp(secret.clone(), &account(s, scope, user).await?)?;
    let (ciphertext, nonce) = key_box.seal(caller.tenant.0, user, &secret)?;
    if !two_factor::put_pending(s.db, scope, user, ciphertext, nonce).await? {
        return Err(AppError::Conflict(
            "two-factor sign-in is on already; disable it first".into(),
        ));
    }
    Ok(Enrolment {
        secret: generator.get_secret_base32(),
        otpauth_uri: generator.get_url(),
    })
}

/// Confirms the caller's pending enrolment with a TOTP `code` (a recovery code is not
/// accepted here), which turns two-factor sign-in on; returns ten recovery codes, shown
/// once, and records `TwoFactorEnabled`.
///
/// # Errors
/// Forbidden for an API key or support staff; a conflict when nothing is pending or it
/// is on already; a validation error on `code` when it is missing or does not match;
/// [`AppError::RateLimited`]; the store's errors.
pub async fn confirm(
    s: Services<'_>,
    checker: Checker<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    code: Option<&str>,
) -> Result<RecoveryCodes, AppError> {
    caller.require_person()?;
    let (scope, user) = (&caller.scope, caller.user.0);
    let stored = two_factor::secret(s.db, scope, user)
        .await?
        .ok_or_else(|| AppError::Conflict("enrol first".into()))?;
    if stored.confirmed_at.is_some() {
        return Err(AppError::Conflict(
            "two-factor sign-in is on already".into(),
        ));
    }
    let code = code.ok_or_else(|| AppError::invalid("code", "is required"))?;
    let (key_box, limits, now) = (checker.key_box, checker.limits, checker.now);
    if check(s, key_box, limits, now, scope, user, Some(code), None)
        .await?
        .is_none()
    {
        return Err(AppError::invalid("code", "does not match"));
    }
    let codes = totp::new_recovery_codes();
    let hashes = codes.iter().map(|(_, h)| h.clone()).collect();
    two_factor::confirm(s.db, scope, user, now, hashes).await?;
    let command = UserCommand::RecordTwoFactorEnabled;
    s.commands.user(EntityId(user), command, meta).await?;
    Ok(RecoveryCodes {
        recovery_codes: codes.into_iter().map(|(c, _)| c).collect(),
    })
}

/// Turns the caller's two-factor sign-in off, with a code or a recovery code (a spent
/// recovery code records `RecoveryCodeUsed`); records `TwoFactorDisabled`.
///
/// # Errors
/// Forbidden for an API key or support staff; a conflict when it is off; a validation
/// error on `code` when no factor matches; [`AppError::RateLimited`]; the store's errors.
pub async fn disable(
    s: Services<'_>,
    checker: Checker<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    factor: &FactorBody,
) -> Result<(), AppError> {
    caller.require_person()?;
    let (scope, user) = (&caller.scope, caller.user.0);
    let stored = two_factor::secret(s.db, scope, user).await?;
    if stored.is_none_or(|s| s.confirmed_at.is_none()) {
        return Err(AppError::Conflict("two-factor sign-in is off".into()));
    }
    let (key_box, limits, now) = (checker.key_box, checker.limits, checker.now);
    let (code, recovery) = (factor.code.as_deref(), factor.recovery_code.as_deref());
    let Some(recovered) = check(s, key_box, limits, now, scope, user, code, recovery).await? else {
        return Err(AppError::invalid("code", "does not match"));
    };
    if recovered {
        let command = UserCommand::RecordRecoveryCodeUsed;
        s.commands.user(EntityId(user), command, meta).await?;
    }
    two_factor::remove(s.db, scope, user).await?;
    let command = UserCommand::RecordTwoFactorDisabled;
    s.commands.user(EntityId(user), command, meta).await
}
