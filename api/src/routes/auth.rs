//! Sign-up, login and the caller's own profile.

use actix_web::{web, HttpRequest, HttpResponse};
use crm_domain::user::UserCommand;
use crm_domain::workspace::{self, WorkspaceCommand};
use crm_domain::{Action, Email, EntityId, EventMetadata, Role, TenantId, UserId};
use crm_projections::queries::users::{self, Registration};
use crm_projections::TenantScope;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use crate::auth::context::{client_ip, request_id, user_agent};
use crate::auth::{password, AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::state::AppState;

/// `POST /v1/auth/signup` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// Display name of the new workspace.
    pub workspace_name: String,
    /// URL-safe slug, unique (see `crm_domain::workspace::validate_slug`).
    pub workspace_slug: String,
    /// The founder's login email.
    pub email: String,
    /// The founder's password, 12 to 128 characters.
    pub password: SecretString,
    /// The founder's display name.
    pub display_name: String,
}

/// `POST /v1/auth/signup`: creates a workspace and its Owner; 201 with an access token.
///
/// # Errors
/// 422 for invalid fields, 409 when the slug or email is taken.
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<SignupBody>,
) -> Result<HttpResponse, ApiError> {
    let email = Email::parse(&body.email).map_err(|e| ApiError::invalid("email", e.to_string()))?;
    workspace::validate_slug(&body.workspace_slug)?;
    password::check_policy(&body.password, &state.common_passwords)?;
    let hash = password::hash(body.password).await?;

    let tenant = TenantId::new();
    let user = EntityId::new();
    let scope = TenantScope::new(tenant);
    match users::reserve_signup(
        &state.pools.app,
        &scope,
        &body.workspace_slug,
        user.0,
        email.as_str(),
        &hash,
    )
    .await?
    {
        Registration::Reserved => {}
        Registration::SlugTaken => {
            return Err(ApiError::Conflict("this workspace slug is taken".into()))
        }
        Registration::EmailTaken => {
            return Err(ApiError::Conflict(
                "an account with this email already exists; sign in instead".into(),
            ))
        }
    }
    let mut meta = EventMetadata::for_user(tenant, UserId(user.0), Role::Owner, request_id(&req));
    meta.ip = client_ip(&req);
    meta.user_agent = user_agent(&req);
    let created = async {
        state
            .commands
            .workspace(
                WorkspaceCommand::Create {
                    name: body.workspace_name,
                    slug: body.workspace_slug.clone(),
                },
                &meta,
            )
            .await?;
        state
            .commands
            .user(
                user,
                UserCommand::Register {
                    email: email.to_string(),
                    display_name: body.display_name,
                    role: Role::Owner,
                },
                &meta,
            )
            .await?;
        let stages = crm_domain::pipeline::default_stages();
        let create = crm_domain::pipeline::PipelineCommand::Create {
            name: "Sales pipeline".into(),
            stages,
        };
        state
            .commands
            .pipeline(EntityId::new(), create, &meta)
            .await
    }
    .await;
    if let Err(err) = created {
        users::release_signup(&state.pools.app, &scope, &body.workspace_slug, user.0).await?;
        return Err(err.into());
    }
    let tokens = crate::auth::session::open(
        &state,
        tenant,
        UserId(user.0),
        Role::Owner,
        meta.ip.map(|ip| ip.to_string()),
        meta.user_agent.clone(),
    )
    .await?;
    Ok(HttpResponse::Created().json(json!({
        "workspace": {"id": tenant.0, "slug": body.workspace_slug},
        "user": {"id": user.0, "email": email, "role": Role::Owner},
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "session_id": tokens.session_id,
    })))
}

/// `GET /v1/me`: the caller and their workspace.
///
/// # Errors
/// 401 without a valid token; 404 if the user no longer exists.
pub async fn me(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    let user = users::get_user(&state.pools.app, &auth.scope, auth.user.0)
        .await?
        .ok_or(ApiError::NotFound)?;
    let workspace = users::get_workspace(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(json!({
        "user": {"id": user.id, "email": user.email, "display_name": user.display_name, "role": user.role},
        "workspace": workspace.map(|w| json!({"id": w.tenant_id, "slug": w.slug, "name": w.name})),
    })))
}

/// `PATCH /v1/workspace` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameWorkspace {
    /// The new display name, 1 to 200 characters.
    pub name: String,
}

/// `PATCH /v1/workspace` (Owner, Admin): renames the caller's workspace.
///
/// # Errors
/// 403 for other roles, 422 for an empty or long name.
pub async fn rename_workspace(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<RenameWorkspace>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManageWorkspace)?;
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
        &json!({"id": workspace.tenant_id, "slug": workspace.slug, "name": workspace.name}),
    ))
}

/// `POST /v1/me/password` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password in use now.
    pub current_password: SecretString,
    /// The new password, 12 to 128 characters.
    pub new_password: SecretString,
}

/// `POST /v1/me/password`: changes the caller's password after checking the current one.
/// The new argon2id hash replaces the old in `credentials`; the user's stream records
/// `PasswordChanged`, which carries no secret. 204.
///
/// # Errors
/// 422 when the current password is wrong or the new one breaks the policy.
pub async fn change_password(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require_person()?;
    let scope = ctx.auth.scope;
    let user = ctx.auth.user.0;
    password::check_policy(&body.new_password, &state.common_passwords).map_err(|e| match e {
        ApiError::Validation(mut fields) => {
            for f in &mut fields {
                f.field = "new_password".into();
            }
            ApiError::Validation(fields)
        }
        other => other,
    })?;
    let old = users::password_hash(&state.pools.app, &scope, user).await?;
    if !password::verify(body.current_password, old.clone()).await? {
        return Err(ApiError::invalid("current_password", "does not match"));
    }
    let new = password::hash(body.new_password).await?;
    users::set_password_hash(&state.pools.app, &scope, user, &new).await?;
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
            users::set_password_hash(&state.pools.app, &scope, user, &old).await?;
        }
        return Err(err.into());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `PATCH /v1/workspace/security` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityPolicy {
    /// Owners and admins must turn two-factor sign-in on before they can act.
    pub require_two_factor: bool,
}

/// `PATCH /v1/workspace/security` (Owner, Admin): the workspace's two-factor policy.
///
/// # Errors
/// 403.
pub async fn set_security(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<SecurityPolicy>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::ManageWorkspace)?;
    let command = crm_domain::workspace::WorkspaceCommand::SetTwoFactorPolicy {
        required: body.require_two_factor,
    };
    state.commands.workspace(command, &ctx.metadata).await?;
    Ok(HttpResponse::Ok().json(json!({"require_two_factor": body.require_two_factor})))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.map(|c| {
        c.service(actix_web::web::resource("/auth/signup").route(actix_web::web::post().to(signup)))
            .service(
                actix_web::web::resource("/workspace/security")
                    .route(actix_web::web::patch().to(set_security)),
            )
            .service(actix_web::web::resource("/me").route(actix_web::web::get().to(me)))
            .service(
                actix_web::web::resource("/me/password")
                    .route(actix_web::web::post().to(change_password)),
            )
            .service(
                actix_web::web::resource("/workspace")
                    .route(actix_web::web::patch().to(rename_workspace)),
            )
    });
}
