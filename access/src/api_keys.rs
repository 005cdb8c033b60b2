//! API keys and their request log.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;
use uuid::Uuid;

use crm_store::TenantScope;

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A key as its managers see it (never the key itself).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Role: `owner`, `admin`, `manager`, `member` or `read_only`.
    pub role: String,
    /// Creator.
    pub created_by: Uuid,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last request.
    pub last_used_at: Option<DateTime<Utc>>,
}

fn row(r: &sea_orm::QueryResult) -> Result<KeyRow, DbErr> {
    Ok(KeyRow {
        id: r.try_get("", "id")?,
        name: r.try_get("", "name")?,
        role: r.try_get("", "role")?,
        created_by: r.try_get("", "created_by")?,
        created_at: r.try_get("", "created_at")?,
        expires_at: r.try_get("", "expires_at")?,
        revoked_at: r.try_get("", "revoked_at")?,
        last_used_at: r.try_get("", "last_used_at")?,
    })
}

const COLUMNS: &str =
    "id, name, role, created_by, created_at, expires_at, revoked_at, last_used_at";

/// Stores a new key's hash.
///
/// # Errors
/// Any database error.
#[allow(clippy::too_many_arguments)]
pub async fn create(
    db: &DatabaseConnection,
    scope: &TenantScope,
    id: Uuid,
    name: &str,
    key_hash: Vec<u8>,
    role: &str,
    created_by: Uuid,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(stmt(
        "INSERT INTO api_keys (tenant_id, id, name, key_hash, role, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![scope.tenant().0.into(), id.into(), name.into(), key_hash.into(), role.into(), created_by.into(), now.into(), expires_at.into()],
    ))
    .await?;
    txn.commit().await
}

/// The live key with this hash at `now` (not revoked, not expired), marking it used.
///
/// # Errors
/// Any database error.
pub async fn authenticate(
    db: &DatabaseConnection,
    scope: &TenantScope,
    key_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Option<KeyRow>, DbErr> {
    let txn = scope.begin(db).await?;
    // A key works only while its creator is an active member, and never above the
    // creator's current role (roles order from owner to read_only).
    let found = txn
        .query_one(stmt(
            "UPDATE api_keys k SET last_used_at = $3
               FROM users u
              WHERE k.tenant_id = $1 AND k.key_hash = $2 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $3)
                AND u.tenant_id = k.tenant_id AND u.id = k.created_by AND u.status = 'active'
          RETURNING k.id, k.name,
                    CASE WHEN array_position(ARRAY['owner','admin','manager','member','read_only'], k.role)
                            >= array_position(ARRAY['owner','admin','manager','member','read_only'], u.role)
                         THEN k.role ELSE u.role END AS role,
                    k.created_by, k.created_at, k.expires_at, k.revoked_at, k.last_used_at",
            vec![scope.tenant().0.into(), key_hash.into(), now.into()],
        ))
        .await?;
    txn.commit().await?;
    found.as_ref().map(row).transpose()
}

/// Every key of the tenant, newest first.
///
/// # Errors
/// Any database error.
pub async fn list(db: &DatabaseConnection, scope: &TenantScope) -> Result<Vec<KeyRow>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn.query_all(stmt(&format!("SELECT {COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"), vec![scope.tenant().0.into()])).await?;
    txn.commit().await?;
    rows.iter().map(row).collect()
}

/// Revokes a key; `None` if the tenant has no such key, `Some(false)` if it was revoked
/// already.
///
/// # Errors
/// Any database error.
pub async fn revoke(
    db: &DatabaseConnection,
    scope: &TenantScope,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<bool>, DbErr> {
    let txn = scope.begin(db).await?;
    let exists = txn
        .query_one(stmt(
            "SELECT revoked_at IS NULL AS live FROM api_keys WHERE tenant_id = $1 AND id = $2",
            vec![scope.tenant().0.into(), id.into()],
        ))
        .await?;
    let outcome = match exists {
        None => None,
        Some(r) if r.try_get::<bool>("", "live")? => {
            txn.execute(stmt(
                "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2",
                vec![scope.tenant().0.into(), id.into(), now.into()],
            ))
            .await?;
            Some(true)
        }
        Some(_) => Some(false),
    };
    txn.commit().await?;
    Ok(outcome)
}

/// Records one request made with a key.
///
/// # Errors
/// Any database error.
#[allow(clippy::too_many_arguments)]
pub async fn log_request(
    db: &DatabaseConnection,
    scope: &TenantScope,
    key_id: Uuid,
    method: &str,
    path: &str,
    status: u16,
    ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(stmt(
        "INSERT INTO api_key_requests (tenant_id, key_id, method, path, status, ip, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![scope.tenant().0.into(), key_id.into(), method.into(), path.into(), i16::try_from(status).unwrap_or(0).into(), ip.into(), now.into()],
    ))
    .await?;
    txn.commit().await
}

/// The latest requests made with keys (one key's when `key_id` is given), newest first.
///
/// # Errors
/// Any database error.
pub async fn requests(
    db: &DatabaseConnection,
    scope: &TenantScope,
    key_id: Option<Uuid>,
    limit: u64,
) -> Result<Vec<serde_json::Value>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(stmt(
            "SELECT key_id, method, path, status, ip, occurred_at FROM api_key_requests
              WHERE tenant_id = $1 AND ($2::uuid IS NULL OR key_id = $2) ORDER BY id DESC LIMIT $3",
            vec![
                scope.tenant().0.into(),
                key_id.into(),
                i64::try_from(limit).unwrap_or(200).into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|r| {
            Ok(serde_json::json!({
                "key_id": r.try_get::<Uuid>("", "key_id")?,
                "method": r.try_get::<String>("", "method")?,
                "path": r.try_get::<String>("", "path")?,
                "status": r.try_get::<i16>("", "status")?,
                "ip": r.try_get::<Option<String>>("", "ip")?,
                "occurred_at": r.try_get::<DateTime<Utc>>("", "occurred_at")?,
            }))
        })
        .collect()
}
