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
use crm_access::credentials;
use crm_access::sessions::{self, Refresh, SessionRow};
use crm_domain::user::UserCommand;
use crm_domain::{Email, EntityId, EventMetadata, Role, TenantId, UserId};
use crm_projections::queries::users;
use crm_store::{Credential, TenantScope};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::context::{client_ip, request_id, user_agent};
use crate::auth::session::{self, TokenPair};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::Problem;
use crate::state::AppState;
use crm_app::password;

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

/// The tokens a sign-in or refresh hands out: a short-lived bearer access token and the
/// refresh token that renews it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tokens {
    /// The JWT access token (at most 15 minutes), sent as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The single-use refresh token (`POST /v1/auth/refresh`).
    pub refresh_token: String,
    /// The session both belong to.
    pub session_id: Uuid,
}

impl From<TokenPair> for Tokens {
    fn from(tokens: TokenPair) -> Self {
        let TokenPair {
            access_token,
            token_type,
            expires_in,
            refresh_token,
            session_id,
        } = tokens;
        Self {
            access_token,
            token_type,
            expires_in,
            refresh_token,
            session_id,
        }
    }
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
    let auth = &state.settings.auth;
    let limits = crm_app::sign_in::Limits {
        window_seconds: i64::try_from(auth.login_window_seconds).unwrap_or(900),
        max_per_ip: auth.login_max_per_ip,
        max_failures_per_account: auth.login_max_failures_per_account,
    };
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
    let tokens = session::open(&state, tenant, user, role, attempt.ip, attempt.user_agent).await?;
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
    Ok(HttpResponse::Ok().json(LoginAnswer::Tokens(tokens.into())))
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
    use secrecy::ExposeSecret;
    const INVALID: ApiError = ApiError::Unauthorized("invalid refresh token");
    let token = body.refresh_token.expose_secret();
    let tenant = crm_app::opaque_token::tenant_of(token).ok_or(INVALID)?;
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let (next, next_hash) = crm_app::opaque_token::new(tenant);
    let now = state.clock.now();
    match sessions::rotate(
        &state.pools.app,
        &scope,
        crm_app::opaque_token::hash(token),
        next_hash,
        now,
    )
    .await?
    {
        Refresh::Invalid => Err(INVALID),
        Refresh::Reused { session: sid, user } => {
            let role = users::get_user(&state.pools.app, &scope, user)
                .await?
                .map_or_else(|| "unknown".to_owned(), |u| u.role);
            let meta = system_meta(&req, &state, tenant, UserId(user), &role);
            state
                .commands
                .user(
                    EntityId(user),
                    UserCommand::RecordRefreshReuse {
                        session_id: EntityId(sid),
                    },
                    &meta,
                )
                .await?;
            Err(ApiError::Unauthorized(
                "refresh token reused: the session is revoked; sign in again",
            ))
        }
        Refresh::Rotated { session: sid, user } => {
            let user = users::get_user(&state.pools.app, &scope, user)
                .await?
                .filter(|u| u.status == "active")
                .ok_or(INVALID)?;
            let role: Role = user.role.parse().map_err(ApiError::internal)?;
            let access = state
                .tokens
                .issue(tenant, UserId(user.id), role, sid, now)
                .map_err(ApiError::internal)?;
            Ok(HttpResponse::Ok().json(Tokens::from(TokenPair {
                access_token: access.access_token,
                token_type: access.token_type,
                expires_in: access.expires_in,
                refresh_token: next,
                session_id: sid,
            })))
        }
    }
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
    ctx.auth.require_person()?;
    let now = state.clock.now();
    sessions::revoke(
        &state.pools.app,
        &ctx.auth.scope,
        ctx.auth.user.0,
        Some(ctx.auth.session),
        "signed out",
        now,
    )
    .await?;
    let command = UserCommand::RecordLogout {
        session_id: Some(EntityId(ctx.auth.session)),
    };
    state
        .commands
        .user(EntityId(ctx.auth.user.0), command, &ctx.metadata)
        .await?;
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
    ctx.auth.require_person()?;
    let now = state.clock.now();
    sessions::revoke(
        &state.pools.app,
        &ctx.auth.scope,
        ctx.auth.user.0,
        None,
        "signed out everywhere",
        now,
    )
    .await?;
    state
        .commands
        .user(
            EntityId(ctx.auth.user.0),
            UserCommand::RecordLogout { session_id: None },
            &ctx.metadata,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
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
    auth.require_person()?;
    let rows = sessions::list(&state.pools.app, &auth.scope, auth.user.0).await?;
    let items = rows
        .into_iter()
        .map(|session| SessionView {
            current: session.id == auth.session,
            session,
        })
        .collect();
    Ok(HttpResponse::Ok().json(SessionList { items }))
}

/// How long a password-reset token stays valid: 30 minutes.
pub const RESET_MINUTES: i64 = 30;

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
    let auth = &state.settings.auth;
    limit(
        &state,
        &format!("reset-ip:{}", ip.as_deref().unwrap_or("unknown")),
        auth.login_max_per_ip,
    )
    .await?;
    let email = Email::parse(&body.email).ok();
    limit(
        &state,
        &format!("reset-account:{}", body.email.trim().to_lowercase()),
        auth.login_max_failures_per_account,
    )
    .await?;
    if let Some(email) = email {
        if let Some(record) = credentials::find_login(&state.pools.app, email.as_str()).await? {
            let tenant = TenantId(record.tenant_id);
            let scope = TenantScope::for_credential(Credential::SignIn(tenant));
            let active = users::get_user(&state.pools.app, &scope, record.user_id)
                .await?
                .is_some_and(|u| u.status == "active");
            if active {
                let (token, hash) = crm_app::opaque_token::new(tenant);
                let now = state.clock.now();
                credentials::create_reset(
                    &state.pools.app,
                    &scope,
                    record.user_id,
                    hash,
                    now,
                    now + chrono::Duration::minutes(RESET_MINUTES),
                )
                .await?;
                state.mailer.password_reset(email.as_str(), &token);
            }
        }
    }
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
    use secrecy::ExposeSecret;
    const INVALID: ApiError = ApiError::Unauthorized("invalid or expired reset token");
    password::check_policy(&body.new_password, &state.common_passwords)?;
    let token = body.token.expose_secret();
    let tenant = crm_app::opaque_token::tenant_of(token).ok_or(INVALID)?;
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let hashed = password::hash(body.new_password).await?;
    let now = state.clock.now();
    let user = credentials::use_reset(
        &state.pools.app,
        &scope,
        crm_app::opaque_token::hash(token),
        &hashed,
        now,
    )
    .await?
    .ok_or(INVALID)?;
    sessions::revoke(&state.pools.app, &scope, user, None, "password reset", now).await?;
    let role = users::get_user(&state.pools.app, &scope, user)
        .await?
        .map_or_else(|| "unknown".to_owned(), |u| u.role);
    let meta = system_meta(&req, &state, tenant, UserId(user), &role);
    state
        .commands
        .user(EntityId(user), UserCommand::RecordPasswordReset, &meta)
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
