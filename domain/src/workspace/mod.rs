//! The `Workspace` aggregate: the tenant itself.
//!
//! Stream id: `<tenant>:<tenant>` (the workspace's entity id is its tenant id).

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::text;
use crate::{DomainError, EntityId, Guarded, Role};

#[cfg(test)]
mod tests;

/// Longest workspace name, in characters.
pub const NAME_MAX: usize = 200;

/// Commands of a workspace.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkspaceCommand {
    /// Create the workspace with a display name and a URL-safe slug.
    Create {
        /// Display name, 1 to 200 characters.
        name: String,
        /// See [`validate_slug`].
        slug: String,
    },
    /// Change the display name.
    Rename {
        /// Display name, 1 to 200 characters.
        name: String,
    },
    /// Require (or stop requiring) two-factor sign-in of owners and admins.
    SetTwoFactorPolicy {
        /// Whether owners and admins must have two-factor on before they can act.
        required: bool,
    },
    /// Record that an API key was created (the key itself is never recorded).
    RecordApiKeyCreated {
        /// The key's id.
        key_id: EntityId,
        /// Its name.
        name: String,
        /// Its role.
        role: Role,
    },
    /// Record that an API key was revoked.
    RecordApiKeyRevoked {
        /// The key's id.
        key_id: EntityId,
    },
    /// Record that the Owner gave a support account access (the grant row is the
    /// server's; this puts it in the trail).
    RecordSupportGranted {
        /// The grant.
        grant_id: EntityId,
        /// The support account.
        support_id: EntityId,
        /// `read` or `recovery`.
        scope: String,
        /// Why.
        reason: String,
        /// When it stops working.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// Record that the Owner revoked a support grant.
    RecordSupportRevoked {
        /// The grant.
        grant_id: EntityId,
    },
    /// Record a change of a webhook endpoint (its row, with the sealed signing secret, is
    /// the server's; this puts the change in the trail, never a secret).
    RecordWebhookChange {
        /// The endpoint.
        endpoint_id: EntityId,
        /// What changed.
        change: WebhookChange,
    },
}

/// A change of a webhook endpoint, as the trail records it (never its secret).
#[derive(Debug, Clone, PartialEq)]
pub enum WebhookChange {
    /// Made, with its first secret.
    Created {
        /// Where messages go (`https://…`).
        url: String,
        /// What it is for.
        description: String,
        /// Event types (`contact.updated`) or families (`contact.*`); empty for all.
        event_types: Vec<String>,
        /// Messages in event order (else in parallel).
        ordered: bool,
    },
    /// Settings changed; `None` for what stayed.
    Updated {
        /// The new URL.
        url: Option<String>,
        /// The new description.
        description: Option<String>,
        /// The new filter.
        event_types: Option<Vec<String>>,
        /// Turned on or off by a person.
        enabled: Option<bool>,
        /// Ordered or parallel delivery.
        ordered: Option<bool>,
    },
    /// A new signing secret; the old one signs too for 24 hours.
    SecretRotated,
    /// Turned off by the server (the receiver answered 410 Gone, or failed for 5 days).
    Disabled {
        /// Why, for the workspace's owners.
        reason: String,
    },
    /// Deleted: nothing more is sent to it.
    Deleted,
}

/// Events of a workspace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WorkspaceEvent {
    /// The workspace was created.
    WorkspaceCreated {
        /// Display name.
        name: String,
        /// URL-safe slug, unique across the system.
        slug: String,
    },
    /// The workspace was renamed.
    WorkspaceRenamed {
        /// The new display name.
        name: String,
    },
    /// The two-factor policy changed.
    TwoFactorPolicyChanged {
        /// Whether owners and admins need two-factor on.
        required: bool,
    },
    /// An API key was created. Carries no secret.
    ApiKeyCreated {
        /// The key's id.
        key_id: EntityId,
        /// Its name.
        name: String,
        /// Its role.
        role: Role,
    },
    /// An API key was revoked.
    ApiKeyRevoked {
        /// The key's id.
        key_id: EntityId,
    },
    /// Support staff were given access to the workspace.
    SupportGranted {
        /// The grant.
        grant_id: EntityId,
        /// The support account.
        support_id: EntityId,
        /// `read` or `recovery`.
        scope: String,
        /// Why.
        reason: String,
        /// When it stops working.
        expires_at: chrono::DateTime<chrono::Utc>,
    },
    /// A support grant was revoked.
    SupportRevoked {
        /// The grant.
        grant_id: EntityId,
    },
    /// A webhook endpoint was made. Carries no secret.
    WebhookEndpointCreated {
        /// The endpoint.
        endpoint_id: EntityId,
        /// Where messages go.
        url: String,
        /// What it is for.
        description: String,
        /// Event types or families sent; empty for all.
        event_types: Vec<String>,
        /// Messages in event order (else in parallel).
        #[serde(default = "in_order")]
        ordered: bool,
    },
    /// A webhook endpoint's settings changed; absent fields stayed.
    WebhookEndpointUpdated {
        /// The endpoint.
        endpoint_id: EntityId,
        /// The new URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        /// The new description.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        /// The new filter.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_types: Option<Vec<String>>,
        /// Turned on or off.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        enabled: Option<bool>,
        /// Ordered or parallel delivery.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ordered: Option<bool>,
    },
    /// A webhook endpoint's signing secret was replaced (the old one signs for 24 hours
    /// more). Carries no secret.
    WebhookSecretRotated {
        /// The endpoint.
        endpoint_id: EntityId,
    },
    /// The server turned a webhook endpoint off.
    WebhookEndpointDisabled {
        /// The endpoint.
        endpoint_id: EntityId,
        /// Why.
        reason: String,
    },
    /// A webhook endpoint was deleted.
    WebhookEndpointDeleted {
        /// The endpoint.
        endpoint_id: EntityId,
    },
}

/// Webhook endpoints deliver in event order unless they say otherwise.
fn in_order() -> bool {
    true
}

impl DomainEvent for WorkspaceEvent {
    fn event_type(&self) -> String {
        match self {
            Self::WorkspaceCreated { .. } => "WorkspaceCreated",
            Self::WorkspaceRenamed { .. } => "WorkspaceRenamed",
            Self::ApiKeyCreated { .. } => "ApiKeyCreated",
            Self::TwoFactorPolicyChanged { .. } => "TwoFactorPolicyChanged",
            Self::ApiKeyRevoked { .. } => "ApiKeyRevoked",
            Self::SupportGranted { .. } => "SupportGranted",
            Self::SupportRevoked { .. } => "SupportRevoked",
            Self::WebhookEndpointCreated { .. } => "WebhookEndpointCreated",
            Self::WebhookEndpointUpdated { .. } => "WebhookEndpointUpdated",
            Self::WebhookSecretRotated { .. } => "WebhookSecretRotated",
            Self::WebhookEndpointDisabled { .. } => "WebhookEndpointDisabled",
            Self::WebhookEndpointDeleted { .. } => "WebhookEndpointDeleted",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// The state a workspace's rules need.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Workspace {
    version: u64,
    require_two_factor: bool,
    created: bool,
    name: String,
}

/// Checks a workspace slug: 3 to 63 characters of `a-z`, `0-9` and `-`, starting and
/// ending with a letter or digit (the shape of a DNS label, RFC 1035 §2.3.1, so a slug can
/// also serve as a subdomain).
///
/// # Errors
/// [`DomainError::Invalid`] on field `slug`.
pub fn validate_slug(slug: &str) -> Result<(), DomainError> {
    let ok = (3..=63).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "slug",
            "must be 3 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'",
        ))
    }
}

impl Aggregate for Workspace {
    const TYPE: &'static str = "Workspace";
    type Command = Guarded<WorkspaceCommand>;
    type Event = WorkspaceEvent;
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
            WorkspaceCommand::Create { name, slug } => {
                if self.created {
                    return Err(DomainError::AlreadyExists);
                }
                let name = text::required("name", &name, NAME_MAX)?;
                validate_slug(&slug)?;
                sink.write(WorkspaceEvent::WorkspaceCreated { name, slug }, self)
                    .await;
            }
            WorkspaceCommand::SetTwoFactorPolicy { required } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                if self.require_two_factor != required {
                    sink.write(WorkspaceEvent::TwoFactorPolicyChanged { required }, self)
                        .await;
                }
            }
            WorkspaceCommand::RecordApiKeyCreated { key_id, name, role } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                let name = text::required("name", &name, NAME_MAX)?;
                sink.write(WorkspaceEvent::ApiKeyCreated { key_id, name, role }, self)
                    .await;
            }
            WorkspaceCommand::RecordApiKeyRevoked { key_id } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                sink.write(WorkspaceEvent::ApiKeyRevoked { key_id }, self)
                    .await;
            }
            WorkspaceCommand::RecordSupportGranted {
                grant_id,
                support_id,
                scope,
                reason,
                expires_at,
            } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                if scope != "read" && scope != "recovery" {
                    return Err(DomainError::invalid("scope", "must be read or recovery"));
                }
                let reason = text::required("reason", &reason, 500)?;
                sink.write(
                    WorkspaceEvent::SupportGranted {
                        grant_id,
                        support_id,
                        scope,
                        reason,
                        expires_at,
                    },
                    self,
                )
                .await;
            }
            WorkspaceCommand::RecordSupportRevoked { grant_id } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                sink.write(WorkspaceEvent::SupportRevoked { grant_id }, self)
                    .await;
            }
            WorkspaceCommand::RecordWebhookChange {
                endpoint_id,
                change,
            } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                let event = match change {
                    WebhookChange::Created {
                        url,
                        description,
                        event_types,
                        ordered,
                    } => WorkspaceEvent::WebhookEndpointCreated {
                        endpoint_id,
                        url,
                        description,
                        event_types,
                        ordered,
                    },
                    WebhookChange::Updated {
                        url,
                        description,
                        event_types,
                        enabled,
                        ordered,
                    } => WorkspaceEvent::WebhookEndpointUpdated {
                        endpoint_id,
                        url,
                        description,
                        event_types,
                        enabled,
                        ordered,
                    },
                    WebhookChange::SecretRotated => {
                        WorkspaceEvent::WebhookSecretRotated { endpoint_id }
                    }
                    WebhookChange::Disabled { reason } => {
                        let reason = text::required("reason", &reason, 500)?;
                        WorkspaceEvent::WebhookEndpointDisabled {
                            endpoint_id,
                            reason,
                        }
                    }
                    WebhookChange::Deleted => {
                        WorkspaceEvent::WebhookEndpointDeleted { endpoint_id }
                    }
                };
                sink.write(event, self).await;
            }
            WorkspaceCommand::Rename { name } => {
                if !self.created {
                    return Err(DomainError::NotFound);
                }
                let name = text::required("name", &name, NAME_MAX)?;
                if name != self.name {
                    sink.write(WorkspaceEvent::WorkspaceRenamed { name }, self)
                        .await;
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            WorkspaceEvent::WorkspaceCreated { name, .. } => {
                self.created = true;
                self.name = name;
            }
            WorkspaceEvent::WorkspaceRenamed { name } => self.name = name,
            WorkspaceEvent::ApiKeyCreated { .. }
            | WorkspaceEvent::ApiKeyRevoked { .. }
            | WorkspaceEvent::SupportGranted { .. }
            | WorkspaceEvent::SupportRevoked { .. }
            | WorkspaceEvent::WebhookEndpointCreated { .. }
            | WorkspaceEvent::WebhookEndpointUpdated { .. }
            | WorkspaceEvent::WebhookSecretRotated { .. }
            | WorkspaceEvent::WebhookEndpointDisabled { .. }
            | WorkspaceEvent::WebhookEndpointDeleted { .. } => {}
            WorkspaceEvent::TwoFactorPolicyChanged { required } => {
                self.require_two_factor = required
            }
        }
    }
}
