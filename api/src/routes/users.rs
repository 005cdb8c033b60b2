//! `/v1/users`: the workspace's members — invitations, roles, deactivation — and
//! `POST /v1/auth/accept-invitation`.
//!
//! Invitation tokens are opaque (like refresh tokens: the tenant's id bytes and 256 random
//! bits), single-use, valid 72 hours and stored as SHA-256 hashes. A role change or a
//! deactivation ends the user's sessions at once, so the new role (or none) applies from
//! the next request. Nobody grants a role above their own, and the last active owner can
//! be neither demoted nor deactivated.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use crm_domain::user::UserCommand;
use crm_domain::{Action, Email, EntityId, Role, UserId};
use crm_projections::entities::user;
use crm_projections::queries::{sessions, users};
use crm_projections::TenantScope;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::context::{client_ip, user_agent};
use crate::auth::{password, session, AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// How long an invitation stays valid: 72 hours.
pub const INVITATION_HOURS: i64 = 72;

fn view(u: &user::Model) -> serde_json::Value {
    json!({"id": u.id, "email": u.email, "display_name": u.display_name, "role": u.role, "status": u.status, "version": u.version})
}

/// `GET /v1/users`: every member and invitee.
///
/// # Errors
/// 401.
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadRecords)?;
    let rows = users::list_users(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": rows.iter().map(view).collect::<Vec<_>>() })))
}

/// Refuses to grant `role` above the caller's own (roles are ordered Owner first).
fn check_grant(auth: &AuthContext, role: Role) -> Result<(), ApiError> {
    if role < auth.role {
        return Err(ApiError::Forbidden);
    }
    Ok(())
}

/// `POST /v1/users/invitations` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    /// Their email.
    pub email: String,
    /// Their role, no higher than the inviter's.
    pub role: Role,
}

/// `POST /v1/users/invitations` (Owner, Admin): mails the invitee a single-use token
/// (valid 72 hours); 201 with the invitee.
///
/// # Errors
/// 403 (role or grant above one's own), 409 (the email has an account), 422.
pub async fn invite(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManageUsers)?;
    check_grant(&ctx.auth, body.role)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    let id = EntityId::new();
    let (token, hash) = session::new_refresh_token(ctx.auth.tenant);
    let now = state.clock.now();
    let expires_at = now + chrono::Duration::hours(INVITATION_HOURS);
    if !users::create_invitation(
        &state.pools.app,
        &ctx.auth.scope,
        id.0,
        email.as_str(),
        hash,
        now,
        expires_at,
    )
    .await?
    {
        return Err(ApiError::Conflict(
            "an account with this email exists".into(),
        ));
    }
    state
        .commands
        .user(
            id,
            UserCommand::Invite {
                email: email.to_string(),
                role: body.role,
            },
            &ctx.metadata,
        )
        .await?;
    let invitee = users::get_user(&state.pools.app, &ctx.auth.scope, id.0)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The token goes to the invitee only: an inviter who saw it could join in their place.
    state.mailer.invitation(email.as_str(), &token);
    Ok(HttpResponse::Created().json(json!({"user": view(&invitee), "expires_at": expires_at})))
}

/// `POST /v1/auth/accept-invitation` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptBody {
    /// The invitation token.
    pub token: SecretString,
    /// Display name.
    pub display_name: String,
    /// Password, 12 to 128 characters.
    pub password: SecretString,
}

/// `POST /v1/auth/accept-invitation`: sets the invitee's password and signs them in.
///
/// # Errors
/// 401 for an unknown, used or expired token; 422 for a bad password or name.
pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<AcceptBody>,
) -> Result<HttpResponse, ApiError> {
    use secrecy::ExposeSecret;
    const INVALID: ApiError = ApiError::Unauthorized("invalid or expired invitation");
    password::check_policy(&body.password, &state.common_passwords)?;
    crm_domain::text::required(
        "display_name",
        &body.display_name,
        crm_domain::user::DISPLAY_NAME_MAX,
    )
    .map_err(crm_domain::DomainError::from)?;
    let token = body.token.expose_secret();
    let tenant = session::tenant_of(token).ok_or(INVALID)?;
    let scope = TenantScope::new(tenant);
    let hashed = password::hash(body.password).await?;
    let user_id = users::accept_invitation(
        &state.pools.app,
        &scope,
        session::hash(token),
        &hashed,
        state.clock.now(),
    )
    .await?
    .ok_or(INVALID)?;
    let invitee = users::get_user(&state.pools.app, &scope, user_id)
        .await?
        .ok_or(INVALID)?;
    let role: Role = invitee.role.parse().map_err(ApiError::internal)?;
    let mut meta = crm_domain::EventMetadata::for_user(
        tenant,
        UserId(user_id),
        role,
        crate::auth::context::request_id(&req),
    );
    meta.ip = client_ip(&req);
    meta.user_agent = user_agent(&req);
    state
        .commands
        .user(
            EntityId(user_id),
            UserCommand::AcceptInvitation {
                display_name: body.display_name,
            },
            &meta,
        )
        .await?;
    let tokens = session::open(
        &state,
        tenant,
        UserId(user_id),
        role,
        meta.ip.map(|ip| ip.to_string()),
        meta.user_agent.clone(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// `PATCH /v1/users/{id}/role` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// The new role, no higher than the caller's.
    pub role: Role,
}

async fn target(state: &AppState, auth: &AuthContext, id: Uuid) -> Result<user::Model, ApiError> {
    let found = users::get_user(&state.pools.app, &auth.scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // Nobody changes a user who outranks them.
    let role: Role = found.role.parse().map_err(ApiError::internal)?;
    check_grant(auth, role)?;
    Ok(found)
}

/// `PATCH /v1/users/{id}/role` (Owner, Admin): the user's sessions end.
///
/// # Errors
/// 403, 404, 409 (the last owner), 422.
pub async fn change_role(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManageUsers)?;
    target(&state, &ctx.auth, *id).await?;
    check_grant(&ctx.auth, body.role)?;
    let owners_lock = users::lock_owners(&state.pools.app, &ctx.auth.scope).await?;
    let other_owners = users::other_active_owners(&state.pools.app, &ctx.auth.scope, *id).await?;
    state
        .commands
        .user(
            EntityId(*id),
            UserCommand::ChangeRole {
                role: body.role,
                other_owners,
            },
            &ctx.metadata,
        )
        .await?;
    owners_lock.commit().await?;
    sessions::revoke(
        &state.pools.app,
        &ctx.auth.scope,
        *id,
        None,
        "role changed",
        state.clock.now(),
    )
    .await?;
    let changed = users::get_user(&state.pools.app, &ctx.auth.scope, *id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::build(StatusCode::OK).json(view(&changed)))
}

/// `POST /v1/users/{id}/deactivate` (Owner, Admin): the user can no longer sign in; their
/// sessions end at once.
///
/// # Errors
/// 403, 404, 409 (the last owner, or deactivated already).
pub async fn deactivate(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManageUsers)?;
    target(&state, &ctx.auth, *id).await?;
    let owners_lock = users::lock_owners(&state.pools.app, &ctx.auth.scope).await?;
    let other_owners = users::other_active_owners(&state.pools.app, &ctx.auth.scope, *id).await?;
    state
        .commands
        .user(
            EntityId(*id),
            UserCommand::Deactivate { other_owners },
            &ctx.metadata,
        )
        .await?;
    owners_lock.commit().await?;
    sessions::revoke(
        &state.pools.app,
        &ctx.auth.scope,
        *id,
        None,
        "deactivated",
        state.clock.now(),
    )
    .await?;
    let changed = users::get_user(&state.pools.app, &ctx.auth.scope, *id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view(&changed)))
}

/// `POST /v1/users/{id}/reactivate` (Owner, Admin).
///
/// # Errors
/// 403, 404, 409 (not deactivated).
pub async fn reactivate(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManageUsers)?;
    target(&state, &ctx.auth, *id).await?;
    state
        .commands
        .user(EntityId(*id), UserCommand::Reactivate, &ctx.metadata)
        .await?;
    let changed = users::get_user(&state.pools.app, &ctx.auth.scope, *id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(view(&changed)))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.map(|c| {
        c.service(
            actix_web::web::resource("/auth/accept-invitation")
                .route(actix_web::web::post().to(accept)),
        )
        .service(actix_web::web::resource("/users").route(actix_web::web::get().to(list)))
        .service(
            actix_web::web::resource("/users/invitations").route(actix_web::web::post().to(invite)),
        )
        .service(
            actix_web::web::resource("/users/{id}/role")
                .route(actix_web::web::patch().to(change_role)),
        )
        .service(
            actix_web::web::resource("/users/{id}/deactivate")
                .route(actix_web::web::post().to(deactivate)),
        )
        .service(
            actix_web::web::resource("/users/{id}/reactivate")
                .route(actix_web::web::post().to(reactivate)),
        )
    });
}
