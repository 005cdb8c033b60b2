//! Two-factor secrets (encrypted by the caller) and recovery codes (hashed by the caller).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use uuid::Uuid;

use crm_store::TenantScope;

/// A stored secret.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    /// AES-256-GCM ciphertext of the TOTP secret.
    pub ciphertext: Vec<u8>,
    /// Its 96-bit nonce.
    pub nonce: Vec<u8>,
    /// When enrolment was confirmed; `None` while pending.
    pub confirmed_at: Option<DateTime<Utc>>,
}

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// The user's secret, if any.
///
/// # Errors
/// Any database error.
pub async fn secret(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
) -> Result<Option<StoredSecret>, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(stmt("SELECT ciphertext, nonce, confirmed_at FROM totp_secrets WHERE tenant_id = $1 AND user_id = $2", vec![scope.tenant().0.into(), user.into()]))
        .await?;
    txn.commit().await?;
    row.map(|r| {
        Ok(StoredSecret {
            ciphertext: r.try_get("", "ciphertext")?,
            nonce: r.try_get("", "nonce")?,
            confirmed_at: r.try_get("", "confirmed_at")?,
        })
    })
    .transpose()
}

/// Stores a pending (unconfirmed) secret, replacing a pending one; `false` when a
/// confirmed secret exists.
///
/// # Errors
/// Any database error.
pub async fn put_pending(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    ciphertext: Vec<u8>,
    nonce: Vec<u8>,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let done = txn
        .execute(stmt(
            "INSERT INTO totp_secrets (tenant_id, user_id, ciphertext, nonce) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, nonce = EXCLUDED.nonce, last_step = -1
             WHERE totp_secrets.confirmed_at IS NULL",
            vec![scope.tenant().0.into(), user.into(), ciphertext.into(), nonce.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Accepts time step `step` for the user once: `true` if it is later than every step
/// accepted before (a code is never accepted twice, RFC 6238 §5.2).
///
/// # Errors
/// Any database error.
pub async fn accept_step(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    step: i64,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let done = txn
        .execute(stmt("UPDATE totp_secrets SET last_step = $3 WHERE tenant_id = $1 AND user_id = $2 AND last_step < $3", vec![scope.tenant().0.into(), user.into(), step.into()]))
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Confirms enrolment at `now` and stores the recovery codes' hashes (replacing any).
///
/// # Errors
/// Any database error.
pub async fn confirm(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    now: DateTime<Utc>,
    code_hashes: Vec<Vec<u8>>,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    let tenant = scope.tenant().0;
    txn.execute(stmt(
        "UPDATE totp_secrets SET confirmed_at = $3 WHERE tenant_id = $1 AND user_id = $2",
        vec![tenant.into(), user.into(), now.into()],
    ))
    .await?;
    txn.execute(stmt(
        "DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
        vec![tenant.into(), user.into()],
    ))
    .await?;
    for hash in code_hashes {
        txn.execute(stmt(
            "INSERT INTO recovery_codes (tenant_id, user_id, code_hash) VALUES ($1, $2, $3)",
            vec![tenant.into(), user.into(), hash.into()],
        ))
        .await?;
    }
    txn.commit().await
}

/// Spends a recovery code: `true` if it was the user's and unused.
///
/// # Errors
/// Any database error.
pub async fn use_recovery_code(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    code_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let done = txn
        .execute(stmt(
            "UPDATE recovery_codes SET used_at = $4 WHERE tenant_id = $1 AND user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            vec![scope.tenant().0.into(), user.into(), code_hash.into(), now.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// Removes the user's secret and recovery codes.
///
/// # Errors
/// Any database error.
pub async fn remove(db: &DatabaseConnection, scope: &TenantScope, user: Uuid) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    let tenant = scope.tenant().0;
    txn.execute(stmt(
        "DELETE FROM totp_secrets WHERE tenant_id = $1 AND user_id = $2",
        vec![tenant.into(), user.into()],
    ))
    .await?;
    txn.execute(stmt(
        "DELETE FROM recovery_codes WHERE tenant_id = $1 AND user_id = $2",
        vec![tenant.into(), user.into()],
    ))
    .await?;
    txn.commit().await
}
