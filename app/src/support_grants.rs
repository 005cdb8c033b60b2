//! Support grants: a workspace's Owner lets a support account in, for a while, with a
//! scope and a reason, and can take it back. Each grant and revocation is first an event
//! of the workspace (`SupportGranted`, `SupportRevoked`), so it is in the audit trail and
//! its hash chain, and a grant never works without its event.

use chrono::{DateTime, Duration, Utc};
use crm_access::support::{self, Grant, NewGrant};
use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{Email, EntityId, EventMetadata};
use serde::Deserialize;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::records::Services;

/// `POST /v1/support-grants` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"support_email": "alex@support.example", "scope": "read",
    "reason": "Ticket 4711: a deal went missing", "expires_in_hours": 24}))]
pub struct GrantBody {
    /// The support account's email.
    pub support_email: String,
    /// `read` (records, deleted ones, history, audit) or `recovery` (also revert,
    /// restore, undo import).
    #[schema(pattern = "^(read|recovery)$")]
    pub scope: String,
    /// Why, 1 to 500 characters.
    pub reason: String,
    /// Hours until it expires, 1 to 168 (a week).
    #[schema(minimum = 1, maximum = 168)]
    pub expires_in_hours: i64,
}

/// Gives the support account of `body.support_email` access to the caller's workspace,
/// until `now` plus `body.expires_in_hours`.
///
/// # Errors
/// Forbidden for an API key or support staff (a person of the workspace grants);
/// validation errors for an unknown support account, a scope other than `read` or
/// `recovery`, a reason that is not 1 to 500 characters, or a duration outside 1 to 168
/// hours; the store's errors.
pub async fn grant(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    body: GrantBody,
) -> Result<Grant, AppError> {
    caller.require_person()?;
    let scope = match body.scope.as_str() {
        "read" => "read",
        "recovery" => "recovery",
        _ => return Err(AppError::invalid("scope", "must be read or recovery")),
    };
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid("reason", "must be 1 to 500 characters"));
    }
    if !(1..=168).contains(&body.expires_in_hours) {
        return Err(AppError::invalid("expires_in_hours", "must be 1 to 168"));
    }
    let account = match Email::parse(&body.support_email) {
        Ok(email) => support::account_by_email(s.db, email.as_str()).await?,
        Err(_) => None,
    }
    .ok_or_else(|| AppError::invalid("support_email", "no support account has this email"))?;
    let id = Uuid::now_v7();
    let expires_at = now + Duration::hours(body.expires_in_hours);
    s.commands
        .workspace(
            WorkspaceCommand::RecordSupportGranted {
                grant_id: EntityId(id),
                support_id: EntityId(account.id),
                scope: scope.to_owned(),
                reason: reason.to_owned(),
                expires_at,
            },
            meta,
        )
        .await?;
    support::create_grant(
        s.db,
        &caller.scope,
        NewGrant {
            id,
            support_id: account.id,
            scope,
            reason: reason.to_owned(),
            created_by: caller.user.0,
            created_at: now,
            expires_at,
        },
    )
    .await?;
    support::list_grants(s.db, &caller.scope)
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(AppError::NotFound)
}

/// Revokes grant `id` at once.
///
/// # Errors
/// Forbidden for an API key or support staff; not found for no such unrevoked grant in
/// the caller's workspace; the store's errors.
pub async fn revoke(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<(), AppError> {
    caller.require_person()?;
    let live = support::list_grants(s.db, &caller.scope)
        .await?
        .into_iter()
        .any(|g| g.id == id && g.revoked_at.is_none());
    if !live {
        return Err(AppError::NotFound);
    }
    s.commands
        .workspace(
            WorkspaceCommand::RecordSupportRevoked {
                grant_id: EntityId(id),
            },
            meta,
        )
        .await?;
    if !support::revoke(s.db, &caller.scope, id, caller.user.0, now).await? {
        return Err(AppError::NotFound);
    }
    Ok(())
}
