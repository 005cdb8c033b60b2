//! Rate-limit counters (`rate_limits`, global: not tenant-scoped): fixed windows counted
//! with atomic upserts, shared by every server process through the database. Sign-in,
//! two-factor, password-reset and the per-workspace request budget count here.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
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

/// Counts one request against a workspace's minute `key` (`workspace:<tenant>:<minute>`)
/// and returns the minute's requests so far. The count is spread over 16 rows, one per
/// database connection (`crm_count_request`, migration 000026), so that a read request's
/// transaction, which counts itself first, does not make the next request wait for it.
///
/// # Errors
/// Any database error.
pub async fn count_request<C: ConnectionTrait>(
    db: &C,
    key: &str,
    now: DateTime<Utc>,
) -> Result<i64, DbErr> {
    let row = db
        .query_one(stmt(
            "SELECT crm_count_request($1, $2) AS hits",
            vec![key.into(), now.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("the request count returned no row".into()))?;
    Ok(i64::from(row.try_get::<i32>("", "hits")?))
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
