//! Support sign-in and the grants a workspace's Owner gives support staff.

use actix_web::{delete, get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use crm_access::support::{self, Access, Grant, NewGrant};
use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{Email, EntityId};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::context::client_ip;
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, Problem};
use crate::state::AppState;

/// `POST /v1/auth/support/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "alex@support.example", "password": "tangerine orbit lantern 42", "code": "123456"}))]
pub struct SupportLogin {
    /// The support account's email.
    pub email: String,
    /// Its password.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// The six digits its authenticator shows now (RFC 6238).
    pub code: String,
}

/// A support sign-in's token.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SupportToken {
    /// The support token (`crms_…`), sent as `Authorization: Bearer …` with the
    /// `X-Support-Workspace` header naming a workspace whose Owner granted access.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(example = 3600)]
    pub expires_in: i64,
}

/// Signs a support account in (password and TOTP code).
///
/// The token reaches a workspace only with `X-Support-Workspace` and an active grant
/// there.
///
/// # Errors
/// 401 for bad credentials (unknown email, wrong password and wrong or reused code
/// alike); 429 past the per-address sign-in limit (`auth.login_max_per_ip` per
/// `auth.login_window_seconds`) or the per-account one (every attempt counts, a success
/// clears them: `auth.login_max_failures_per_account`).
#[utoipa::path(
    tag = "support",
    security(()),
    request_body = SupportLogin,
    responses(
        (status = 200, description = "Signed in.", body = SupportToken),
        (status = 401, description = "Invalid email, password or code.", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many attempts from this address or for this account; `Retry-After` says when to try again.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/support/login")]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<SupportLogin>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    super::sessions::limit(
        &state,
        &format!("support-login-ip:{ip}"),
        state.settings.auth.login_max_per_ip,
    )
    .await?;
    let account_key = format!("support-login-account:{}", body.email.trim().to_lowercase());
    super::sessions::limit(
        &state,
        &account_key,
        state.settings.auth.login_max_failures_per_account,
    )
    .await?;
    let now = state.clock.now();
    let (token, expires_at) = crate::support::sign_in(
        &state.pools.app,
        &state.totp_box,
        &body.email,
        body.password,
        &body.code,
        now,
    )
    .await?;
    crm_access::rate_limits::clear(&state.pools.app, &account_key).await?;
    Ok(HttpResponse::Ok().json(SupportToken {
        access_token: token,
        token_type: "Bearer",
        expires_in: (expires_at - now).num_seconds(),
    }))
}

/// Signs a support account out: ends the sign-in of the support token sent as bearer.
///
/// # Errors
/// 401 without a live support token.
#[utoipa::path(
    tag = "support",
    security(("bearer" = [])),
    responses((status = 204, description = "The support token stopped working.")),
)]
#[post("/auth/support/logout")]
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let token = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| t.starts_with(crate::support::TOKEN_PREFIX))
        .ok_or(ApiError::Unauthorized("missing support token"))?;
    if !support::end_session(&state.pools.app, crate::auth::session::hash(token)).await? {
        return Err(ApiError::Unauthorized("invalid or expired support token"));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/support-grants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"support_email": "alex@support.example", "scope": "read",
    "reason": "Ticket 4711: a deal went missing", "expires_in_hours": 24}))]
pub struct GrantBody {
    /// The support account's email.
    pub support_email: String,
    /// `read` (records, deleted ones, history, audit) or `recovery` (also revert,
    /// restore, undo import).
    #[schema(pattern = "^(read|recovery)$")]
    pub scope: String,
    /// Why, 1 to 500 characters.
    pub reason: String,
    /// Hours until it expires, 1 to 168 (a week).
    #[schema(minimum = 1, maximum = 168)]
    pub expires_in_hours: i64,
}

/// Gives a support account access to this workspace (Owner).
///
/// The grant is an event of the workspace (`SupportGranted`), so it is in the audit trail
/// and its hash chain.
///
/// # Errors
/// 403 for other roles, API keys and support; 422 for an unknown support account, scope,
/// reason or duration.
#[utoipa::path(
    tag = "support",
    params(IdempotencyKey),
    request_body = GrantBody,
    responses((status = 201, description = "The grant.", body = Grant)),
    extensions(("x-permission" = json!("grant_support"))),
)]
#[post("/support-grants")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let auth = &ctx.auth;
    auth.require_person()?;
    let scope = match body.scope.as_str() {
        "read" => "read",
        "recovery" => "recovery",
        _ => return Err(ApiError::invalid("scope", "must be read or recovery")),
    };
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    if !(1..=168).contains(&body.expires_in_hours) {
        return Err(ApiError::invalid("expires_in_hours", "must be 1 to 168"));
    }
    let account = match Email::parse(&body.support_email) {
        Ok(email) => support::account_by_email(&state.pools.app, email.as_str()).await?,
        Err(_) => None,
    }
    .ok_or_else(|| ApiError::invalid("support_email", "no support account has this email"))?;
    let now = state.clock.now();
    let id = Uuid::now_v7();
    let expires_at = now + Duration::hours(body.expires_in_hours);
    // The trail first: a grant never works without its event.
    state
        .commands
        .workspace(
            WorkspaceCommand::RecordSupportGranted {
                grant_id: EntityId(id),
                support_id: EntityId(account.id),
                scope: scope.to_owned(),
                reason: reason.to_owned(),
                expires_at,
            },
            &ctx.metadata,
        )
        .await?;
    support::create_grant(
        &state.pools.app,
        &auth.scope,
        NewGrant {
            id,
            support_id: account.id,
            scope,
            reason: reason.to_owned(),
            created_by: auth.user.0,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    let grant = support::list_grants(&state.pools.app, &auth.scope)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Created().json(grant))
}

/// The workspace's support grants.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantList {
    /// Every grant, newest first, with its request count.
    pub items: Vec<Grant>,
}

/// Lists every support grant of the workspace, newest first (Owner).
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "support",
    responses((status = 200, description = "Every grant.", body = GrantList)),
    extensions(("x-permission" = json!("grant_support"))),
)]
#[get("/support-grants")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    auth.require_person()?;
    let items = support::list_grants(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(GrantList { items }))
}

/// Revokes a support grant at once (Owner; event `SupportRevoked`).
///
/// # Errors
/// 403; 404 for no such unrevoked grant in this workspace.
#[utoipa::path(
    tag = "support",
    params(("id" = Uuid, Path, description = "The grant's id.")),
    responses((status = 204, description = "Revoked.")),
    extensions(("x-permission" = json!("grant_support"))),
)]
#[delete("/support-grants/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let auth = &ctx.auth;
    auth.require_person()?;
    let now = state.clock.now();
    let live = support::list_grants(&state.pools.app, &auth.scope)
        .await?
        .into_iter()
        .any(|g| g.id == *id && g.revoked_at.is_none());
    if !live {
        return Err(ApiError::NotFound);
    }
    state
        .commands
        .workspace(
            WorkspaceCommand::RecordSupportRevoked {
                grant_id: EntityId(*id),
            },
            &ctx.metadata,
        )
        .await?;
    if !support::revoke(&state.pools.app, &auth.scope, *id, auth.user.0, now).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The requests made under a support grant.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccessList {
    /// Oldest first.
    pub items: Vec<Access>,
}

/// Lists every request made under a support grant, oldest first (Owner).
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "support",
    params(("id" = Uuid, Path, description = "The grant's id.")),
    responses((status = 200, description = "The requests (none for an unknown grant).", body = AccessList)),
    extensions(("x-permission" = json!("grant_support"))),
)]
#[get("/support-grants/{id}/access")]
pub async fn access(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require_person()?;
    let items = support::access_of(&state.pools.app, &auth.scope, *id).await?;
    Ok(HttpResponse::Ok().json(AccessList { items }))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(login)
        .service(logout)
        .service(list)
        .service(create)
        .service(revoke)
        .service(access);
}
