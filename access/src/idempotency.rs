//! Stored responses of idempotent POST requests (`Idempotency-Key`), per tenant.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use crm_store::TenantScope;

/// How long a key is remembered: at least 24 hours, as the API promises.
pub const RETENTION_HOURS: i64 = 24;
/// How long a running request holds its key before a retry may take it over.
pub const LEASE_SECONDS: i64 = 60;

/// A finished response, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `ETag`, if any.
    pub etag: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What a key says about a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// This request runs, and must [`complete`] or [`abandon`] the key: the key is new,
    /// or an earlier request with it failed or died before it finished. A record this
    /// request creates takes the key's `reserved` id, the same on every such retry.
    Started {
        /// The id reserved for the record the request creates.
        reserved: Uuid,
        /// This attempt's lease, which [`complete`] and [`abandon`] name.
        lease: Uuid,
    },
    /// The first request with this key and this request hash has finished: replay it.
    Done(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Claims `key` of `user` for a request whose hash is `hash`, or reports what the key
/// holds. A key older than [`RETENTION_HOURS`] is forgotten first. A key whose request
/// failed ([`abandon`]) or still holds no answer after [`LEASE_SECONDS`] (its server
/// died) is taken over by this request, with the same reserved id.
///
/// # Errors
/// Any database error.
pub async fn begin(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    key: &str,
    hash: &str,
) -> Result<KeyState, DbErr> {
    let txn = scope.begin(db).await?;
    let tenant = scope.tenant().0;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3
            AND created_at < now() - make_interval(hours => $4)",
        [
            tenant.into(),
            user.into(),
            key.into(),
            (RETENTION_HOURS as i32).into(),
        ],
    ))
    .await?;
    let (fresh, lease) = (Uuid::now_v7(), Uuid::new_v4());
    let inserted = txn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO idempotency_keys (tenant_id, user_id, key, request_hash, reserved_id, leased_at, lease_id)
             VALUES ($1, $2, $3, $4, $5, now(), $6) ON CONFLICT DO NOTHING",
            [tenant.into(), user.into(), key.into(), hash.into(), fresh.into(), lease.into()],
        ))
        .await?
        .rows_affected();
    let state = if inserted == 1 {
        KeyState::Started {
            reserved: fresh,
            lease,
        }
    } else {
        let row = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT request_hash, status, content_type, location, etag, body, reserved_id,
                        leased_at IS NOT NULL AND leased_at > now() - make_interval(secs => $4) AS leased
                   FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3
                    FOR UPDATE",
                [tenant.into(), user.into(), key.into(), (LEASE_SECONDS as f64).into()],
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("idempotency key vanished".into()))?;
        let stored_hash: String = row.try_get("", "request_hash")?;
        let status: Option<i16> = row.try_get("", "status")?;
        match status {
            _ if stored_hash != hash => KeyState::Mismatch,
            None if row.try_get::<bool>("", "leased")? => KeyState::InProgress,
            None => {
                txn.execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE idempotency_keys SET leased_at = now(), lease_id = $4 WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                    [tenant.into(), user.into(), key.into(), lease.into()],
                ))
                .await?;
                KeyState::Started {
                    reserved: row.try_get("", "reserved_id")?,
                    lease,
                }
            }
            Some(status) => KeyState::Done(StoredResponse {
                status: u16::try_from(status).unwrap_or(500),
                content_type: row.try_get("", "content_type")?,
                location: row.try_get("", "location")?,
                etag: row.try_get("", "etag")?,
                body: row
                    .try_get::<Option<Vec<u8>>>("", "body")?
                    .unwrap_or_default(),
            }),
        }
    };
    txn.commit().await?;
    Ok(state)
}

/// Stores the response of the attempt that holds `key` under `lease` (nothing, when
/// another attempt has taken the lease over).
///
/// # Errors
/// Any database error.
pub async fn complete(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    key: &str,
    lease: Uuid,
    response: &StoredResponse,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE idempotency_keys SET status = $4, content_type = $5, location = $6, etag = $7, body = $8, leased_at = NULL
          WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND lease_id = $9 AND status IS NULL",
        [
            scope.tenant().0.into(),
            user.into(),
            key.into(),
            i16::try_from(response.status).unwrap_or(500).into(),
            response.content_type.clone().into(),
            response.location.clone().into(),
            response.etag.clone().into(),
            response.body.clone().into(),
            lease.into(),
        ],
    ))
    .await?;
    txn.commit().await
}

/// Releases `key` (its request failed on the server's side, so a retry may run again),
/// keeping its reserved id: if the request had in fact written its record, the retry
/// finds it instead of creating another.
///
/// # Errors
/// Any database error.
pub async fn abandon(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    key: &str,
    lease: Uuid,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE idempotency_keys SET leased_at = NULL
          WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND lease_id = $4 AND status IS NULL",
        [
            scope.tenant().0.into(),
            user.into(),
            key.into(),
            lease.into(),
        ],
    ))
    .await?;
    txn.commit().await
}

/// Deletes the keys of every workspace older than [`RETENTION_HOURS`] (the janitor, as
/// the projector role). Returns how many.
///
/// # Errors
/// Any database error.
pub async fn purge_expired(projector: &DatabaseConnection) -> Result<u64, DbErr> {
    let done = projector
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)",
            [(RETENTION_HOURS as i32).into()],
        ))
        .await?;
    Ok(done.rows_affected())
}
