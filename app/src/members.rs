//! Managing a workspace's people (Owner, Admin): role changes, deactivation and
//! reactivation. Nobody changes a user who outranks them or grants a role above their
//! own; the last active Owner can be neither demoted nor deactivated (the owners are
//! locked while the command runs, so two such changes cannot both pass); a change that
//! takes rights away ends the user's sessions at once.

use chrono::{DateTime, Utc};
use crm_access::sessions;
use crm_domain::user::UserCommand;
use crm_domain::{EntityId, EventMetadata, Role};
use crm_projections::entities::user;
use crm_projections::queries::users;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::invitations::check_grant;
use crate::records::Services;

/// User `id` of the caller's workspace, when the caller does not rank below them.
async fn target(s: Services<'_>, caller: &Caller, id: Uuid) -> Result<user::Model, AppError> {
    let found = users::get_user(s.db, &caller.scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let role: Role = found.role.parse().map_err(AppError::internal)?;
    check_grant(caller, role)?;
    Ok(found)
}

/// User `id` as the change left them.
async fn reread(s: Services<'_>, caller: &Caller, id: Uuid) -> Result<user::Model, AppError> {
    users::get_user(s.db, &caller.scope, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// Runs a command that may remove an Owner, with the owners locked, then ends the user's
/// sessions with `why`; returns the user. The caller has checked the target.
async fn owner_guarded(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    id: Uuid,
    why: &str,
    command: impl FnOnce(u64) -> UserCommand,
) -> Result<user::Model, AppError> {
    let owners = users::lock_owners(s.db, &caller.scope).await?;
    let other_owners = users::other_active_owners(s.db, &caller.scope, id).await?;
    s.commands
        .user(EntityId(id), command(other_owners), meta)
        .await?;
    owners.commit().await?;
    sessions::revoke(s.db, &caller.scope, id, None, why, now).await?;
    reread(s, caller, id).await
}

/// Gives user `id` `role`; their sessions end.
///
/// # Errors
/// Forbidden for a user or a role above the caller's; not found; a conflict for the last
/// active Owner; the store's errors.
pub async fn change_role(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    id: Uuid,
    role: Role,
) -> Result<user::Model, AppError> {
    target(s, caller, id).await?;
    check_grant(caller, role)?;
    owner_guarded(s, caller, meta, now, id, "role changed", |other_owners| {
        UserCommand::ChangeRole { role, other_owners }
    })
    .await
}

/// Deactivates user `id`: they can no longer sign in and their sessions end.
///
/// # Errors
/// Forbidden for a user above the caller; not found; a conflict for the last active
/// Owner or a user deactivated already; the store's errors.
pub async fn deactivate(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<user::Model, AppError> {
    target(s, caller, id).await?;
    owner_guarded(s, caller, meta, now, id, "deactivated", |other_owners| {
        UserCommand::Deactivate { other_owners }
    })
    .await
}

/// Reactivates deactivated user `id`.
///
/// # Errors
/// Forbidden for a user above the caller; not found; a conflict when not deactivated;
/// the store's errors.
pub async fn reactivate(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
) -> Result<user::Model, AppError> {
    target(s, caller, id).await?;
    s.commands
        .user(EntityId(id), UserCommand::Reactivate, meta)
        .await?;
    reread(s, caller, id).await
}
