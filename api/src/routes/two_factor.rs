//! Two-factor sign-in (RFC 6238 TOTP): `POST /v1/auth/2fa/{enroll,confirm,disable,verify}`.
//!
//! Enrolment returns the secret and an `otpauth://` URI once; confirming with a code turns
//! two-factor on and returns ten single-use recovery codes, shown once. With two-factor on,
//! the password step of sign-in answers a five-minute challenge token that grants nothing
//! else, and `verify` trades it and a code (or a recovery code) for a session. A code is
//! accepted once; `verify` is rate-limited per account like sign-in.

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use crm_app::sessions::{self, Tokens};
use crm_app::two_factor::{self, Enrolment, FactorBody, RecoveryCodes};
use crm_domain::{TenantId, UserId};
use serde::Deserialize;

use super::sessions::limits;
use crate::auth::context::{client_ip, user_agent};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::Problem;
use crate::state::AppState;

/// What checking a factor needs: the server's key box, limits and clock.
fn checker(state: &AppState) -> crm_app::two_factor::Checker<'_> {
    crm_app::two_factor::Checker {
        key_box: &state.totp_box,
        limits: limits(state),
        now: state.clock.now(),
    }
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
    let enrolment = two_factor::enroll(state.services(), &state.totp_box, &auth).await?;
    Ok(HttpResponse::Ok().json(enrolment))
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
    let code = body.code.as_deref();
    let codes = two_factor::confirm(
        state.services(),
        checker(&state),
        &ctx.auth,
        &ctx.metadata,
        code,
    )
    .await?;
    Ok(HttpResponse::Ok().json(codes))
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
    two_factor::disable(
        state.services(),
        checker(&state),
        &ctx.auth,
        &ctx.metadata,
        &body,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
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
    let tokens =
        sessions::sign_in(state.services(), &state.tokens, (tenant, user, role), &meta).await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(enroll)
        .service(confirm)
        .service(disable)
        .service(verify);
}
