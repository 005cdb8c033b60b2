//! Support sign-in and the grants a workspace's Owner gives support staff.

use actix_web::{delete, get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use crm_access::support::{self, Access, Grant};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::context::client_ip;
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, Problem};
use crate::state::AppState;
use crm_app::support_accounts;
use crm_app::support_grants::{self, GrantBody};

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
    let now = state.clock.now();
    let (token, expires_at) = support_accounts::sign_in_limited(
        state.services(),
        &state.totp_box,
        super::sessions::limits(&state),
        &ip,
        &body.email,
        body.password,
        &body.code,
        now,
    )
    .await?;
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
        .filter(|t| t.starts_with(support_accounts::TOKEN_PREFIX))
        .ok_or(ApiError::Unauthorized("missing support token"))?;
    support_accounts::sign_out(state.services(), token).await?;
    Ok(HttpResponse::NoContent().finish())
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
    let grant = support_grants::grant(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        state.clock.now(),
        body,
    )
    .await?;
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
    support_grants::revoke(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        state.clock.now(),
        *id,
    )
    .await?;
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
