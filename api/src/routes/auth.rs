//! Sign-up, login and the caller's own profile.

use actix_web::{get, patch, post};
use actix_web::{web, HttpRequest, HttpResponse};
use crm_access::credentials::{self};
use crm_domain::user::UserCommand;
use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{EntityId, EventMetadata, Role};
use crm_projections::queries::users::{self};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::context::{client_ip, request_id, user_agent};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::password;
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

/// The caller as `GET /v1/me` shows them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeUser {
    /// The user's id (for an API key: its creator's).
    pub id: Uuid,
    /// Login email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// `owner`, `admin`, `manager`, `member` or `read_only`.
    pub role: String,
}

/// A workspace's id, slug and display name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    /// The workspace's id (the tenant).
    pub id: Uuid,
    /// Its slug.
    pub slug: String,
    /// Its display name.
    pub name: String,
}

impl From<crm_projections::entities::workspace::Model> for WorkspaceView {
    fn from(w: crm_projections::entities::workspace::Model) -> Self {
        Self {
            id: w.tenant_id,
            slug: w.slug,
            name: w.name,
        }
    }
}

/// The caller and their workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeAnswer {
    /// The caller.
    pub user: MeUser,
    /// The caller's workspace (`null` only while it is being created).
    pub workspace: Option<WorkspaceView>,
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
    let user = users::get_user(&state.pools.app, &auth.scope, auth.user.0)
        .await?
        .ok_or(ApiError::NotFound)?;
    let workspace = users::get_workspace(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(MeAnswer {
        user: MeUser {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
        },
        workspace: workspace.map(WorkspaceView::from),
    }))
}

/// `PATCH /v1/workspace` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Europe"}))]
pub struct RenameWorkspace {
    /// The new display name, 1 to 200 characters.
    pub name: String,
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
    state
        .commands
        .workspace(
            crm_domain::Guarded {
                if_version: super::if_match(&req)?,
                command: WorkspaceCommand::Rename { name: body.name },
            },
            &ctx.metadata,
        )
        .await?;
    let workspace = users::get_workspace(&state.pools.app, &ctx.auth.scope)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(super::record(
        actix_web::http::StatusCode::OK,
        workspace.version,
        &WorkspaceView::from(workspace),
    ))
}

/// `POST /v1/me/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "tangerine orbit lantern 42", "new_password": "violet harbour compass 77"}))]
pub struct ChangePassword {
    /// The password in use now.
    #[schema(value_type = String, format = Password)]
    pub current_password: SecretString,
    /// The new password, 12 to 128 characters, not a common one.
    #[schema(value_type = String, format = Password)]
    pub new_password: SecretString,
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
    ctx.auth.require_person()?;
    let scope = ctx.auth.scope;
    let user = ctx.auth.user.0;
    password::check_policy(&body.new_password, &state.common_passwords).map_err(|e| match e {
        crm_app::AppError::Validation(mut fields) => {
            for f in &mut fields {
                f.field = "new_password".into();
            }
            crm_app::AppError::Validation(fields)
        }
        other => other,
    })?;
    let old = credentials::password_hash(&state.pools.app, &scope, user).await?;
    if !password::verify(body.current_password, old.clone()).await? {
        return Err(ApiError::invalid("current_password", "does not match"));
    }
    let new = password::hash(body.new_password).await?;
    credentials::set_password_hash(&state.pools.app, &scope, user, &new).await?;
    if let Err(err) = state
        .commands
        .user(
            EntityId(user),
            UserCommand::RecordPasswordChange,
            &ctx.metadata,
        )
        .await
    {
        if let Some(old) = old {
            credentials::set_password_hash(&state.pools.app, &scope, user, &old).await?;
        }
        return Err(err.into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /v1/workspace/security` body, and its answer.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"require_two_factor": true}))]
pub struct SecurityPolicy {
    /// Owners and admins must turn two-factor sign-in on before they can act.
    pub require_two_factor: bool,
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
    let command = crm_domain::workspace::WorkspaceCommand::SetTwoFactorPolicy {
        required: body.require_two_factor,
    };
    state.commands.workspace(command, &ctx.metadata).await?;
    Ok(HttpResponse::Ok().json(SecurityPolicy {
        require_two_factor: body.require_two_factor,
    }))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(signup)
        .service(set_security)
        .service(me)
        .service(change_password)
        .service(rename_workspace);
}
