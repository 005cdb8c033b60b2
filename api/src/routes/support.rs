//! Support sign-in and the grants a workspace's Owner gives support staff.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{Action, Email, EntityId};
use crm_projections::queries::support::{self, NewGrant};
use secrecy::SecretString;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::context::client_ip;
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// `POST /v1/auth/support/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportLogin {
    /// The support account's email.
    pub email: String,
    /// Its password.
    pub password: SecretString,
    /// The six digits its authenticator shows now (RFC 6238).
    pub code: String,
}

/// `POST /v1/auth/support/login`: a support account signs in; 200 with
/// `{"access_token": "crms_…", "token_type": "Bearer", "expires_in": 3600}`. The token
/// reaches a workspace only with `X-Support-Workspace` and an active grant there.
///
/// # Errors
/// 401 for bad credentials (unknown email, wrong password and wrong or reused code
/// alike); 429 past the per-address sign-in limit (`auth.login_max_per_ip` per
/// `auth.login_window_seconds`) or the per-account one (every attempt counts, a success
/// clears them: `auth.login_max_failures_per_account`).
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
    crm_projections::queries::sessions::clear(&state.pools.app, &account_key).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": (expires_at - now).num_seconds(),
    })))
}

/// `POST /v1/auth/support/logout` with the support token as bearer: ends that sign-in at
/// once; 204.
///
/// # Errors
/// 401 without a live support token.
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The support account's email.
    pub support_email: String,
    /// `read` (records, deleted ones, history, audit) or `recovery` (also revert,
    /// restore, undo import).
    pub scope: String,
    /// Why, 1 to 500 characters.
    pub reason: String,
    /// Hours until it expires, 1 to 168 (a week).
    pub expires_in_hours: i64,
}

/// `POST /v1/support-grants` (Owner): gives a support account access to this workspace;
/// 201 with the grant. The grant is an event of the workspace (`SupportGranted`), so it is
/// in the audit trail and its hash chain.
///
/// # Errors
/// 403 for other roles, API keys and support; 422 for an unknown support account, scope,
/// reason or duration.
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    let auth = &ctx.auth;
    auth.require(Action::GrantSupport)?;
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

/// `GET /v1/support-grants` (Owner): every grant, newest first, with its request count:
/// `{"items": [Grant…]}`.
///
/// # Errors
/// 403.
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    auth.require(Action::GrantSupport)?;
    auth.require_person()?;
    let items = support::list_grants(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// `DELETE /v1/support-grants/{id}` (Owner): revokes at once (event `SupportRevoked`); 204.
///
/// # Errors
/// 403; 404 for no such unrevoked grant in this workspace.
pub async fn revoke(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let auth = &ctx.auth;
    auth.require(Action::GrantSupport)?;
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

/// `GET /v1/support-grants/{id}/access` (Owner): every request made under the grant,
/// oldest first: `{"items": [{grant_id, support_id, method, path, ip, at}…]}`.
///
/// # Errors
/// 403.
pub async fn access(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::GrantSupport)?;
    auth.require_person()?;
    let items = support::access_of(&state.pools.app, &auth.scope, *id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.map(|c| {
        c.service(
            actix_web::web::resource("/auth/support/login").route(actix_web::web::post().to(login)),
        )
        .service(
            actix_web::web::resource("/auth/support/logout")
                .route(actix_web::web::post().to(logout)),
        )
        .service(
            actix_web::web::resource("/support-grants")
                .route(actix_web::web::get().to(list))
                .route(actix_web::web::post().to(create)),
        )
        .service(
            actix_web::web::resource("/support-grants/{id}")
                .route(actix_web::web::delete().to(revoke)),
        )
        .service(
            actix_web::web::resource("/support-grants/{id}/access")
                .route(actix_web::web::get().to(access)),
        )
    });
}
