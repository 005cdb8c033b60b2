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
    /// Record that the password changed (the new hash is stored by the caller).
    RecordPasswordChange,
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
            Self::LoginSucceeded { .. } => "LoginSucceeded",
            Self::LoginFailed => "LoginFailed",
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
                    UserCommand::RecordLogout { session_id } => UserEvent::LoggedOut { session_id },
                    UserCommand::RecordRefreshReuse { session_id } => {
                        UserEvent::RefreshTokenReuseDetected { session_id }
                    }
                    UserCommand::Register { .. } | UserCommand::RecordPasswordChange => {
                        return Err(DomainError::AlreadyExists)
                    }
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            UserEvent::UserRegistered { .. } => self.registered = true,
            UserEvent::PasswordChanged
            | UserEvent::LoginSucceeded { .. }
            | UserEvent::LoginFailed
            | UserEvent::LoggedOut { .. }
            | UserEvent::RefreshTokenReuseDetected { .. } => {}
        }
    }
}
