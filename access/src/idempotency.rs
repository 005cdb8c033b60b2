//! Stored responses of idempotent POST requests (`Idempotency-Key`), per tenant.
//!
//! Every function runs in a transaction the caller gives and commits: the key is claimed
//! ([`begin`]) in the transaction the request's command then goes on in, and the answer is
//! stored ([`complete`]) in that same transaction before it commits, so a command and its
//! stored answer commit together or not at all.

use crm_store::TenantScope;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

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

/// A request's hold on its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The key's principal (the user, or the API key's id).
    pub user: Uuid,
    /// The key.
    pub key: String,
    /// The request's hash (hex SHA-256).
    pub hash: String,
    /// The id reserved for the record the request creates: the same on every retry with
    /// the key.
    pub reserved: Uuid,
    /// This attempt's lease, which [`complete`] and [`abandon`] name.
    pub lease: Uuid,
}

/// What a key says about a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyState {
    /// This request runs, and must [`complete`] or [`abandon`] the key: the key is new,
    /// or an earlier request with it failed or died before it finished.
    Started(Claim),
    /// The first request with this key and this request hash has finished: replay it.
    Done(StoredResponse),
    /// The first request with this key is still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Claims `key` of `user` for a request whose hash is `hash`, or reports what the key
/// holds, in `txn` (the request's command transaction, tenant set, which the caller
/// commits: see the module). A key older than [`RETENTION_HOURS`] is taken over as new. A
/// key whose request failed ([`abandon`]) or still holds no answer after
/// [`LEASE_SECONDS`] (its server died after a first command committed) is taken over by
/// this request, with the same reserved id.
///
/// The claim is one `INSERT` when the key is new. While the request that inserted a key
/// has not committed, another request with the same key waits on that row (PostgreSQL's
/// unique index), then finds its answer or, if it rolled back, claims the key itself: two
/// requests with one key never run at once.
///
/// # Errors
/// Any database error.
pub async fn begin(
    txn: &impl ConnectionTrait,
    scope: &TenantScope,
    user: Uuid,
    key: &str,
    hash: &str,
) -> Result<KeyState, DbErr> {
    let tenant = scope.tenant().0;
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
    if inserted == 1 {
        return Ok(KeyState::Started(Claim {
            user,
            key: key.to_owned(),
            hash: hash.to_owned(),
            reserved: fresh,
            lease,
        }));
    }
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT request_hash, status, content_type, location, etag, body, reserved_id,
                    leased_at IS NOT NULL AND leased_at > now() - make_interval(secs => $4) AS leased,
                    created_at < now() - make_interval(hours => $5) AS expired
               FROM idempotency_keys WHERE tenant_id = $1 AND user_id = $2 AND key = $3
                FOR UPDATE",
            [
                tenant.into(),
                user.into(),
                key.into(),
                (LEASE_SECONDS as f64).into(),
                (RETENTION_HOURS as i32).into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("idempotency key vanished".into()))?;
    if row.try_get::<bool>("", "expired")? {
        // Forgotten: the key starts over, as if it were new.
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE idempotency_keys
                SET request_hash = $4, status = NULL, content_type = NULL, location = NULL,
                    etag = NULL, body = NULL, reserved_id = $5, leased_at = now(),
                    lease_id = $6, committed = '{}', created_at = now()
              WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
            [
                tenant.into(),
                user.into(),
                key.into(),
                hash.into(),
                fresh.into(),
                lease.into(),
            ],
        ))
        .await?;
        return Ok(KeyState::Started(Claim {
            user,
            key: key.to_owned(),
            hash: hash.to_owned(),
            reserved: fresh,
            lease,
        }));
    }
    let stored_hash: String = row.try_get("", "request_hash")?;
    let status: Option<i16> = row.try_get("", "status")?;
    Ok(match status {
        _ if stored_hash != hash => KeyState::Mismatch,
        None if row.try_get::<bool>("", "leased")? => KeyState::InProgress,
        None => {
            txn.execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE idempotency_keys SET leased_at = now(), lease_id = $4 WHERE tenant_id = $1 AND user_id = $2 AND key = $3",
                [tenant.into(), user.into(), key.into(), lease.into()],
            ))
            .await?;
            KeyState::Started(Claim {
                user,
                key: key.to_owned(),
                hash: hash.to_owned(),
                reserved: row.try_get("", "reserved_id")?,
                lease,
            })
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
    })
}

/// Stores, in `txn`, the response of the attempt that holds `claim` (nothing, when
/// another attempt has taken the lease over). In the command's own transaction when it
/// is still open, so the command and its answer commit together. When the claim was
/// rolled back with a refused command, the key is claimed again with the answer.
///
/// # Errors
/// Any database error.
pub async fn complete(
    txn: &impl ConnectionTrait,
    scope: &TenantScope,
    claim: &Claim,
    response: &StoredResponse,
) -> Result<(), DbErr> {
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO idempotency_keys AS k (tenant_id, user_id, key, request_hash, reserved_id,
                lease_id, leased_at, status, content_type, location, etag, body)
         VALUES ($1, $2, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11)
         ON CONFLICT (tenant_id, user_id, key) DO UPDATE
            SET status = EXCLUDED.status, content_type = EXCLUDED.content_type,
                location = EXCLUDED.location, etag = EXCLUDED.etag, body = EXCLUDED.body,
                leased_at = NULL
          WHERE k.lease_id = EXCLUDED.lease_id AND k.status IS NULL",
        [
            scope.tenant().0.into(),
            claim.user.into(),
            claim.key.clone().into(),
            claim.hash.clone().into(),
            claim.reserved.into(),
            claim.lease.into(),
            i16::try_from(response.status).unwrap_or(500).into(),
            response.content_type.clone().into(),
            response.location.clone().into(),
            response.etag.clone().into(),
            response.body.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Releases `claim`'s key in `txn` (its request failed on the server's side, so a retry
/// may run again), keeping its reserved id: if the request had in fact written its record,
/// the retry finds it instead of creating another.
///
/// # Errors
/// Any database error.
pub async fn abandon(
    txn: &impl ConnectionTrait,
    scope: &TenantScope,
    claim: &Claim,
) -> Result<(), DbErr> {
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE idempotency_keys SET leased_at = NULL
          WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND lease_id = $4 AND status IS NULL",
        [
            scope.tenant().0.into(),
            claim.user.into(),
            claim.key.clone().into(),
            claim.lease.into(),
        ],
    ))
    .await?;
    Ok(())
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
