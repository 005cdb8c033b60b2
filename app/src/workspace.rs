//! A workspace's own settings (Owner, Admin): its display name and its two-factor policy.

use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{EventMetadata, Guarded};
use crm_projections::entities::workspace;
use crm_projections::queries::users;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::records::Services;

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

impl From<workspace::Model> for WorkspaceView {
    fn from(w: workspace::Model) -> Self {
        Self {
            id: w.tenant_id,
            slug: w.slug,
            name: w.name,
        }
    }
}

/// `PATCH /v1/workspace` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Europe"}))]
pub struct RenameWorkspace {
    /// The new display name, 1 to 200 characters.
    pub name: String,
}

/// Renames the caller's workspace, guarded by `if_version`; returns its row (whose
/// `version` is the `ETag`).
///
/// # Errors
/// A validation error for an empty or long name; precondition failed for another
/// version; the store's errors.
pub async fn rename(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    if_version: Option<u64>,
    body: RenameWorkspace,
) -> Result<workspace::Model, AppError> {
    let command = Guarded {
        if_version,
        command: WorkspaceCommand::Rename { name: body.name },
    };
    s.commands.workspace(command, meta).await?;
    users::get_workspace(s.db, &caller.scope)
        .await?
        .ok_or(AppError::NotFound)
}

/// `PATCH /v1/workspace/security` body, and its answer.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"require_two_factor": true}))]
pub struct SecurityPolicy {
    /// Owners and admins must turn two-factor sign-in on before they can act.
    pub require_two_factor: bool,
}

/// Sets the workspace's two-factor policy; returns the policy now in force.
///
/// # Errors
/// The store's errors.
pub async fn set_security(
    s: Services<'_>,
    meta: &EventMetadata,
    policy: SecurityPolicy,
) -> Result<SecurityPolicy, AppError> {
    let command = WorkspaceCommand::SetTwoFactorPolicy {
        required: policy.require_two_factor,
    };
    s.commands.workspace(command, meta).await?;
    Ok(policy)
}
