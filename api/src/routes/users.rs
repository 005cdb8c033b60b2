//! `/v1/users`: the workspace's members — invitations, roles, deactivation — and
//! `POST /v1/auth/accept-invitation`.
//!
//! Invitation tokens are opaque (like refresh tokens: the tenant's id bytes and 256 random
//! bits), single-use, valid 72 hours and stored as SHA-256 hashes. A role change or a
//! deactivation ends the user's sessions at once, so the new role (or none) applies from
//! the next request. Nobody grants a role above their own, and the last active owner can
//! be neither demoted nor deactivated.

use actix_web::http::StatusCode;
use actix_web::{get, patch, post};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::Role;
use crm_projections::entities::user;
use crm_projections::queries::users;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::context::{client_ip, user_agent};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, Problem};
use crate::state::AppState;
use crm_app::invitations::{self, AcceptBody, InviteBody};
use crm_app::members;

use crm_app::sessions::{self, Tokens};

/// A member or invitee of the workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The user's id.
    pub id: Uuid,
    /// Login email.
    pub email: String,
    /// Display name (an invitee's email until they accept).
    pub display_name: String,
    /// `owner`, `admin`, `manager`, `member` or `read_only`.
    pub role: String,
    /// `invited`, `active` or `deactivated`.
    pub status: String,
    /// The user's version.
    pub version: i64,
}

impl From<user::Model> for UserView {
    fn from(u: user::Model) -> Self {
        Self {
            id: u.id,
            email: u.email,
            display_name: u.display_name,
            role: u.role,
            status: u.status,
            version: u.version,
        }
    }
}

/// The workspace's members and invitees.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// Every member and invitee.
    pub items: Vec<UserView>,
}

/// Lists every member and invitee of the workspace.
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "users",
    responses((status = 200, description = "Every member and invitee.", body = UserList)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/users")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    let rows = users::list_users(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(UserList {
        items: rows.into_iter().map(UserView::from).collect(),
    }))
}

/// A new invitation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    /// The invitee (status `invited`).
    pub user: UserView,
    /// When the mailed token stops working (72 hours).
    pub expires_at: DateTime<Utc>,
}

/// Invites someone to the workspace (Owner, Admin).
///
/// Mails the invitee a single-use token (valid 72 hours), for
/// `POST /v1/auth/accept-invitation`; the token is never in the answer.
///
/// # Errors
/// 403 (role or grant above one's own), 409 (the email has an account), 422.
#[utoipa::path(
    tag = "users",
    params(IdempotencyKey),
    request_body = InviteBody,
    responses(
        (status = 201, description = "The invitee.", body = Invitation),
        (status = 409, description = "An account with this email exists.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_users"))),
)]
#[post("/users/invitations")]
pub async fn invite(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let (invitee, expires_at) = invitations::invite(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        state.mailer.as_ref(),
        state.clock.now(),
        body,
    )
    .await?;
    Ok(HttpResponse::Created().json(Invitation {
        user: invitee.into(),
        expires_at,
    }))
}

/// Accepts an invitation: sets the invitee's password and signs them in.
///
/// # Errors
/// 401 for an unknown, used or expired token; 422 for a bad password or name.
#[utoipa::path(
    tag = "users",
    security(()),
    request_body = AcceptBody,
    responses(
        (status = 200, description = "Signed in.", body = Tokens),
        (status = 401, description = "An unknown, used or expired invitation token.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/accept-invitation")]
pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<AcceptBody>,
) -> Result<HttpResponse, ApiError> {
    let accepted = invitations::accept(
        state.services(),
        &state.common_passwords,
        state.clock.now(),
        body,
        |tenant, user, role| {
            let mut meta = crm_domain::EventMetadata::for_user(
                tenant,
                user,
                role,
                crate::auth::context::request_id(&req),
            );
            meta.ip = client_ip(&req);
            meta.user_agent = user_agent(&req);
            meta
        },
    )
    .await?;
    let (tenant, role, meta) = (accepted.tenant, accepted.role, &accepted.meta);
    let tokens = sessions::open(
        state.services(),
        &state.tokens,
        (tenant, accepted.user, role),
        meta,
    )
    .await?;
    Ok(HttpResponse::Ok().json(tokens))
}

/// `PATCH /v1/users/{id}/role` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "manager"}))]
pub struct RoleBody {
    /// The new role, no higher than the caller's.
    pub role: Role,
}

/// Changes a user's role (Owner, Admin); the user's sessions end.
///
/// # Errors
/// 403, 404, 409 (the last owner), 422.
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id.")),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The user with the new role.", body = UserView),
        (status = 409, description = "The user is the last active owner.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_users"))),
)]
#[patch("/users/{id}/role")]
pub async fn change_role(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let changed = members::change_role(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        state.clock.now(),
        *id,
        body.role,
    )
    .await?;
    Ok(HttpResponse::build(StatusCode::OK).json(UserView::from(changed)))
}

/// Deactivates a user (Owner, Admin): they can no longer sign in; their sessions end at
/// once.
///
/// # Errors
/// 403, 404, 409 (the last owner, or deactivated already).
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id."), IdempotencyKey),
    responses(
        (status = 200, description = "The deactivated user.", body = UserView),
        (status = 409, description = "The user is the last active owner, or deactivated already.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_users"))),
)]
#[post("/users/{id}/deactivate")]
pub async fn deactivate(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let changed = members::deactivate(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        state.clock.now(),
        *id,
    )
    .await?;
    Ok(HttpResponse::Ok().json(UserView::from(changed)))
}

/// Reactivates a deactivated user (Owner, Admin).
///
/// # Errors
/// 403, 404, 409 (not deactivated).
#[utoipa::path(
    tag = "users",
    params(("id" = Uuid, Path, description = "The user's id."), IdempotencyKey),
    responses(
        (status = 200, description = "The reactivated user.", body = UserView),
        (status = 409, description = "The user is not deactivated.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_users"))),
)]
#[post("/users/{id}/reactivate")]
pub async fn reactivate(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let changed = members::reactivate(state.services(), &ctx.auth, &ctx.metadata, *id).await?;
    Ok(HttpResponse::Ok().json(UserView::from(changed)))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(accept)
        .service(list)
        .service(invite)
        .service(change_role)
        .service(deactivate)
        .service(reactivate);
}
