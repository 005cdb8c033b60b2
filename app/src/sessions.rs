//! Sessions: what a sign-in opens, a refresh rotates and a sign-out ends, and password
//! resets, which end them all.
//!
//! A session hands out a short-lived access token ([`crate::access_token`]) and a
//! single-use refresh token, opaque ([`crate::opaque_token`]) and stored as its SHA-256
//! only. Presenting a used refresh token revokes its whole session (refresh-token
//! rotation with reuse detection, OAuth 2.0 Security BCP, RFC 9700 §4.14.2). Each sign-in,
//! sign-out, reuse and reset is an event on the user's stream.

use chrono::{DateTime, Utc};
use crm_access::credentials;
use crm_access::sessions::{self, Refresh, SessionRow};
use crm_domain::user::UserCommand;
use crm_domain::{Email, EntityId, EventMetadata, Role, TenantId, UserId};
use crm_projections::queries::users;
use crm_store::{Credential, TenantScope};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use uuid::Uuid;

use crate::access_token::TokenKeys;
use crate::caller::Caller;
use crate::error::AppError;
use crate::mailer::Mailer;
use crate::records::Services;
use crate::sign_in::{self, Limits};
use crate::{opaque_token, password};

/// How long a password-reset token stays valid: 30 minutes.
pub const RESET_MINUTES: i64 = 30;

/// The tokens a sign-in or refresh hands out: a short-lived bearer access token and the
/// refresh token that renews it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    /// The JWT access token (at most 15 minutes), sent as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The single-use refresh token (`POST /v1/auth/refresh`).
    pub refresh_token: String,
    /// The session both belong to.
    pub session_id: Uuid,
}

/// Tokens of session `session` for `user`, with `refresh_token`.
fn tokens(
    keys: &TokenKeys,
    (tenant, user, role): (TenantId, UserId, Role),
    session: Uuid,
    refresh_token: String,
    now: DateTime<Utc>,
) -> Result<Tokens, AppError> {
    let access = keys
        .issue(tenant, user, role, session, now)
        .map_err(AppError::internal)?;
    Ok(Tokens {
        access_token: access.access_token,
        token_type: access.token_type,
        expires_in: access.expires_in,
        refresh_token,
        session_id: session,
    })
}

/// Opens a session for `user` of `tenant` with `role`, from the address and user agent of
/// `meta` at its time; returns its first tokens. Records no event (signing up and
/// accepting an invitation have their own).
///
/// # Errors
/// The store's errors.
pub async fn open(
    s: Services<'_>,
    keys: &TokenKeys,
    user: (TenantId, UserId, Role),
    meta: &EventMetadata,
) -> Result<Tokens, AppError> {
    let scope = TenantScope::for_credential(Credential::SignIn(user.0));
    let txn = scope.begin(s.db).await?;
    let tokens = open_in(&txn, &scope, keys, user, meta).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// [`open`] through `conn`, uncommitted.
async fn open_in<C: sea_orm::ConnectionTrait>(
    conn: &C,
    scope: &TenantScope,
    keys: &TokenKeys,
    user: (TenantId, UserId, Role),
    meta: &EventMetadata,
) -> Result<Tokens, AppError> {
    let (tenant, now) = (user.0, meta.occurred_at);
    let session = Uuid::now_v7();
    let (refresh, refresh_hash) = opaque_token::new(tenant);
    sessions::create(
        conn,
        scope,
        session,
        user.1 .0,
        now,
        now + keys.refresh_ttl(),
        meta.ip.map(|ip| ip.to_string()),
        meta.user_agent.clone(),
        refresh_hash,
    )
    .await?;
    tokens(keys, user, session, refresh, now)
}

/// Completes a sign-in (after the password step, and the second factor when one is on):
/// opens the session and records `LoginSucceeded` on the user's stream, in one
/// transaction (a sign-in that loses a race on the user's stream opens no session, and is
/// tried again).
///
/// # Errors
/// The store's errors.
pub async fn sign_in(
    s: Services<'_>,
    keys: &TokenKeys,
    user: (TenantId, UserId, Role),
    meta: &EventMetadata,
) -> Result<Tokens, AppError> {
    let scope = TenantScope::for_credential(Credential::SignIn(user.0));
    // Two sign-ins of one user at once race for the user's stream: the loser opens its
    // session again rather than answer 409.
    crate::unit_of_work::again(|| async {
        let uow = s.commands.unit_in(&scope).await?;
        let tokens = open_in(uow.connection(), &scope, keys, user, meta).await?;
        let command = UserCommand::RecordLogin {
            session_id: EntityId(tokens.session_id),
        };
        s.commands
            .run_in::<crm_domain::user::User, _>(&uow, EntityId(user.1 .0), command, meta)
            .await?;
        uow.commit().await?;
        Ok(tokens)
    })
    .await
}

/// Trades refresh token `token` for new tokens of the same session; the old one is used
/// up. `meta_for(tenant, user, role)` gives the metadata of the event a reuse records.
///
/// # Errors
/// [`AppError::Unauthenticated`] for an unknown or expired token, a deactivated user, or
/// a used token (which revokes the session and records `RefreshTokenReused`); the
/// store's errors.
pub async fn refresh(
    s: Services<'_>,
    keys: &TokenKeys,
    token: &SecretString,
    now: DateTime<Utc>,
    meta_for: impl FnOnce(TenantId, UserId, &str) -> EventMetadata,
) -> Result<Tokens, AppError> {
    const INVALID: AppError = AppError::Unauthenticated("invalid refresh token");
    let token = token.expose_secret();
    let tenant = opaque_token::tenant_of(token).ok_or(INVALID)?;
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let (next, next_hash) = opaque_token::new(tenant);
    match sessions::rotate(s.db, &scope, opaque_token::hash(token), next_hash, now).await? {
        Refresh::Invalid => Err(INVALID),
        Refresh::Reused { session, user } => {
            let role = users::get_user(s.db, &scope, user)
                .await?
                .map_or_else(|| "unknown".to_owned(), |u| u.role);
            let meta = meta_for(tenant, UserId(user), &role);
            let command = UserCommand::RecordRefreshReuse {
                session_id: EntityId(session),
            };
            s.commands.user(EntityId(user), command, &meta).await?;
            Err(AppError::Unauthenticated(
                "refresh token reused: the session is revoked; sign in again",
            ))
        }
        Refresh::Rotated { session, user } => {
            let user = users::get_user(s.db, &scope, user)
                .await?
                .filter(|u| u.status == "active")
                .ok_or(INVALID)?;
            let role: Role = user.role.parse().map_err(AppError::internal)?;
            tokens(keys, (tenant, UserId(user.id), role), session, next, now)
        }
    }
}

/// Ends the caller's session (`everywhere`: every session of theirs); its tokens stop
/// working at once. Records `LoggedOut`.
///
/// # Errors
/// Forbidden for an API key or support staff; the store's errors.
pub async fn sign_out(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    everywhere: bool,
) -> Result<(), AppError> {
    caller.require_person()?;
    let (which, why) = if everywhere {
        (None, "signed out everywhere")
    } else {
        (Some(caller.session), "signed out")
    };
    let user = caller.user.0;
    // One transaction: the sessions end and `LoggedOut` is recorded together.
    let uow = s.commands.unit_in(&caller.scope).await?;
    sessions::revoke_in(
        uow.connection(),
        &caller.scope,
        user,
        which,
        why,
        meta.occurred_at,
    )
    .await?;
    let command = UserCommand::RecordLogout {
        session_id: which.map(EntityId),
    };
    s.commands
        .run_in::<crm_domain::user::User, _>(&uow, EntityId(user), command, meta)
        .await?;
    uow.commit().await
}

/// One of the caller's sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The session.
    #[serde(flatten)]
    pub session: SessionRow,
    /// Whether the request came with this session's token.
    pub current: bool,
}

/// The caller's sessions, newest first, the current one marked.
///
/// # Errors
/// Forbidden for an API key or support staff; the store's errors.
pub async fn list(s: Services<'_>, caller: &Caller) -> Result<Vec<SessionView>, AppError> {
    caller.require_person()?;
    let rows = sessions::list(s.db, &caller.scope, caller.user.0).await?;
    Ok(rows
        .into_iter()
        .map(|session| SessionView {
            current: session.id == caller.session,
            session,
        })
        .collect())
}

/// Asks for a password reset of `email` from client address `ip`: mails a single-use
/// token ([`RESET_MINUTES`]) when the email has an active account, and does nothing
/// otherwise, so the caller learns nothing of which emails exist. Counted per address and
/// per email against the sign-in limits.
///
/// # Errors
/// [`AppError::RateLimited`] past a limit; the store's errors.
pub async fn request_reset(
    s: Services<'_>,
    mailer: &dyn Mailer,
    limits: Limits,
    email: &str,
    ip: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let window = limits.window_seconds;
    let ip_key = format!("reset-ip:{}", ip.unwrap_or("unknown"));
    sign_in::count(s, &ip_key, limits.max_per_ip, window, now).await?;
    let account_key = format!("reset-account:{}", email.trim().to_lowercase());
    sign_in::count(
        s,
        &account_key,
        limits.max_failures_per_account,
        window,
        now,
    )
    .await?;
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let Some(record) = credentials::find_login(s.db, email.as_str()).await? else {
        return Ok(());
    };
    let tenant = TenantId(record.tenant_id);
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let active = users::get_user(s.db, &scope, record.user_id)
        .await?
        .is_some_and(|u| u.status == "active");
    if active {
        let (token, hash) = opaque_token::new(tenant);
        let expires = now + chrono::Duration::minutes(RESET_MINUTES);
        credentials::create_reset(s.db, &scope, record.user_id, hash, now, expires).await?;
        mailer.password_reset(email.as_str(), &token);
    }
    Ok(())
}

/// Sets `new_password` with mailed reset token `token`, ends every session of the
/// account, and records `PasswordReset`; `meta_for(tenant, user, role)` gives the event's
/// metadata.
///
/// # Errors
/// A validation error for a password the policy refuses
/// ([`password::check_policy`]); [`AppError::Unauthenticated`] for an unknown, used or
/// expired token; the store's errors.
pub async fn confirm_reset(
    s: Services<'_>,
    common_passwords: &std::collections::HashSet<String>,
    token: &SecretString,
    new_password: SecretString,
    now: DateTime<Utc>,
    meta_for: impl FnOnce(TenantId, UserId, &str) -> EventMetadata,
) -> Result<(), AppError> {
    const INVALID: AppError = AppError::Unauthenticated("invalid or expired reset token");
    password::check_policy(&new_password, common_passwords)?;
    let token = token.expose_secret();
    let tenant = opaque_token::tenant_of(token).ok_or(INVALID)?;
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let hashed = password::hash(new_password).await?;
    // One transaction: the token is spent, the password set, the sessions ended and the
    // reset recorded in the trail together.
    let uow = s.commands.unit_in(&scope).await?;
    let user = credentials::use_reset(
        uow.connection(),
        &scope,
        opaque_token::hash(token),
        &hashed,
        now,
    )
    .await?
    .ok_or(INVALID)?;
    sessions::revoke_in(uow.connection(), &scope, user, None, "password reset", now).await?;
    let role = uow
        .row::<crm_projections::entities::user::Entity>(user)
        .await?
        .map_or_else(|| "unknown".to_owned(), |u| u.role);
    let meta = meta_for(tenant, UserId(user), &role);
    let command = UserCommand::RecordPasswordReset;
    s.commands
        .run_in::<crm_domain::user::User, _>(&uow, EntityId(user), command, &meta)
        .await?;
    uow.commit().await
}
