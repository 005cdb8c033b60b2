//! The workspace's audit trail: its events, newest first.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde::Serialize;

use crate::page::{clamp_limit, CursorError, ListError, Page};
use crate::personal_data::{Keyring, Show};
use crate::TenantScope;

/// One event as an owner reads it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Position in the store (increasing; the audit cursor).
    pub position: i64,
    /// `Workspace`, `User`, `Company` or `Contact`.
    pub entity_type: String,
    /// The entity's id (the stream id without its tenant prefix).
    pub entity_id: String,
    /// The entity's version after this event.
    pub version: i64,
    /// E.g. `ContactUpdated`.
    pub event_type: String,
    /// The event's fields (for updates: only what changed). A contact's personal fields
    /// are shown decrypted, or, once erased, left out with `"personal_data": "erased"`.
    pub payload: serde_json::Value,
    /// User id or system actor name.
    pub actor: Option<String>,
    /// `user` or `system`.
    pub actor_type: Option<String>,
    /// The actor's role at the time.
    pub actor_role: Option<String>,
    /// Client address, if known.
    pub ip: Option<String>,
    /// Client user agent, if known.
    pub user_agent: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// The import run that caused it, if any.
    pub import_id: Option<String>,
    /// The user on whose request a system actor acted, if any.
    pub initiated_by: Option<String>,
    /// Why, for a recovery action (a revert).
    pub reason: Option<String>,
    /// When the server accepted the command (RFC 3339).
    pub occurred_at: Option<String>,
    /// When the database stored the event.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// Which events to list; every field narrows the list, `None` leaves it open.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The acting user's id, API key id or system actor name (metadata `actor`).
    pub actor: Option<String>,
    /// Aggregate type, e.g. `Contact`.
    pub entity_type: Option<String>,
    /// The entity's id (within the tenant).
    pub entity_id: Option<uuid::Uuid>,
    /// E.g. `ContactUpdated`.
    pub event_type: Option<String>,
    /// Stored at or after this time. `None`: the last 12 months (the default window;
    /// older events stay in the store and are listed when `from` names an earlier time).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Stored before this time.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of the tenant's events that pass `filter`, newest first; `cursor` is the
/// `position` text of the last entry of the previous page (opaque to callers).
///
/// # Errors
/// [`ListError`].
pub async fn list(
    db: &DatabaseConnection,
    keyring: &Keyring,
    scope: &TenantScope,
    filter: &AuditFilter,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<AuditEntry>, ListError> {
    let limit = clamp_limit(limit);
    let before = match cursor {
        Some(text) => text.parse::<i64>().map_err(|_| CursorError::Malformed)?,
        None => i64::MAX,
    };
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT global_position, aggregate_type, aggregate_id, sequence, event_type, payload,
                    metadata->>'actor' AS actor, metadata->>'actor_type' AS actor_type,
                    metadata->>'actor_role' AS actor_role, nullif(metadata->>'ip', '') AS ip,
                    nullif(metadata->>'user_agent', '') AS user_agent, metadata->>'request_id' AS request_id,
                    metadata->>'import_id' AS import_id, metadata->>'initiated_by' AS initiated_by, metadata->>'reason' AS reason, metadata->>'occurred_at' AS occurred_at, recorded_at
               FROM events
              WHERE tenant_id = $1 AND global_position < $2
                AND ($4::text IS NULL OR metadata->>'actor' = $4)
                AND ($5::text IS NULL OR aggregate_type = $5)
                AND ($6::text IS NULL OR aggregate_id = $6)
                AND ($7::text IS NULL OR event_type = $7)
                AND recorded_at >= coalesce($8, now() - interval '12 months')
                AND ($9::timestamptz IS NULL OR recorded_at < $9)
              ORDER BY global_position DESC
              LIMIT $3",
            [
                scope.tenant().0.into(),
                before.into(),
                ((limit + 1) as i64).into(),
                filter.actor.clone().into(),
                filter.entity_type.clone().into(),
                filter
                    .entity_id
                    .map(|e| format!("{}:{e}", scope.tenant().0))
                    .into(),
                filter.event_type.clone().into(),
                filter.from.into(),
                filter.to.into(),
            ],
        ))
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let aggregate_id: String = row.try_get("", "aggregate_id")?;
        items.push(AuditEntry {
            position: row.try_get("", "global_position")?,
            entity_type: row.try_get("", "aggregate_type")?,
            entity_id: aggregate_id
                .split_once(':')
                .map_or(aggregate_id.clone(), |(_, e)| e.to_owned()),
            version: row.try_get("", "sequence")?,
            event_type: row.try_get("", "event_type")?,
            payload: row.try_get("", "payload")?,
            actor: row.try_get("", "actor")?,
            actor_type: row.try_get("", "actor_type")?,
            actor_role: row.try_get("", "actor_role")?,
            ip: row.try_get("", "ip")?,
            user_agent: row.try_get("", "user_agent")?,
            request_id: row.try_get("", "request_id")?,
            import_id: row.try_get("", "import_id")?,
            initiated_by: row.try_get("", "initiated_by")?,
            reason: row.try_get("", "reason")?,
            occurred_at: row.try_get("", "occurred_at")?,
            recorded_at: row.try_get("", "recorded_at")?,
        });
    }
    let tenant = scope.tenant().0;
    let ids: Vec<String> = items
        .iter()
        .map(|e: &AuditEntry| format!("{tenant}:{}", e.entity_id))
        .collect();
    let mut payloads: Vec<(&str, &str, &mut serde_json::Value)> = items
        .iter_mut()
        .zip(&ids)
        .map(|(e, id)| (e.entity_type.as_str(), id.as_str(), &mut e.payload))
        .collect();
    keyring
        .open_all(&txn, &mut payloads, Show::Display)
        .await
        .map_err(sea_orm::DbErr::from)?;
    txn.commit().await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|e| e.position.to_string())
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}
