//! The metadata every event carries: who, for which tenant, from where, when.
//!
//! Stored by postgres-es as a JSON object of strings in `events.metadata`; the database
//! derives `events.tenant_id` from its `tenant_id` key and checks it against the stream id.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use uuid::Uuid;

use crate::{Role, TenantId, UserId};

/// Who caused an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in user of the workspace.
    User(UserId),
    /// A named system actor, such as `import` (the command-line importer) or `signup`.
    System(String),
    /// An API key of the workspace (its id).
    ApiKey(Uuid),
    /// A support account (outside every workspace) acting under an Owner's grant.
    Support(Uuid),
}

impl Actor {
    /// The value stored under `actor`: the user's uuid, or the system actor's name.
    pub fn id(&self) -> String {
        match self {
            Self::User(id) => id.0.to_string(),
            Self::System(name) => name.clone(),
            Self::ApiKey(id) | Self::Support(id) => id.to_string(),
        }
    }

    /// The value stored under `actor_type`: `user`, `system`, `api_key` or `support`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::System(_) => "system",
            Self::ApiKey(_) => "api_key",
            Self::Support(_) => "support",
        }
    }
}

/// Metadata of one command, copied onto each event it produces.
///
/// Keys in the stored JSON object: `tenant_id`, `actor`, `actor_type`, `actor_role`,
/// `request_id`, `ip` (empty when unknown), `user_agent` (empty when unknown),
/// `occurred_at` (RFC 3339, UTC, microseconds) and, when set, `import_id` and
/// `initiated_by` (the user who started a system actor's work, such as an import) and
/// `reason` (why a recovery action ran).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventMetadata {
    /// The tenant the command ran for (from the token, never the body).
    pub tenant_id: TenantId,
    /// Who ran it.
    pub actor: Actor,
    /// The actor's role at the time (`system` for system actors).
    pub actor_role: String,
    /// The request id, also in the `X-Request-Id` response header and the logs.
    pub request_id: Uuid,
    /// The client's address as the server saw it.
    pub ip: Option<IpAddr>,
    /// The client's `User-Agent`, cut to 512 characters.
    pub user_agent: Option<String>,
    /// When the command was accepted, by the server's clock.
    pub occurred_at: DateTime<Utc>,
    /// The import run that produced the command, if any.
    pub import_id: Option<Uuid>,
    /// The user on whose request a system actor ran the command, if any.
    pub initiated_by: Option<UserId>,
    /// Why, when the command is a recovery action (a revert), in the actor's words.
    pub reason: Option<String>,
}

/// Stored metadata that lacks a key or has a malformed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event metadata: {0}")]
pub struct MetadataError(pub String);

impl EventMetadata {
    /// Metadata for a user's command.
    pub fn for_user(tenant_id: TenantId, user: UserId, role: Role, request_id: Uuid) -> Self {
        Self {
            tenant_id,
            actor: Actor::User(user),
            actor_role: role.as_str().to_owned(),
            request_id,
            ip: None,
            user_agent: None,
            occurred_at: Utc::now(),
            import_id: None,
            initiated_by: None,
            reason: None,
        }
    }

    /// Metadata for a named system actor's command.
    pub fn for_system(tenant_id: TenantId, name: &str) -> Self {
        Self {
            tenant_id,
            actor: Actor::System(name.to_owned()),
            actor_role: "system".to_owned(),
            request_id: Uuid::now_v7(),
            ip: None,
            user_agent: None,
            occurred_at: Utc::now(),
            import_id: None,
            initiated_by: None,
            reason: None,
        }
    }

    /// The JSON-object form postgres-es stores.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            ("tenant_id".to_owned(), self.tenant_id.0.to_string()),
            ("actor".to_owned(), self.actor.id()),
            ("actor_type".to_owned(), self.actor.kind().to_owned()),
            ("actor_role".to_owned(), self.actor_role.clone()),
            ("request_id".to_owned(), self.request_id.to_string()),
            (
                "ip".to_owned(),
                self.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            ),
            (
                "user_agent".to_owned(),
                self.user_agent.clone().unwrap_or_default(),
            ),
            (
                "occurred_at".to_owned(),
                self.occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
        ]);
        if let Some(import_id) = self.import_id {
            map.insert("import_id".to_owned(), import_id.to_string());
        }
        if let Some(user) = self.initiated_by {
            map.insert("initiated_by".to_owned(), user.0.to_string());
        }
        if let Some(reason) = &self.reason {
            map.insert("reason".to_owned(), reason.clone());
        }
        map
    }

    /// Reads the stored form back.
    ///
    /// # Errors
    /// [`MetadataError`] naming the missing or malformed key.
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, MetadataError> {
        let get = |key: &str| {
            map.get(key)
                .map(String::as_str)
                .ok_or_else(|| MetadataError(format!("missing {key}")))
        };
        let uuid = |key: &str| {
            get(key)
                .and_then(|v| Uuid::parse_str(v).map_err(|_| MetadataError(format!("bad {key}"))))
        };
        let actor = match get("actor_type")? {
            "user" => Actor::User(UserId(uuid("actor")?)),
            "api_key" => Actor::ApiKey(uuid("actor")?),
            "support" => Actor::Support(uuid("actor")?),
            _ => Actor::System(get("actor")?.to_owned()),
        };
        let ip = match get("ip").unwrap_or("") {
            "" => None,
            text => Some(text.parse().map_err(|_| MetadataError("bad ip".into()))?),
        };
        let occurred_at = DateTime::parse_from_rfc3339(get("occurred_at")?)
            .map_err(|_| MetadataError("bad occurred_at".into()))?
            .with_timezone(&Utc);
        Ok(Self {
            tenant_id: TenantId(uuid("tenant_id")?),
            actor,
            actor_role: get("actor_role")?.to_owned(),
            request_id: uuid("request_id")?,
            ip,
            user_agent: map.get("user_agent").filter(|s| !s.is_empty()).cloned(),
            occurred_at,
            import_id: map.get("import_id").and_then(|v| Uuid::parse_str(v).ok()),
            initiated_by: map
                .get("initiated_by")
                .and_then(|v| Uuid::parse_str(v).ok())
                .map(UserId),
            reason: map.get("reason").cloned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_through_the_stored_map() {
        let mut meta = EventMetadata::for_user(
            TenantId::new(),
            UserId(Uuid::now_v7()),
            Role::Admin,
            Uuid::now_v7(),
        );
        meta.ip = Some("203.0.113.9".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])));
        meta.user_agent = Some("curl/8".into());
        meta.import_id = Some(Uuid::now_v7());
        meta.initiated_by = Some(UserId(Uuid::now_v7()));
        // Stored times have microsecond precision.
        meta.occurred_at = DateTime::from_timestamp_micros(meta.occurred_at.timestamp_micros())
            .unwrap_or_default();
        let map = meta.to_map();
        assert_eq!(map.get("actor_type").map(String::as_str), Some("user"));
        assert_eq!(EventMetadata::from_map(&map), Ok(meta));
        let mut broken = map;
        broken.remove("tenant_id");
        assert!(EventMetadata::from_map(&broken).is_err());
    }

    #[test]
    fn support_actors_and_reasons_round_trip() {
        let mut meta = EventMetadata::for_system(TenantId::new(), "x");
        meta.actor = Actor::Support(Uuid::now_v7());
        meta.actor_role = "support:recovery".into();
        meta.reason = Some("revert to version 2: ticket 9".into());
        meta.occurred_at = DateTime::from_timestamp_micros(meta.occurred_at.timestamp_micros())
            .unwrap_or_default();
        let map = meta.to_map();
        assert_eq!(map.get("actor_type").map(String::as_str), Some("support"));
        assert_eq!(EventMetadata::from_map(&map), Ok(meta));
    }
}
