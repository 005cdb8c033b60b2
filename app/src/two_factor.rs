//! Checking a second factor (RFC 6238 TOTP, or a single-use recovery code), wherever it
//! is asked for: completing a sign-in, confirming an enrolment, turning two-factor off.

use chrono::{DateTime, Utc};
use crm_access::two_factor;
use crm_projections::queries::users;
use crm_store::TenantScope;
use uuid::Uuid;

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
