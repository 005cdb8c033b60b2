//! The caller's own account: who they are, in which workspace, and changing their
//! password.

use crm_access::credentials;
use crm_domain::user::UserCommand;
use crm_domain::{EntityId, EventMetadata};
use crm_projections::queries::users;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::password;
use crate::records::Services;
use crate::workspace::WorkspaceView;

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

/// The caller and their workspace.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MeAnswer {
    /// The caller.
    pub user: MeUser,
    /// The caller's workspace (`null` only while it is being created).
    pub workspace: Option<WorkspaceView>,
}

/// The caller and their workspace.
///
/// # Errors
/// Not found when the user no longer exists; the store's errors.
pub async fn me(s: Services<'_>, caller: &Caller) -> Result<MeAnswer, AppError> {
    let user = users::get_user(s.db, &caller.scope, caller.user.0)
        .await?
        .ok_or(AppError::NotFound)?;
    let workspace = users::get_workspace(s.db, &caller.scope).await?;
    Ok(MeAnswer {
        user: MeUser {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            role: user.role,
        },
        workspace: workspace.map(WorkspaceView::from),
    })
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

/// Changes the caller's password after checking the current one: the new argon2id hash
/// replaces the old, and the user's stream records `PasswordChanged`, which carries no
/// secret (if the event cannot be written, the old hash is put back).
///
/// # Errors
/// Forbidden for an API key or support staff; a validation error on `current_password`
/// when it does not match, or on `new_password` when the policy refuses it
/// ([`password::check_policy`]); the store's errors.
pub async fn change_password(
    s: Services<'_>,
    common_passwords: &std::collections::HashSet<String>,
    caller: &Caller,
    meta: &EventMetadata,
    body: ChangePassword,
) -> Result<(), AppError> {
    caller.require_person()?;
    let (scope, user) = (&caller.scope, caller.user.0);
    password::check_policy(&body.new_password, common_passwords).map_err(|e| match e {
        AppError::Validation(mut fields) => {
            for f in &mut fields {
                f.field = "new_password".into();
            }
            AppError::Validation(fields)
        }
        other => other,
    })?;
    let old = credentials::password_hash(s.db, scope, user).await?;
    if !password::verify(body.current_password, old.clone()).await? {
        return Err(AppError::invalid("current_password", "does not match"));
    }
    let new = password::hash(body.new_password).await?;
    credentials::set_password_hash(s.db, scope, user, &new).await?;
    let command = UserCommand::RecordPasswordChange;
    if let Err(err) = s.commands.user(EntityId(user), command, meta).await {
        if let Some(old) = old {
            credentials::set_password_hash(s.db, scope, user, &old).await?;
        }
        return Err(err);
    }
    Ok(())
}
