//! Two-factor sign-in (RFC 6238 TOTP): `POST /v1/auth/2fa/{enroll,confirm,disable,verify}`.
//!
//! Enrolment returns the secret and an `otpauth://` URI once; confirming with a code turns
//! two-factor on and returns ten single-use recovery codes, shown once. With two-factor on,
//! the password step of sign-in answers a five-minute challenge token that grants nothing
//! else, and `verify` trades it and a code (or a recovery code) for a session. A code is
//! accepted once; `verify` is rate-limited per account like sign-in.

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use crm_access::two_factor;
use crm_domain::user::UserCommand;
use crm_domain::{EntityId, TenantId, UserId};
use crm_store::TenantScope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::context::{client_ip, user_agent};
use crate::auth::{session, AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::Problem;
use crate::state::AppState;
use crm_app::totp;

use super::sessions::Tokens;

/// Checks a second factor for `user` through the application layer, with the server's
/// key box, limits and clock.
async fn check_second_factor(
    state: &AppState,
    scope: &TenantScope,
    user: Uuid,
    code: Option<&str>,
    recovery: Option<&str>,
) -> Result<Option<bool>, ApiError> {
    Ok(crm_app::two_factor::check(
        state.services(),
        &state.totp_box,
        limits(state),
        state.clock.now(),
        scope,
        user,
        code,
        recovery,
    )
    .await?)
}

/// The sign-in limits of the server's settings.
fn limits(state: &AppState) -> crm_app::sign_in::Limits {
    let auth = &state.settings.auth;
    crm_app::sign_in::Limits {
        window_seconds: i64::try_from(auth.login_window_seconds).unwrap_or(900),
        max_per_ip: auth.login_max_per_ip,
        max_failures_per_account: auth.login_max_failures_per_account,
    }
}

/// A new two-factor secret, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The TOTP secret, base32 (RFC 4648), for typing into an authenticator.
    #[schema(example = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")]
    pub secret: String,
    /// The same as an `otpauth://totp/…` URI, for a QR code.
    pub otpauth_uri: String,
}

/// Starts two-factor enrolment: a new secret and its `otpauth://` URI.
///
/// The secret stays pending until `POST /v1/auth/2fa/confirm`; enrolling again replaces a
/// pending one. Open to owners and admins whose workspace requires two-factor sign-in.
///
/// # Errors
/// 401, 409.
#[utoipa::path(
    tag = "two-factor",
    responses(
        (status = 200, description = "The pending secret.", body = Enrolment),
        (status = 409, description = "Two-factor sign-in is on already; disable it first.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-two-factor-exempt" = json!(true))),
)]
#[post("/auth/2fa/enroll")]
pub async fn enroll(
    state: web::Data<AppState>,
    auth: AuthContext,
) -> Result<HttpResponse, ApiError> {
    auth.require_person()?;
    let secret = totp::new_secret();
    let generator = totp::totp(
        secret.clone(),
        &crm_app::two_factor::account(state.services(), &auth.scope, auth.user.0).await?,
    )?;
    let (ciphertext, nonce) = state.totp_box.seal(auth.tenant.0, auth.user.0, &secret)?;
    if !two_factor::put_pending(
        &state.pools.app,
        &auth.scope,
        auth.user.0,
        ciphertext,
        nonce,
    )
    .await?
    {
        return Err(ApiError::Conflict(
            "two-factor sign-in is on already; disable it first".into(),
        ));
    }
    Ok(HttpResponse::Ok().json(Enrolment {
        secret: generator.get_secret_base32(),
        otpauth_uri: generator.get_url(),
    }))
}

/// A second factor: a TOTP `code` or a `recovery_code`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "123456"}))]
pub struct FactorBody {
    /// Six digits from the authenticator.
    pub code: Option<String>,
    /// One of the recovery codes.
    pub recovery_code: Option<String>,
}

/// The recovery codes of a newly confirmed two-factor sign-in, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes, each accepted instead of a TOTP code once.
    pub recovery_codes: Vec<String>,
}

/// Confirms two-factor enrolment with a code, which turns two-factor sign-in on.
///
/// Takes `{"code": …}` (a recovery code is not accepted here); answers the ten recovery
/// codes, shown once. Open to owners and admins whose workspace requires two-factor
/// sign-in.
///
/// # Errors
/// 401, 409 (nothing pending, or on already), 422 (wrong code).
#[utoipa::path(
    tag = "two-factor",
    request_body = FactorBody,
    responses(
        (status = 200, description = "Two-factor sign-in is on; the recovery codes.", body = RecoveryCodes),
        (status = 409, description = "Nothing is pending (enrol first), or two-factor sign-in is on already.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-two-factor-exempt" = json!(true))),
)]
#[post("/auth/2fa/confirm")]
pub async fn confirm(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<FactorBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require_person()?;
    let scope = ctx.auth.scope;
    let user = ctx.auth.user.0;
    let stored = two_factor::secret(&state.pools.app, &scope, user)
        .await?
        .ok_or_else(|| ApiError::Conflict("enrol first".into()))?;
    if stored.confirmed_at.is_some() {
        return Err(ApiError::Conflict(
            "two-factor sign-in is on already".into(),
        ));
    }
    let code = body
        .code
        .as_deref()
        .ok_or_else(|| ApiError::invalid("code", "is required"))?;
    if check_second_factor(&state, &scope, user, Some(code), None)
        .await?
        .is_none()
    {
        return Err(ApiError::invalid("code", "does not match"));
    }
    let codes = totp::new_recovery_codes();
    two_factor::confirm(
        &state.pools.app,
        &scope,
        user,
        state.clock.now(),
        codes.iter().map(|(_, h)| h.clone()).collect(),
    )
    .await?;
    state
        .commands
        .user(
            EntityId(user),
            UserCommand::RecordTwoFactorEnabled,
            &ctx.metadata,
        )
        .await?;
    Ok(HttpResponse::Ok().json(RecoveryCodes {
        recovery_codes: codes.into_iter().map(|(c, _)| c).collect(),
    }))
}

/// Turns two-factor sign-in off, with a code or a recovery code.
///
/// # Errors
/// 401, 409 (off already), 422 (wrong factor).
#[utoipa::path(
    tag = "two-factor",
    request_body = FactorBody,
    responses(
        (status = 204, description = "Two-factor sign-in is off."),
        (status = 409, description = "Two-factor sign-in is off already.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/2fa/disable")]
pub async fn disable(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<FactorBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require_person()?;
    let scope = ctx.auth.scope;
    let user = ctx.auth.user.0;
    let stored = two_factor::secret(&state.pools.app, &scope, user).await?;
    if stored.is_none_or(|s| s.confirmed_at.is_none()) {
        return Err(ApiError::Conflict("two-factor sign-in is off".into()));
    }
    let Some(recovered) = check_second_factor(
        &state,
        &scope,
        user,
        body.code.as_deref(),
        body.recovery_code.as_deref(),
    )
    .await?
    else {
        return Err(ApiError::invalid("code", "does not match"));
    };
    if recovered {
        state
            .commands
            .user(
                EntityId(user),
                UserCommand::RecordRecoveryCodeUsed,
                &ctx.metadata,
            )
            .await?;
    }
    two_factor::remove(&state.pools.app, &scope, user).await?;
    state
        .commands
        .user(
            EntityId(user),
            UserCommand::RecordTwoFactorDisabled,
            &ctx.metadata,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Whether `user` must pass the second step (two-factor confirmed).
///
/// # Errors
/// Any database error.
pub async fn required(state: &AppState, scope: &TenantScope, user: Uuid) -> Result<bool, ApiError> {
    Ok(two_factor::secret(&state.pools.app, scope, user)
        .await?
        .is_some_and(|s| s.confirmed_at.is_some()))
}

/// `POST /v1/auth/2fa/verify` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"challenge_token": "eyJhbGciOiJIUzI1NiJ9.eyJ0eXAiOiIyZmEifQ.c2lnbmF0dXJl", "code": "123456"}))]
pub struct VerifyBody {
    /// The challenge token from the password step.
    pub challenge_token: String,
    /// Six digits from the authenticator.
    pub code: Option<String>,
    /// One of the recovery codes.
    pub recovery_code: Option<String>,
}

/// Completes a two-factor sign-in: trades the challenge token and a second factor for a
/// session.
///
/// # Errors
/// 401 for a bad challenge or factor; 429 past the account's limit.
#[utoipa::path(
    tag = "two-factor",
    security(()),
    request_body = VerifyBody,
    responses(
        (status = 200, description = "Signed in.", body = Tokens),
        (status = 401, description = "An invalid or expired challenge, or a wrong factor.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this account; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/2fa/verify")]
pub async fn verify(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<VerifyBody>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    super::sessions::limit(
        &state,
        &format!("2fa-ip:{ip}"),
        state.settings.auth.login_max_per_ip,
    )
    .await?;
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify_challenge(&body.challenge_token, now)
        .ok_or(ApiError::Unauthorized("invalid or expired challenge"))?;
    let (tenant, user) = (TenantId(claims.tid), UserId(claims.sub));
    let (role, meta) = crm_app::sign_in::second_factor_step(
        state.services(),
        &state.totp_box,
        limits(&state),
        now,
        tenant,
        user,
        body.code.as_deref(),
        body.recovery_code.as_deref(),
        |role| {
            let mut meta = crm_domain::EventMetadata::for_user(
                tenant,
                user,
                role,
                crate::auth::context::request_id(&req),
            );
            meta.ip = client_ip(&req);
            meta.user_agent = user_agent(&req);
            meta.occurred_at = now;
            meta
        },
    )
    .await?;
    let tokens = session::open(
        &state,
        tenant,
        user,
        role,
        meta.ip.map(|ip| ip.to_string()),
        meta.user_agent.clone(),
    )
    .await?;
    state
        .commands
        .user(
            EntityId(user.0),
            UserCommand::RecordLogin {
                session_id: EntityId(tokens.session_id),
            },
            &meta,
        )
        .await?;
    Ok(HttpResponse::Ok().json(Tokens::from(tokens)))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(enroll)
        .service(confirm)
        .service(disable)
        .service(verify);
}
