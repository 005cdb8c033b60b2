//! One record's stream, oldest first: the raw material of its history and past states.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use crate::personal_data::{Keyring, Opened, PersonalDataError, Show};
use crate::TenantScope;

/// One stored event of a record's stream with who, when and from where.
#[derive(Debug, Clone)]
pub struct StreamEvent {
    /// The record's version after this event (1 for the first).
    pub version: i64,
    /// E.g. `ContactUpdated`.
    pub event_type: String,
    /// The event (serde's externally tagged form of the domain event), with a contact's
    /// personal fields opened, or left out when erased.
    pub payload: serde_json::Value,
    /// Whether its personal fields were sealed, and what opening them found.
    pub personal_data: Opened,
    /// User id, API key id or system actor name.
    pub actor: Option<String>,
    /// `user`, `api_key`, `support` or `system`.
    pub actor_type: Option<String>,
    /// The actor's role at the time.
    pub actor_role: Option<String>,
    /// Client address, if known.
    pub ip: Option<String>,
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

/// Every event of the tenant's `aggregate_type` stream for `entity` after version `after`
/// (0 for all) and up to `until` (`None`: the latest), oldest first; empty
/// when the workspace has no such record (another workspace's id included: the stream id
/// carries the tenant and row-level security filters on it as well). A contact's sealed
/// personal fields are opened with `keyring` ([`Show::Domain`]); fields that do not
/// decrypt are left out ([`Opened::Unreadable`]).
///
/// # Errors
/// Database errors.
pub async fn stream(
    db: &DatabaseConnection,
    keyring: &Keyring,
    scope: &TenantScope,
    aggregate_type: &str,
    entity: Uuid,
    after: i64,
    until: Option<i64>,
) -> Result<Vec<StreamEvent>, PersonalDataError> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT sequence, event_type, payload,
                    metadata->>'actor' AS actor, metadata->>'actor_type' AS actor_type,
                    metadata->>'actor_role' AS actor_role, nullif(metadata->>'ip', '') AS ip,
                    metadata->>'request_id' AS request_id, metadata->>'import_id' AS import_id,
                    metadata->>'initiated_by' AS initiated_by, metadata->>'reason' AS reason,
                    metadata->>'occurred_at' AS occurred_at, recorded_at
               FROM events
              WHERE tenant_id = $1 AND aggregate_type = $2 AND aggregate_id = $3
                AND sequence > $4 AND ($5::bigint IS NULL OR sequence <= $5)
              ORDER BY sequence",
            [
                scope.tenant().0.into(),
                aggregate_type.into(),
                format!("{}:{entity}", scope.tenant().0).into(),
                after.into(),
                until.into(),
            ],
        ))
        .await?;
    let stream_id = format!("{}:{entity}", scope.tenant().0);
    let keys = keyring.load(&txn, [stream_id.as_str()]).await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|row| {
            let mut payload = row.try_get("", "payload")?;
            let personal_data = keyring.open_or_hide(
                &keys,
                aggregate_type,
                &stream_id,
                &mut payload,
                Show::Domain,
            );
            Ok(StreamEvent {
                version: row.try_get("", "sequence")?,
                event_type: row.try_get("", "event_type")?,
                payload,
                personal_data,
                actor: row.try_get("", "actor")?,
                actor_type: row.try_get("", "actor_type")?,
                actor_role: row.try_get("", "actor_role")?,
                ip: row.try_get("", "ip")?,
                request_id: row.try_get("", "request_id")?,
                import_id: row.try_get("", "import_id")?,
                initiated_by: row.try_get("", "initiated_by")?,
                reason: row.try_get("", "reason")?,
                occurred_at: row.try_get("", "occurred_at")?,
                recorded_at: row.try_get("", "recorded_at")?,
            })
        })
        .collect::<Result<_, PersonalDataError>>()
}

/// The latest version of the tenant's stream (0 when it has no events).
///
/// # Errors
/// Database errors.
pub async fn latest_version(
    db: &DatabaseConnection,
    scope: &TenantScope,
    aggregate_type: &str,
    entity: Uuid,
) -> Result<i64, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT coalesce(max(sequence), 0) AS latest FROM events
              WHERE tenant_id = $1 AND aggregate_type = $2 AND aggregate_id = $3",
            [
                scope.tenant().0.into(),
                aggregate_type.into(),
                format!("{}:{entity}", scope.tenant().0).into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    row.map_or(Ok(0), |r| r.try_get("", "latest"))
}

/// The records an import created: `(aggregate type, entity id)` of every stream of the
/// tenant whose first event carries `import_id`, in creation order.
///
/// # Errors
/// Database errors.
pub async fn created_by_import(
    db: &DatabaseConnection,
    scope: &TenantScope,
    import_id: Uuid,
) -> Result<Vec<(String, Uuid)>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT aggregate_type, split_part(aggregate_id, ':', 2)::uuid AS entity
               FROM events
              WHERE tenant_id = $1 AND sequence = 1 AND metadata->>'import_id' = $2
              ORDER BY global_position",
            [scope.tenant().0.into(), import_id.to_string().into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.try_get("", "aggregate_type")?,
                row.try_get("", "entity")?,
            ))
        })
        .collect()
}
