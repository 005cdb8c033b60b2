//! Signing in and out: `POST /v1/auth/login`, `/refresh`, `/logout`, `/logout-all`, and
//! `GET /v1/auth/sessions`.
//!
//! Sign-in is rate-limited per client address (every attempt counts) and per account
//! (failures count; a success clears them), in counters every server process shares
//! through the database; past a limit the answer is 429 with `Retry-After` (OWASP
//! Authentication Cheat Sheet). Each sign-in, failure, sign-out and refresh-token reuse is
//! an event on the user's stream, with the address in its metadata; a failure for an
//! unknown email goes to the system security log, never to a workspace.

use actix_web::{get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use crm_app::sessions::{self, SessionView, Tokens};
use crm_domain::{EventMetadata, TenantId, UserId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::auth::context::{client_ip, request_id, user_agent};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::Problem;
use crate::state::AppState;

/// `POST /v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@acme.example", "password": "tangerine orbit lantern 42"}))]
pub struct LoginBody {
    /// Login email.
    pub email: String,
    /// Password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// The password step passed for an account with two-factor sign-in on: the session opens
/// with `POST /v1/auth/2fa/verify`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TwoFactorChallenge {
    /// Always `true`.
    #[schema(example = true)]
    pub two_factor_required: bool,
    /// A five-minute token for `POST /v1/auth/2fa/verify`; it grants nothing else.
    pub challenge_token: String,
}

/// The answer to a sign-in: tokens, or a two-factor challenge.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum LoginAnswer {
    /// Signed in.
    Tokens(Tokens),
    /// The second factor is needed first.
    TwoFactor(TwoFactorChallenge),
}

/// The sign-in limits of the `auth` settings.
pub(crate) fn limits(state: &AppState) -> crm_app::sign_in::Limits {
    let auth = &state.settings.auth;
    crm_app::sign_in::Limits {
        window_seconds: i64::try_from(auth.login_window_seconds).unwrap_or(900),
        max_per_ip: auth.login_max_per_ip,
        max_failures_per_account: auth.login_max_failures_per_account,
    }
}

/// Counts a hit on `key` and refuses past `limit` with the seconds left in the window.
pub(crate) async fn limit(state: &AppState, key: &str, limit: u64) -> Result<(), ApiError> {
    let window = i64::try_from(state.settings.auth.login_window_seconds).unwrap_or(900);
    crm_app::sign_in::count(state.services(), key, limit, window, state.clock.now()).await?;
    Ok(())
}

fn system_meta(
    req: &HttpRequest,
    state: &AppState,
    tenant: TenantId,
    user: UserId,
    role: &str,
) -> EventMetadata {
    let mut meta = EventMetadata::for_system(tenant, "auth");
    meta.actor = crm_domain::Actor::User(user);
    meta.actor_role = role.to_owned();
    meta.request_id = request_id(req);
    meta.ip = client_ip(req);
    meta.user_agent = user_agent(req);
    meta.occurred_at = state.clock.now();
    meta
}

/// Signs in with email and password.
///
/// Verifies the password (argon2id, on the blocking pool), opens a session and returns
/// its tokens; with two-factor sign-in on, a challenge for `POST /v1/auth/2fa/verify`
/// instead. Unknown email and wrong password answer the same 401.
///
/// # Errors
/// 401 for bad credentials; 429 past a rate limit.
#[utoipa::path(
    tag = "sessions",
    security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in (tokens), or the second factor is needed (a challenge).", body = LoginAnswer),
        (status = 401, description = "Invalid email or password.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this account; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let limits = limits(&state);
    let attempt = crm_app::sign_in::Attempt {
        ip: client_ip(&req).map(|ip| ip.to_string()),
        user_agent: user_agent(&req),
        at: state.clock.now(),
    };
    let verified = crm_app::sign_in::password_step(
        state.services(),
        limits,
        &attempt,
        &body.email,
        body.password,
        |tenant, user, role| system_meta(&req, &state, tenant, user, role),
    )
    .await?;
    let (tenant, user, role) = (verified.tenant, verified.user, verified.role);
    if verified.two_factor {
        // The password step is passed; the session opens only after the second factor.
        let challenge = state
            .tokens
            .issue_challenge(tenant, user, attempt.at)
            .map_err(ApiError::internal)?;
        return Ok(
            HttpResponse::Ok().json(LoginAnswer::TwoFactor(TwoFactorChallenge {
                two_factor_required: true,
                challenge_token: challenge,
            })),
        );
    }
    let meta = system_meta(&req, &state, tenant, user, role.as_str());
    let tokens =
        sessions::sign_in(state.services(), &state.tokens, (tenant, user, role), &meta).await?;
    Ok(HttpResponse::Ok().json(LoginAnswer::Tokens(tokens)))
}

/// `POST /v1/auth/refresh` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"refresh_token": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"}))]
pub struct RefreshBody {
    /// The refresh token of the last sign-in or refresh.
    #[schema(value_type = String, format = Password)]
    pub refresh_token: SecretString,
}

/// Trades a refresh token for new tokens.
///
/// The old refresh token is used up. Presenting a used one revokes its whole session
/// (theft detection) and answers 401.
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "sessions",
    security(()),
    request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens of the same session.", body = Tokens),
        (status = 401, description = "An unknown, expired or reused refresh token (a reused one revokes its session).", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/refresh")]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let tokens = sessions::refresh(
        state.services(),
        &state.tokens,
        &body.refresh_token,
        now,
        |tenant, user, role| system_meta(&req, &state, tenant, user, role),
    )
    .await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// Signs out: ends the caller's session; its tokens stop working at once.
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "sessions",
    responses((status = 204, description = "Signed out.")),
    extensions(("x-two-factor-exempt" = json!(true))),
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    ctx: CommandContext,
) -> Result<HttpResponse, ApiError> {
    sessions::sign_out(state.services(), &ctx.auth, &ctx.metadata, false).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Signs out everywhere: ends every session of the caller.
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "sessions",
    responses((status = 204, description = "Every session of the caller ended.")),
)]
#[post("/auth/logout-all")]
pub async fn logout_all(
    state: web::Data<AppState>,
    ctx: CommandContext,
) -> Result<HttpResponse, ApiError> {
    sessions::sign_out(state.services(), &ctx.auth, &ctx.metadata, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's sessions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SessionList {
    /// Newest first.
    pub items: Vec<SessionView>,
}

/// Lists the caller's sessions, newest first, the current one marked.
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "sessions",
    responses((status = 200, description = "The caller's sessions.", body = SessionList)),
)]
#[get("/auth/sessions")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    let items = sessions::list(state.services(), &auth).await?;
    Ok(HttpResponse::Ok().json(SessionList { items }))
}

/// `POST /v1/auth/password-reset` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ada@acme.example"}))]
pub struct ResetRequest {
    /// The account's email.
    pub email: String,
}

/// The answer to a password-reset request, the same whether the email has an account.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResetAccepted {
    /// Says that a reset link is on its way if the email has an account.
    #[schema(value_type = String, example = "if this email has an account, a reset link is on its way")]
    pub detail: &'static str,
}

/// Asks for a password-reset email.
///
/// Mails a single-use reset token (30 minutes) when the email has an active account. The
/// answer is the same 202 either way, so it tells nobody whether an email exists. Limited
/// per address and per email like sign-in.
///
/// # Errors
/// 429 past a limit.
#[utoipa::path(
    tag = "sessions",
    security(()),
    request_body = ResetRequest,
    responses(
        (status = 202, description = "Accepted (whether or not the email has an account).", body = ResetAccepted),
        (status = 429, description = "Too many requests from this address or for this email; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/password-reset")]
pub async fn request_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<ResetRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req).map(|ip| ip.to_string());
    sessions::request_reset(
        state.services(),
        state.mailer.as_ref(),
        limits(&state),
        &body.email,
        ip.as_deref(),
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Accepted().json(ResetAccepted {
        detail: "if this email has an account, a reset link is on its way",
    }))
}

/// `POST /v1/auth/password-reset/confirm` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
    "new_password": "violet harbour compass 77"}))]
pub struct ResetConfirm {
    /// The mailed token.
    #[schema(value_type = String, format = Password)]
    pub token: SecretString,
    /// The new password, 12 to 128 characters, not a common one.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
}

/// Sets a new password with a mailed reset token.
///
/// Ends every session of the account.
///
/// # Errors
/// 401 for an unknown, used or expired token; 422 for a weak password.
#[utoipa::path(
    tag = "sessions",
    security(()),
    request_body = ResetConfirm,
    responses(
        (status = 204, description = "The password is changed; every session of the account ended."),
        (status = 401, description = "An unknown, used or expired reset token.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/password-reset/confirm")]
pub async fn confirm_reset(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<ResetConfirm>,
) -> Result<HttpResponse, ApiError> {
    sessions::confirm_reset(
        state.services(),
        &state.common_passwords,
        &body.token,
        body.new_password,
        state.clock.now(),
        |tenant, user, role| system_meta(&req, &state, tenant, user, role),
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(refresh)
        .service(request_reset)
        .service(confirm_reset)
        .service(logout)
        .service(logout_all)
        .service(list);
}
