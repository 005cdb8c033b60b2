//! Identifiers: tenants, users, entities, and the stream id that binds an entity to its tenant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A workspace (tenant) id. Every row, event and stream belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TenantId(pub Uuid);

/// A user id (unique across all workspaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub Uuid);

/// The id of an entity (company, contact, user, workspace) inside its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntityId(pub Uuid);

impl TenantId {
    /// A new, time-ordered (UUID v7) tenant id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self::new()
    }
}

impl EntityId {
    /// A new, time-ordered (UUID v7, RFC 9562) entity id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for EntityId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The identity of an event stream (the cqrs-es aggregate id): `<tenant uuid>:<entity uuid>`,
/// both in lowercase hyphenated form, 73 characters.
///
/// Built from the caller's tenant (from the token, never the body) and the entity id in the
/// path, so another tenant's entity id names an empty stream of the caller's tenant: a 404,
/// never a leak. The database checks that the prefix equals the event's `tenant_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamId {
    /// The tenant that owns the stream.
    pub tenant: TenantId,
    /// The entity inside the tenant.
    pub entity: EntityId,
}

/// A string that is not `<uuid>:<uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed stream id {0:?}: expected <tenant uuid>:<entity uuid>")]
pub struct StreamIdError(pub String);

impl StreamId {
    /// The stream of `entity` inside `tenant`.
    pub fn new(tenant: TenantId, entity: EntityId) -> Self {
        Self { tenant, entity }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tenant.0, self.entity.0)
    }
}

impl FromStr for StreamId {
    type Err = StreamIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || StreamIdError(s.to_owned());
        let (tenant, entity) = s.split_once(':').ok_or_else(err)?;
        let tenant = Uuid::parse_str(tenant).map_err(|_| err())?;
        let entity = Uuid::parse_str(entity).map_err(|_| err())?;
        Ok(Self::new(TenantId(tenant), EntityId(entity)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_round_trips_and_rejects_garbage() {
        let id = StreamId::new(TenantId::new(), EntityId::new());
        let text = id.to_string();
        assert_eq!(text.len(), 73);
        assert_eq!(text.parse::<StreamId>(), Ok(id));
        assert!("nope".parse::<StreamId>().is_err());
        assert!("abc:def".parse::<StreamId>().is_err());
        assert!(format!("{}", id.tenant).parse::<StreamId>().is_err());
    }
}
