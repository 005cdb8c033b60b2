//! The `User` aggregate: a person's membership of one workspace.
//!
//! Secrets never enter these events: `PasswordChanged` records that the password changed;
//! the argon2id hash lives in the `credentials` table (ARCHITECTURE.md, invariant 2).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::{text, DomainError, Email, EntityId, Guarded, Role};

#[cfg(test)]
mod tests;

/// Longest display name, in characters.
pub const DISPLAY_NAME_MAX: usize = 200;

/// Commands of a user.
#[derive(Debug, Clone, PartialEq)]
pub enum UserCommand {
    /// Register the user into the workspace of the stream.
    Register {
        /// Login email (validated and normalised here).
        email: String,
        /// Name shown to colleagues, 1 to 200 characters.
        display_name: String,
        /// Role in the workspace.
        role: Role,
    },
    /// Invite someone into the workspace with a role; they join by accepting.
    Invite {
        /// Their email.
        email: String,
        /// The role they will have.
        role: Role,
    },
    /// The invited person accepted and chose a display name (their password is stored by
    /// the caller).
    AcceptInvitation {
        /// Display name, 1 to 200 characters.
        display_name: String,
    },
    /// Give the user another role. `other_owners` is the number of active owners besides
    /// this user, counted by the caller: the last owner cannot be demoted.
    ChangeRole {
        /// The new role.
        role: Role,
        /// Active owners other than this user.
        other_owners: u64,
    },
    /// Deactivate: the user can no longer sign in (the caller ends their sessions). The
    /// last owner cannot be deactivated.
    Deactivate {
        /// Active owners other than this user.
        other_owners: u64,
    },
    /// Let a deactivated user sign in again.
    Reactivate,
    /// Record that the password changed (the new hash is stored by the caller).
    RecordPasswordChange,
    /// Record that the password was reset with a reset token (every session was ended).
    RecordPasswordReset,
    /// Record that two-factor sign-in was turned on.
    RecordTwoFactorEnabled,
    /// Record that two-factor sign-in was turned off.
    RecordTwoFactorDisabled,
    /// Record that a recovery code was used (it is spent).
    RecordRecoveryCodeUsed,
    /// Record a successful sign-in that opened `session_id`.
    RecordLogin {
        /// The new session.
        session_id: EntityId,
    },
    /// Record a failed sign-in (wrong password for this user's email).
    RecordLoginFailure,
    /// Record a sign-out: of one session, or of all (`None`).
    RecordLogout {
        /// The session, or every session.
        session_id: Option<EntityId>,
    },
    /// Record that a used refresh token came back (its session is revoked).
    RecordRefreshReuse {
        /// The revoked session.
        session_id: EntityId,
    },
}

/// Events of a user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum UserEvent {
    /// The user joined the workspace.
    UserRegistered {
        /// Normalised login email.
        email: Email,
        /// Display name.
        display_name: String,
        /// Role in the workspace.
        role: Role,
    },
    /// The user's password changed. Carries no secret.
    PasswordChanged,
    /// Someone was invited (they are not a member until they accept).
    UserInvited {
        /// Normalised email.
        email: Email,
        /// Their future role.
        role: Role,
    },
    /// The invitation was accepted.
    InvitationAccepted {
        /// Display name.
        display_name: String,
    },
    /// The role changed.
    RoleChanged {
        /// The new role.
        role: Role,
    },
    /// The user was deactivated.
    UserDeactivated,
    /// The user was reactivated.
    UserReactivated,
    /// The password was reset through a reset token; every session was ended. No secret.
    PasswordReset,
    /// Two-factor sign-in (RFC 6238 TOTP) was turned on. No secret.
    TwoFactorEnabled,
    /// Two-factor sign-in was turned off.
    TwoFactorDisabled,
    /// A recovery code was used.
    RecoveryCodeUsed,
    /// The user signed in (address and agent are in the metadata).
    LoginSucceeded {
        /// The session opened.
        session_id: EntityId,
    },
    /// A sign-in with this user's email failed.
    LoginFailed,
    /// The user signed out of one session, or of all (`null`).
    LoggedOut {
        /// The session, or null for all.
        session_id: Option<EntityId>,
    },
    /// A refresh token was presented twice; the session was revoked (theft detection).
    RefreshTokenReuseDetected {
        /// The revoked session.
        session_id: EntityId,
    },
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> String {
        match self {
            Self::UserRegistered { .. } => "UserRegistered",
            Self::PasswordChanged => "PasswordChanged",
            Self::UserInvited { .. } => "UserInvited",
            Self::InvitationAccepted { .. } => "InvitationAccepted",
            Self::RoleChanged { .. } => "RoleChanged",
            Self::UserDeactivated => "UserDeactivated",
            Self::UserReactivated => "UserReactivated",
            Self::LoginSucceeded { .. } => "LoginSucceeded",
            Self::LoginFailed => "LoginFailed",
            Self::PasswordReset => "PasswordReset",
            Self::TwoFactorEnabled => "TwoFactorEnabled",
            Self::TwoFactorDisabled => "TwoFactorDisabled",
            Self::RecoveryCodeUsed => "RecoveryCodeUsed",
            Self::LoggedOut { .. } => "LoggedOut",
            Self::RefreshTokenReuseDetected { .. } => "RefreshTokenReuseDetected",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// The state a user's rules need.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct User {
    version: u64,
    registered: bool,
    status: UserStatus,
    role: Option<Role>,
}

/// Where a user stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Invited, not yet joined.
    Invited,
    /// A member who can sign in.
    #[default]
    Active,
    /// Can no longer sign in.
    Deactivated,
}

impl UserStatus {
    /// `invited`, `active` or `deactivated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invited => "invited",
            Self::Active => "active",
            Self::Deactivated => "deactivated",
        }
    }
}

impl Aggregate for User {
    const TYPE: &'static str = "User";
    type Command = Guarded<UserCommand>;
    type Event = UserEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        guarded: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // An empty stream is a 404 whatever the guard says, as for any missing record.
        check_version(
            self.version,
            guarded.if_version.filter(|_| self.version > 0),
        )?;
        let command = guarded.command;
        match command {
            UserCommand::Register {
                email,
                display_name,
                role,
            } => {
                if self.registered {
                    return Err(DomainError::AlreadyExists);
                }
                let email = Email::parse(&email).map_err(|e| DomainError::from(("email", e)))?;
                let display_name = text::required("display_name", &display_name, DISPLAY_NAME_MAX)?;
                sink.write(
                    UserEvent::UserRegistered {
                        email,
                        display_name,
                        role,
                    },
                    self,
                )
                .await;
            }
            UserCommand::Invite { email, role } => {
                if self.registered {
                    return Err(DomainError::AlreadyExists);
                }
                let email = Email::parse(&email).map_err(|e| DomainError::from(("email", e)))?;
                sink.write(UserEvent::UserInvited { email, role }, self)
                    .await;
            }
            UserCommand::AcceptInvitation { display_name } => {
                if !self.registered {
                    return Err(DomainError::NotFound);
                }
                if self.status != UserStatus::Invited {
                    return Err(DomainError::Conflict(
                        "the invitation was accepted already".into(),
                    ));
                }
                let display_name = text::required("display_name", &display_name, DISPLAY_NAME_MAX)?;
                sink.write(UserEvent::InvitationAccepted { display_name }, self)
                    .await;
            }
            UserCommand::ChangeRole { role, other_owners } => {
                if !self.registered {
                    return Err(DomainError::NotFound);
                }
                if self.status == UserStatus::Deactivated {
                    return Err(DomainError::Conflict(
                        "the user is deactivated; reactivate them first".into(),
                    ));
                }
                if self.role == Some(role) {
                    return Ok(());
                }
                if self.role == Some(Role::Owner)
                    && self.status == UserStatus::Active
                    && other_owners == 0
                {
                    return Err(DomainError::Conflict(
                        "the last owner cannot be demoted".into(),
                    ));
                }
                sink.write(UserEvent::RoleChanged { role }, self).await;
            }
            UserCommand::Deactivate { other_owners } => {
                if !self.registered {
                    return Err(DomainError::NotFound);
                }
                if self.status == UserStatus::Deactivated {
                    return Err(DomainError::Conflict(
                        "the user is deactivated already".into(),
                    ));
                }
                if self.role == Some(Role::Owner)
                    && self.status == UserStatus::Active
                    && other_owners == 0
                {
                    return Err(DomainError::Conflict(
                        "the last owner cannot be deactivated".into(),
                    ));
                }
                sink.write(UserEvent::UserDeactivated, self).await;
            }
            UserCommand::Reactivate => {
                if !self.registered {
                    return Err(DomainError::NotFound);
                }
                if self.status != UserStatus::Deactivated {
                    return Err(DomainError::Conflict("the user is not deactivated".into()));
                }
                sink.write(UserEvent::UserReactivated, self).await;
            }
            UserCommand::RecordPasswordChange => {
                if !self.registered {
                    return Err(DomainError::NotFound);
                }
                sink.write(UserEvent::PasswordChanged, self).await;
            }
            other => {
                if !self.registered {
                    return Err(DomainError::NotFound);
                }
                let event = match other {
                    UserCommand::RecordLogin { session_id } => {
                        UserEvent::LoginSucceeded { session_id }
                    }
                    UserCommand::RecordLoginFailure => UserEvent::LoginFailed,
                    UserCommand::RecordPasswordReset => UserEvent::PasswordReset,
                    UserCommand::RecordTwoFactorEnabled => UserEvent::TwoFactorEnabled,
                    UserCommand::RecordTwoFactorDisabled => UserEvent::TwoFactorDisabled,
                    UserCommand::RecordRecoveryCodeUsed => UserEvent::RecoveryCodeUsed,
                    UserCommand::RecordLogout { session_id } => UserEvent::LoggedOut { session_id },
                    UserCommand::RecordRefreshReuse { session_id } => {
                        UserEvent::RefreshTokenReuseDetected { session_id }
                    }
                    _ => return Err(DomainError::AlreadyExists),
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            UserEvent::UserRegistered { role, .. } => {
                self.registered = true;
                self.status = UserStatus::Active;
                self.role = Some(role);
            }
            UserEvent::UserInvited { role, .. } => {
                self.registered = true;
                self.status = UserStatus::Invited;
                self.role = Some(role);
            }
            UserEvent::InvitationAccepted { .. } | UserEvent::UserReactivated => {
                self.status = UserStatus::Active
            }
            UserEvent::RoleChanged { role } => self.role = Some(role),
            UserEvent::UserDeactivated => self.status = UserStatus::Deactivated,
            UserEvent::PasswordChanged
            | UserEvent::LoginSucceeded { .. }
            | UserEvent::LoginFailed
            | UserEvent::PasswordReset
            | UserEvent::TwoFactorEnabled
            | UserEvent::TwoFactorDisabled
            | UserEvent::RecoveryCodeUsed
            | UserEvent::LoggedOut { .. }
            | UserEvent::RefreshTokenReuseDetected { .. } => {}
        }
    }
}
