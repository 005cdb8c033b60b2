//! Sign-in sessions and refresh-token rotation (`sessions`, `refresh_tokens`;
//! tenant-scoped). The login path's global tables are [`crate::rate_limits`] and
//! [`crate::security_log`].

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;
use uuid::Uuid;

use crm_store::TenantScope;

/// A session as its user sees it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct SessionRow {
    /// The session id (`sid` in access tokens).
    pub id: Uuid,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_used_at: DateTime<Utc>,
    /// When its refresh tokens stop working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why.
    pub revoked_reason: Option<String>,
    /// Address at sign-in.
    pub ip: Option<String>,
    /// Agent at sign-in.
    pub user_agent: Option<String>,
}

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A new session for `user` with its first refresh token (stored as `token_hash`), through
/// `txn` (a transaction of the scope's tenant; a sign-in's commits it with its
/// `LoginSucceeded` event).
///
/// # Errors
/// Any database error.
#[allow(clippy::too_many_arguments)]
pub async fn create<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    session: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
    token_hash: Vec<u8>,
) -> Result<(), DbErr> {
    let tenant = scope.tenant().0;
    txn.execute(stmt(
        "INSERT INTO sessions (tenant_id, id, user_id, created_at, last_used_at, expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        vec![tenant.into(), session.into(), user.into(), now.into(), expires_at.into(), ip.into(), user_agent.into()],
    ))
    .await?;
    txn.execute(stmt(
        "INSERT INTO refresh_tokens (tenant_id, token_hash, session_id, created_at) VALUES ($1, $2, $3, $4)",
        vec![tenant.into(), token_hash.into(), session.into(), now.into()],
    ))
    .await?;
    Ok(())
}

/// What a request with an access token may do, as [`authorize`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    /// The session is live (not revoked, not expired) and its user active.
    pub active: bool,
    /// The workspace requires two-factor sign-in and the user has not turned it on (only
    /// asked for when the caller's role is bound by that rule).
    pub lacks_two_factor: bool,
    /// The workspace's request count in the current window (counted only for a live
    /// session), when a limit applies.
    pub hits: Option<i64>,
    /// The payloads of the workspace's `FieldSchema` stream, oldest first, as a JSON
    /// array (`None` when it has none, or the session is not live).
    pub field_events: Option<serde_json::Value>,
    /// The primary's WAL flush position (`pg_current_wal_flush_lsn()`, as `pg_lsn` text)
    /// when the check ran: how far a hot standby must have replayed for this request's
    /// reads (`crm_app::replica`).
    pub primary_lsn: Option<String>,
}

/// Checks a request's session, in one statement, in `db`'s transaction (setting the
/// scope's tenant for it): that session `session` of `user` is live and the user active;
/// when `two_factor_rule`, whether the workspace requires a second factor the user lacks;
/// the workspace's custom field schema (migration 000034);
/// and when `rate_key` is given, counts the request in that per-minute window (only when
/// the session is live, so a revoked token cannot use up a workspace's allowance). Unless
/// `durable`, the transaction's commit does not wait for the WAL to reach the disk (for a
/// read, whose only write is the count).
///
/// # Errors
/// Any database error.
#[allow(clippy::too_many_arguments)] // one per argument of `crm_authorize`
pub async fn authorize<C: ConnectionTrait + ?Sized>(
    db: &C,
    scope: &TenantScope,
    session: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    two_factor_rule: bool,
    rate_key: Option<&str>,
    durable: bool,
) -> Result<Authorized, DbErr> {
    // One statement: `crm_authorize` sets the scope's tenant for the transaction it runs
    // in (its own, or a read request's, which then goes on to its query), then reads
    // (migrations 000025 and 000026).
    let row = db
        .query_one(stmt(
            "SELECT active, lacks_two_factor, hits, field_events, pg_current_wal_flush_lsn()::text AS lsn
               FROM crm_authorize($1, $2, $3, $4, $5, $6, $7)",
            vec![
                scope.tenant().0.into(),
                session.into(),
                user.into(),
                now.into(),
                two_factor_rule.into(),
                rate_key.map(str::to_owned).into(),
                durable.into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the session check returned no row".into()))?;
    Ok(Authorized {
        active: row.try_get("", "active")?,
        lacks_two_factor: row.try_get("", "lacks_two_factor")?,
        hits: row.try_get::<Option<i32>>("", "hits")?.map(i64::from),
        field_events: row.try_get("", "field_events")?,
        primary_lsn: row.try_get("", "lsn")?,
    })
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The token was good: it is used up, `new_hash` replaces it.
    Rotated {
        /// The session.
        session: Uuid,
        /// Its user.
        user: Uuid,
    },
    /// The token had been used before: a sign that it was stolen. The session (the whole
    /// rotation family) is revoked now.
    Reused {
        /// The revoked session.
        session: Uuid,
        /// Its user.
        user: Uuid,
    },
    /// No such token, or its session is revoked or expired.
    Invalid,
}

/// Uses the refresh token `old_hash` and issues `new_hash` in its place (RFC 6819 §5.2.2.3
/// rotation; reuse detection as in the OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
///
/// # Errors
/// Any database error.
pub async fn rotate(
    db: &DatabaseConnection,
    scope: &TenantScope,
    old_hash: Vec<u8>,
    new_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Refresh, DbErr> {
    let txn = scope.begin(db).await?;
    let tenant = scope.tenant().0;
    let row = txn
        .query_one(stmt(
            "SELECT rt.session_id, rt.used_at, s.user_id, s.revoked_at, s.expires_at
               FROM refresh_tokens rt JOIN sessions s ON s.tenant_id = rt.tenant_id AND s.id = rt.session_id
              WHERE rt.tenant_id = $1 AND rt.token_hash = $2
              FOR UPDATE OF rt, s",
            vec![tenant.into(), old_hash.clone().into()],
        ))
        .await?;
    let Some(row) = row else {
        txn.commit().await?;
        return Ok(Refresh::Invalid);
    };
    let session: Uuid = row.try_get("", "session_id")?;
    let user: Uuid = row.try_get("", "user_id")?;
    let used: Option<DateTime<Utc>> = row.try_get("", "used_at")?;
    let revoked: Option<DateTime<Utc>> = row.try_get("", "revoked_at")?;
    let expires: DateTime<Utc> = row.try_get("", "expires_at")?;
    let outcome = if used.is_some() {
        if revoked.is_none() {
            txn.execute(stmt(
                "UPDATE sessions SET revoked_at = $3, revoked_reason = 'refresh token reused' WHERE tenant_id = $1 AND id = $2",
                vec![tenant.into(), session.into(), now.into()],
            ))
            .await?;
        }
        Refresh::Reused { session, user }
    } else if revoked.is_some() || expires <= now {
        Refresh::Invalid
    } else {
        txn.execute(stmt(
            "UPDATE refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND token_hash = $2",
            vec![tenant.into(), old_hash.into(), now.into()],
        ))
        .await?;
        txn.execute(stmt(
            "INSERT INTO refresh_tokens (tenant_id, token_hash, session_id, created_at) VALUES ($1, $2, $3, $4)",
            vec![tenant.into(), new_hash.into(), session.into(), now.into()],
        ))
        .await?;
        txn.execute(stmt(
            "UPDATE sessions SET last_used_at = $3 WHERE tenant_id = $1 AND id = $2",
            vec![tenant.into(), session.into(), now.into()],
        ))
        .await?;
        Refresh::Rotated { session, user }
    };
    txn.commit().await?;
    Ok(outcome)
}

/// Revokes the sessions of `user` (only `session` when given); returns how many were live.
///
/// # Errors
/// Any database error.
pub async fn revoke(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    session: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let txn = scope.begin(db).await?;
    let done = revoke_in(&txn, scope, user, session, reason, now).await?;
    txn.commit().await?;
    Ok(done)
}

/// As [`revoke`], through `txn` (a transaction of the scope's tenant that commits it with
/// other writes, such as a password reset's).
///
/// # Errors
/// Any database error.
pub async fn revoke_in<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    user: Uuid,
    session: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let done = txn
        .execute(stmt(
            "UPDATE sessions SET revoked_at = $4, revoked_reason = $5
              WHERE tenant_id = $1 AND user_id = $2 AND ($3::uuid IS NULL OR id = $3) AND revoked_at IS NULL",
            vec![scope.tenant().0.into(), user.into(), session.into(), now.into(), reason.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// The sessions of `user`, newest first.
///
/// # Errors
/// Any database error.
pub async fn list(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
) -> Result<Vec<SessionRow>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(stmt(
            "SELECT id, created_at, last_used_at, expires_at, revoked_at, revoked_reason, ip, user_agent
               FROM sessions WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at DESC, id DESC",
            vec![scope.tenant().0.into(), user.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(SessionRow {
                id: r.try_get("", "id")?,
                created_at: r.try_get("", "created_at")?,
                last_used_at: r.try_get("", "last_used_at")?,
                expires_at: r.try_get("", "expires_at")?,
                revoked_at: r.try_get("", "revoked_at")?,
                revoked_reason: r.try_get("", "revoked_reason")?,
                ip: r.try_get("", "ip")?,
                user_agent: r.try_get("", "user_agent")?,
            })
        })
        .collect()
}
