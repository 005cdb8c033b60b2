//! Sign-up, the caller's own profile and password, and the workspace's settings. The use
//! cases are [`crm_app::signup`], [`crm_app::account`] and [`crm_app::workspace`].

use actix_web::{get, patch, post};
use actix_web::{web, HttpRequest, HttpResponse};
use crm_app::account::{self, ChangePassword, MeAnswer};
use crm_app::workspace::{self, RenameWorkspace, SecurityPolicy, WorkspaceView};
use crm_domain::{EventMetadata, Role};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::context::{client_ip, request_id, user_agent};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::signup::SignupBody;

use crm_app::sessions::Tokens;

/// A workspace's id and slug.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceRef {
    /// The workspace's id (the tenant).
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
}

/// The founder of a new workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Founder {
    /// The user's id.
    pub id: Uuid,
    /// Login email (normalised to lowercase).
    pub email: String,
    /// Always `owner`.
    pub role: Role,
}

/// The answer to a sign-up: the new workspace, its Owner and their first session's tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignupAnswer {
    /// The new workspace.
    pub workspace: WorkspaceRef,
    /// Its Owner, the caller.
    pub user: Founder,
    /// The Owner's session.
    #[serde(flatten)]
    pub tokens: Tokens,
}

/// Creates a workspace and its Owner, and signs the Owner in.
///
/// # Errors
/// 422 for invalid fields, 409 when the slug or email is taken.
#[utoipa::path(
    tag = "auth",
    security(()),
    request_body = SignupBody,
    responses(
        (status = 201, description = "The workspace, its Owner and the Owner's tokens.", body = SignupAnswer),
        (status = 409, description = "The slug is taken, or an account with this email exists.", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[post("/auth/signup")]
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let founded = crm_app::signup::signup(
        state.services(),
        &state.common_passwords,
        body,
        |tenant, user| {
            let mut meta = EventMetadata::for_user(tenant, user, Role::Owner, request_id(&req));
            meta.ip = client_ip(&req);
            meta.user_agent = user_agent(&req);
            meta
        },
    )
    .await?;
    let (tenant, user, meta) = (founded.tenant, founded.user, &founded.meta);
    let tokens = crm_app::sessions::open(
        state.services(),
        &state.tokens,
        (tenant, user, Role::Owner),
        meta,
    )
    .await?;
    Ok(HttpResponse::Created().json(SignupAnswer {
        workspace: WorkspaceRef {
            id: tenant.0,
            slug: founded.slug,
        },
        user: Founder {
            id: user.0,
            email: founded.email.to_string(),
            role: Role::Owner,
        },
        tokens,
    }))
}

/// Shows the caller and their workspace.
///
/// # Errors
/// 401 without a valid token; 404 if the user no longer exists.
#[utoipa::path(
    tag = "auth",
    responses(
        (status = 200, description = "The caller and their workspace.", body = MeAnswer),
        (status = 404, description = "The user no longer exists.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-two-factor-exempt" = json!(true))),
)]
#[get("/me")]
pub async fn me(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(account::me(state.services(), &auth).await?))
}

/// Renames the caller's workspace (Owner, Admin).
///
/// # Errors
/// 403 for other roles, 412 for a stale `If-Match`, 422 for an empty or long name.
#[utoipa::path(
    tag = "auth",
    params(IfMatch),
    request_body = RenameWorkspace,
    responses(
        (status = 200, description = "The renamed workspace.", body = WorkspaceView,
            headers(("ETag" = String, description = "The workspace's new version."))),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_workspace"))),
)]
#[patch("/workspace")]
pub async fn rename_workspace(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<RenameWorkspace>,
) -> Result<HttpResponse, ApiError> {
    let if_version = super::if_match(&req)?;
    let renamed =
        workspace::rename(state.services(), &ctx.auth, &ctx.metadata, if_version, body).await?;
    Ok(super::record(
        actix_web::http::StatusCode::OK,
        renamed.version,
        &WorkspaceView::from(renamed),
    ))
}

/// Changes the caller's password after checking the current one.
///
/// The new argon2id hash replaces the old in `credentials`; the user's stream records
/// `PasswordChanged`, which carries no secret. Not for API keys or support staff.
///
/// # Errors
/// 403 for an API key or support staff; 422 when the current password is wrong or the
/// new one breaks the policy.
#[utoipa::path(
    tag = "auth",
    params(IdempotencyKey),
    request_body = ChangePassword,
    responses((status = 204, description = "The password is changed.")),
)]
#[post("/me/password")]
pub async fn change_password(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    let common = &state.common_passwords;
    account::change_password(state.services(), common, &ctx.auth, &ctx.metadata, body).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Sets the workspace's two-factor policy (Owner, Admin).
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "auth",
    request_body = SecurityPolicy,
    responses((status = 200, description = "The policy now in force.", body = SecurityPolicy)),
    extensions(("x-permission" = json!("manage_workspace"))),
)]
#[patch("/workspace/security")]
pub async fn set_security(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<SecurityPolicy>,
) -> Result<HttpResponse, ApiError> {
    let policy = workspace::set_security(state.services(), &ctx.metadata, body).await?;
    Ok(HttpResponse::Ok().json(policy))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(signup)
        .service(set_security)
        .service(me)
        .service(change_password)
        .service(rename_workspace);
}
