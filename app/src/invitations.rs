//! Invitations: an Owner or Admin invites someone by email with a role no higher than
//! their own; the invitee sets a password with the mailed single-use token (72 hours).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use crm_access::credentials;
use crm_domain::user::UserCommand;
use crm_domain::{Email, EntityId, EventMetadata, Role, TenantId, UserId};
use crm_projections::entities::user;
use crm_projections::queries::users;
use crm_store::{Credential, TenantScope};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::caller::Caller;
use crate::error::AppError;
use crate::mailer::Mailer;
use crate::records::Services;
use crate::{opaque_token, password};

/// Hours an invitation token works.
pub const INVITATION_HOURS: i64 = 72;

/// The answer to an unknown, used or expired invitation token.
pub const INVALID: AppError = AppError::Unauthenticated("invalid or expired invitation");

/// Refuses to grant `role` above the caller's own (roles are ordered Owner first).
///
/// # Errors
/// [`AppError::Forbidden`].
pub fn check_grant(caller: &Caller, role: Role) -> Result<(), AppError> {
    if role < caller.role {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

/// `POST /v1/users/invitations` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "grace@acme.example", "role": "member"}))]
pub struct InviteBody {
    /// Their email.
    pub email: String,
    /// Their role, no higher than the inviter's.
    pub role: Role,
}

/// Invites `body.email` with `body.role`: the invitee's stream (`UserInvited`), a
/// single-use token mailed to them only (an inviter who saw it could join in their
/// place). Returns the invitee and when the token stops working.
///
/// # Errors
/// Forbidden for a role above the caller's; a conflict when the email has an account; a
/// validation error for the email; the store's errors.
pub async fn invite(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    mailer: &dyn Mailer,
    now: DateTime<Utc>,
    body: InviteBody,
) -> Result<(user::Model, DateTime<Utc>), AppError> {
    check_grant(caller, body.role)?;
    let email = Email::parse(&body.email).map_err(|e| AppError::invalid("email", e.to_string()))?;
    let id = EntityId::new();
    let (token, hash) = opaque_token::new(caller.tenant);
    let expires_at = now + chrono::Duration::hours(INVITATION_HOURS);
    if !credentials::create_invitation(
        s.db,
        &caller.scope,
        id.0,
        email.as_str(),
        hash,
        now,
        expires_at,
    )
    .await?
    {
        return Err(AppError::Conflict(
            "an account with this email exists".into(),
        ));
    }
    s.commands
        .user(
            id,
            UserCommand::Invite {
                email: email.to_string(),
                role: body.role,
            },
            meta,
        )
        .await?;
    let invitee = users::get_user(s.db, &caller.scope, id.0)
        .await?
        .ok_or(AppError::NotFound)?;
    mailer.invitation(email.as_str(), &token);
    Ok((invitee, expires_at))
}

/// `POST /v1/auth/accept-invitation` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"token": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
    "display_name": "Grace Hopper", "password": "violet harbour compass 77"}))]
pub struct AcceptBody {
    /// The mailed invitation token.
    #[schema(value_type = String, format = Password)]
    pub token: SecretString,
    /// Display name.
    pub display_name: String,
    /// Password, 12 to 128 characters, not a common one.
    #[schema(value_type = String, format = Password)]
    pub password: SecretString,
}

/// An accepted invitation: who may now sign in.
#[derive(Debug)]
pub struct Accepted {
    /// The invitee's workspace.
    pub tenant: TenantId,
    /// The invitee.
    pub user: UserId,
    /// Their role.
    pub role: Role,
    /// The metadata of the acceptance event.
    pub meta: EventMetadata,
}

/// Accepts an invitation: checks the password and name, spends the token, sets the
/// password's hash and records `InvitationAccepted` with the display name.
///
/// # Errors
/// [`INVALID`] for an unknown, used or expired token; validation errors for the password
/// (`crate::password::check_policy`) or the display name; the store's errors.
pub async fn accept(
    s: Services<'_>,
    common_passwords: &HashSet<String>,
    now: DateTime<Utc>,
    body: AcceptBody,
    meta_for: impl FnOnce(TenantId, UserId, Role) -> EventMetadata,
) -> Result<Accepted, AppError> {
    password::check_policy(&body.password, common_passwords)?;
    crm_domain::text::required(
        "display_name",
        &body.display_name,
        crm_domain::user::DISPLAY_NAME_MAX,
    )
    .map_err(crm_domain::DomainError::from)?;
    let token = body.token.expose_secret();
    let tenant = opaque_token::tenant_of(token).ok_or(INVALID)?;
    let scope = TenantScope::for_credential(Credential::SignIn(tenant));
    let hashed = password::hash(body.password).await?;
    // One transaction: the token is spent, the password set and the user joins together,
    // so no crash leaves an invitee with a spent token who never joined.
    let uow = s.commands.unit_in(&scope).await?;
    let user_id = credentials::accept_invitation(
        uow.connection(),
        &scope,
        opaque_token::hash(token),
        &hashed,
        now,
    )
    .await?
    .ok_or(INVALID)?;
    let invitee = uow
        .row::<crm_projections::entities::user::Entity>(user_id)
        .await?
        .ok_or(INVALID)?;
    let role: Role = invitee.role.parse().map_err(AppError::internal)?;
    let meta = meta_for(tenant, UserId(user_id), role);
    let joined = UserCommand::AcceptInvitation {
        display_name: body.display_name,
    };
    s.commands
        .run_in::<crm_domain::user::User, _>(&uow, EntityId(user_id), joined, &meta)
        .await?;
    uow.commit().await?;
    Ok(Accepted {
        tenant,
        user: UserId(user_id),
        role,
        meta,
    })
}
