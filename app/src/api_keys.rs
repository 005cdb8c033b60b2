//! API keys for programs (Owner, Admin). A key is an opaque token (see [`opaque_token`])
//! with the prefix [`PREFIX`]: it is shown once, stored as a SHA-256 hash, named, has a
//! role no higher than its creator's and an optional expiry. Creating and revoking one
//! are events in the workspace's trail.

use chrono::{DateTime, Utc};
use crm_access::api_keys::{self, KeyRow};
use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{DomainError, EntityId, EventMetadata, Role};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::opaque_token;
use crate::records::Services;

/// The prefix of API keys (`crm_…`), so a key is told from a JWT at a glance.
pub const PREFIX: &str = "crm_";

/// The longest key name, in characters.
const NAME_MAX: usize = 200;

/// `POST /v1/api-keys` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Nightly sync", "role": "member"}))]
pub struct CreateKey {
    /// A name to recognise it by (1 to 200 characters).
    pub name: String,
    /// Its role, no higher than the creator's.
    pub role: Role,
    /// When it stops working (RFC 3339), if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new API key, with the key itself (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewKey {
    /// The key's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key (`crm_…`), sent as `Authorization: Bearer …`. Only its hash is stored:
    /// it cannot be shown again.
    pub key: String,
}

/// Creates a key for the caller, a person (never an API key or support staff), with a
/// role no higher than theirs; returns it with the key, which cannot be shown again.
///
/// # Errors
/// Forbidden (not a person, or a role above the caller's); a validation error for an
/// empty or long name or an expiry not in the future; the store's errors.
pub async fn create(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    body: CreateKey,
) -> Result<NewKey, AppError> {
    caller.require_person()?;
    if body.role < caller.role {
        return Err(AppError::Forbidden);
    }
    if body.expires_at.is_some_and(|t| t <= now) {
        return Err(AppError::invalid("expires_at", "must be in the future"));
    }
    let name =
        crm_domain::text::required("name", &body.name, NAME_MAX).map_err(DomainError::from)?;
    let id = EntityId::new();
    let (secret, _) = opaque_token::new(caller.tenant);
    let key = format!("{PREFIX}{secret}");
    api_keys::create(
        s.db,
        &caller.scope,
        id.0,
        &name,
        opaque_token::hash(&key),
        body.role.as_str(),
        caller.user.0,
        now,
        body.expires_at,
    )
    .await?;
    let command = WorkspaceCommand::RecordApiKeyCreated {
        key_id: id,
        name: name.clone(),
        role: body.role,
    };
    s.commands.workspace(command, meta).await?;
    Ok(NewKey {
        id: id.0,
        name,
        role: body.role,
        expires_at: body.expires_at,
        key,
    })
}

/// Every key of the caller's workspace, newest first, revoked and expired ones too; never
/// the key itself.
///
/// # Errors
/// Forbidden when the caller is not a person; the store's errors.
pub async fn list(s: Services<'_>, caller: &Caller) -> Result<Vec<KeyRow>, AppError> {
    caller.require_person()?;
    Ok(api_keys::list(s.db, &caller.scope).await?)
}

/// Revokes key `id`: it stops working at once.
///
/// # Errors
/// Forbidden when the caller is not a person; not found; a conflict when it is revoked
/// already; the store's errors.
pub async fn revoke(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<(), AppError> {
    caller.require_person()?;
    match api_keys::revoke(s.db, &caller.scope, id, now).await? {
        None => Err(AppError::NotFound),
        Some(false) => Err(AppError::Conflict("the key is revoked already".into())),
        Some(true) => {
            let command = WorkspaceCommand::RecordApiKeyRevoked {
                key_id: EntityId(id),
            };
            s.commands.workspace(command, meta).await
        }
    }
}

/// The workspace of a key (`crm_…`), read from the key itself before any lookup.
pub fn tenant_of(key: &str) -> Option<crm_domain::TenantId> {
    opaque_token::tenant_of(key.strip_prefix(PREFIX)?)
}
