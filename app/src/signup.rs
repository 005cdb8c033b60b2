//! Sign-up: a new workspace, its Owner and its first pipeline.

use std::collections::HashSet;

use crm_access::credentials::{self, Registration};
use crm_domain::pipeline::Pipeline;
use crm_domain::user::{User, UserCommand};
use crm_domain::workspace::{self, Workspace, WorkspaceCommand};
use crm_domain::{Email, EntityId, EventMetadata, Role, TenantId, UserId};
use crm_store::{Credential, TenantScope};
use secrecy::SecretString;
use serde::Deserialize;

use crate::error::AppError;
use crate::password;
use crate::records::Services;

/// `POST /v1/auth/signup` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"workspace_name": "Acme Corp", "workspace_slug": "acme-corp",
    "email": "ada@acme.example", "password": "tangerine orbit lantern 42", "display_name": "Ada Lovelace"}))]
pub struct SignupBody {
    /// Display name of the new workspace.
    pub workspace_name: String,
    /// URL-safe slug, unique: 3 to 63 characters of `a-z`, `0-9` and `-`, starting and
    /// ending with a letter or digit (a DNS label, RFC 1035 §2.3.1).
    pub workspace_slug: String,
    /// The founder's login email.
    pub email: String,
    /// The founder's password, 12 to 128 characters, not a common one.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
    /// The founder's display name.
    pub display_name: String,
}

/// A new workspace and its Owner.
#[derive(Debug)]
pub struct Founded {
    /// The new workspace.
    pub tenant: TenantId,
    /// Its slug.
    pub slug: String,
    /// Its Owner.
    pub user: UserId,
    /// The Owner's login email, normalised.
    pub email: Email,
    /// The metadata its events carried (the Owner as actor).
    pub meta: EventMetadata,
}

/// Creates a workspace, its Owner (with the password's argon2id hash) and a default
/// sales pipeline. The slug and the email are claimed first (a unique key each), so a
/// race has one winner; when a command fails afterwards the claims are released, so
/// the slug and the email can be used again. `meta_for` gives the events' metadata for
/// the new tenant and user (who, from where).
///
/// # Errors
/// Validation errors for the email, the slug (`crm_domain::workspace::validate_slug`) or
/// the password (`crate::password::check_policy`); a conflict when the slug or the email
/// is taken; the store's errors.
pub async fn signup(
    s: Services<'_>,
    common_passwords: &HashSet<String>,
    body: SignupBody,
    meta_for: impl FnOnce(TenantId, UserId) -> EventMetadata,
) -> Result<Founded, AppError> {
    let email = Email::parse(&body.email).map_err(|e| AppError::invalid("email", e.to_string()))?;
    workspace::validate_slug(&body.workspace_slug)?;
    password::check_policy(&body.password, common_passwords)?;
    let hash = password::hash(body.password).await?;

    let tenant = TenantId::new();
    let user = EntityId::new();
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let meta = meta_for(tenant, UserId(user.0));
    // One transaction: the slug, the credentials, the workspace, its Owner and its first
    // pipeline commit together or not at all, so no crash leaves a slug or an email
    // claimed by a workspace that does not exist.
    let uow = s.commands.unit(&meta).await?;
    match credentials::reserve_signup(
        uow.connection(),
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
            return Err(AppError::Conflict("this workspace slug is taken".into()))
        }
        Registration::EmailTaken => {
            return Err(AppError::Conflict(
                "an account with this email already exists; sign in instead".into(),
            ))
        }
    }
    let workspace = WorkspaceCommand::Create {
        name: body.workspace_name,
        slug: body.workspace_slug.clone(),
    };
    s.commands
        .create_in::<Workspace, _>(&uow, EntityId(tenant.0), workspace, &meta)
        .await?;
    let register = UserCommand::Register {
        email: email.to_string(),
        display_name: body.display_name,
        role: Role::Owner,
    };
    s.commands
        .create_in::<User, _>(&uow, user, register, &meta)
        .await?;
    let create = crm_domain::pipeline::PipelineCommand::Create {
        name: "Sales pipeline".into(),
        stages: crm_domain::pipeline::default_stages(),
    };
    s.commands
        .create_in::<Pipeline, _>(&uow, EntityId::new(), create, &meta)
        .await?;
    uow.commit().await?;
    Ok(Founded {
        tenant,
        slug: body.workspace_slug,
        user: UserId(user.0),
        email,
        meta,
    })
}
