//! Sign-in sessions and refresh-token rotation (tenant-scoped), and the two global tables
//! of the login path: rate-limit counters and the security log.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;
use uuid::Uuid;

use crate::TenantScope;

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

/// A new session for `user` with its first refresh token (stored as `token_hash`).
///
/// # Errors
/// Any database error.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    db: &DatabaseConnection,
    scope: &TenantScope,
    session: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
    token_hash: Vec<u8>,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
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
    txn.commit().await
}

/// Whether `session` of `user` exists, is not revoked, has not expired at `now`, and its
/// user is an active member.
///
/// # Errors
/// Any database error.
pub async fn is_active(
    db: &DatabaseConnection,
    scope: &TenantScope,
    session: Uuid,
    user: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(stmt(
            "SELECT 1 AS ok FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
              WHERE s.tenant_id = $1 AND s.id = $2 AND s.user_id = $3 AND s.revoked_at IS NULL AND s.expires_at > $4 AND u.status = 'active'",
            vec![scope.tenant().0.into(), session.into(), user.into(), now.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(row.is_some())
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
    let done = txn
        .execute(stmt(
            "UPDATE sessions SET revoked_at = $4, revoked_reason = $5
              WHERE tenant_id = $1 AND user_id = $2 AND ($3::uuid IS NULL OR id = $3) AND revoked_at IS NULL",
            vec![scope.tenant().0.into(), user.into(), session.into(), now.into(), reason.into()],
        ))
        .await?;
    txn.commit().await?;
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

/// Counts one hit of `key` in a fixed window of `window_seconds` starting at its first hit,
/// at time `now` (the caller's clock, so tests need not sleep). Returns the hits in the
/// current window and when the window ends. Shared by every process through the database.
///
/// # Errors
/// Any database error.
pub async fn hit(
    db: &DatabaseConnection,
    key: &str,
    now: DateTime<Utc>,
    window_seconds: i64,
) -> Result<(i64, DateTime<Utc>), DbErr> {
    let row = db
        .query_one(stmt(
            "INSERT INTO rate_limits AS r (key, window_start, hits) VALUES ($1, $2, 1)
             ON CONFLICT (key) DO UPDATE SET
               window_start = CASE WHEN r.window_start + make_interval(secs => $3) <= $2 THEN $2 ELSE r.window_start END,
               hits = CASE WHEN r.window_start + make_interval(secs => $3) <= $2 THEN 1 ELSE r.hits + 1 END
             RETURNING hits, window_start + make_interval(secs => $3) AS window_end",
            vec![key.into(), now.into(), (window_seconds as f64).into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("rate limit row missing".into()))?;
    Ok((
        i64::from(row.try_get::<i32>("", "hits")?),
        row.try_get("", "window_end")?,
    ))
}

/// The hits of `key` in its window at `now` (0 when it has none or it ended), and when the
/// window ends.
///
/// # Errors
/// Any database error.
pub async fn peek(
    db: &DatabaseConnection,
    key: &str,
    now: DateTime<Utc>,
    window_seconds: i64,
) -> Result<(i64, DateTime<Utc>), DbErr> {
    let row = db
        .query_one(stmt(
            "SELECT hits, window_start + make_interval(secs => $2) AS window_end FROM rate_limits WHERE key = $1",
            vec![key.into(), (window_seconds as f64).into()],
        ))
        .await?;
    match row {
        Some(r) => {
            let end: DateTime<Utc> = r.try_get("", "window_end")?;
            let hits = if end > now {
                i64::from(r.try_get::<i32>("", "hits")?)
            } else {
                0
            };
            Ok((hits, end))
        }
        None => Ok((0, now)),
    }
}

/// Forgets the hits of `key` (a successful sign-in clears its account's failures).
///
/// # Errors
/// Any database error.
pub async fn clear(db: &DatabaseConnection, key: &str) -> Result<(), DbErr> {
    db.execute(stmt(
        "DELETE FROM rate_limits WHERE key = $1",
        vec![key.into()],
    ))
    .await
    .map(drop)
}

/// Records a security event that belongs to no workspace.
///
/// # Errors
/// Any database error.
pub async fn security_event(
    db: &DatabaseConnection,
    kind: &str,
    subject: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute(stmt(
        "INSERT INTO security_log (occurred_at, kind, subject, ip, user_agent) VALUES ($1, $2, $3, $4, $5)",
        vec![now.into(), kind.into(), subject.into(), ip.into(), user_agent.into()],
    ))
    .await
    .map(drop)
}

/// Deletes rate-limit windows that ended more than a day ago (the janitor, as the
/// projector role). Returns how many.
///
/// # Errors
/// Any database error.
pub async fn purge_rate_limits(
    projector: &DatabaseConnection,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let done = projector
        .execute(stmt(
            "DELETE FROM rate_limits WHERE window_start < $1 - interval '1 day'",
            vec![now.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}
