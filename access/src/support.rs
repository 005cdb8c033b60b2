//! Support staff: accounts and sessions (outside every tenant), the grants a workspace
//! gives them, and the access record of what they did under a grant.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde::Serialize;
use uuid::Uuid;

use crm_store::TenantScope;

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A new support account's credentials: its password hash and its sealed TOTP secret.
#[derive(Debug, Clone)]
pub struct SupportCredentials {
    /// PHC string of the password (argon2id).
    pub password_hash: String,
    /// The TOTP secret, AES-256-GCM ciphertext.
    pub totp_ciphertext: Vec<u8>,
    /// Its 12-byte nonce.
    pub totp_nonce: Vec<u8>,
}

/// Adds a support account; `false` when the email is taken.
///
/// # Errors
/// Database errors.
pub async fn create_account(
    db: &DatabaseConnection,
    id: Uuid,
    email: &str,
    display_name: &str,
    credentials: &SupportCredentials,
) -> Result<bool, DbErr> {
    let done = db
        .execute(stmt(
            "INSERT INTO support_accounts (id, email, display_name, password_hash, totp_ciphertext, totp_nonce)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
            vec![
                id.into(),
                email.into(),
                display_name.into(),
                credentials.password_hash.clone().into(),
                credentials.totp_ciphertext.clone().into(),
                credentials.totp_nonce.clone().into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// An active support account by email, as sign-in needs it.
#[derive(Debug, Clone)]
pub struct SupportLogin {
    /// The account.
    pub id: Uuid,
    /// PHC string of its password.
    pub password_hash: String,
    /// Its sealed TOTP secret `(ciphertext, nonce)`; `None` for an account made before
    /// two-factor was required (it cannot sign in).
    pub totp: Option<(Vec<u8>, Vec<u8>)>,
}

/// An active support account by email.
///
/// # Errors
/// Database errors.
pub async fn account_by_email(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<SupportLogin>, DbErr> {
    let row = db
        .query_one(stmt(
            "SELECT id, password_hash, totp_ciphertext, totp_nonce FROM support_accounts
              WHERE email = $1 AND active",
            vec![email.into()],
        ))
        .await?;
    row.map(|r| {
        let ciphertext: Option<Vec<u8>> = r.try_get("", "totp_ciphertext")?;
        let nonce: Option<Vec<u8>> = r.try_get("", "totp_nonce")?;
        Ok(SupportLogin {
            id: r.try_get("", "id")?,
            password_hash: r.try_get("", "password_hash")?,
            totp: ciphertext.zip(nonce),
        })
    })
    .transpose()
}

/// Accepts TOTP time step `step` for the support account once: `true` if it is later
/// than every step accepted before (RFC 6238 §5.2: a code is never accepted twice).
///
/// # Errors
/// Database errors.
pub async fn accept_step(db: &DatabaseConnection, id: Uuid, step: i64) -> Result<bool, DbErr> {
    let done = db
        .execute(stmt(
            "UPDATE support_accounts SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2",
            vec![id.into(), step.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Opens a support session under the token's SHA-256.
///
/// # Errors
/// Database errors.
pub async fn open_session(
    db: &DatabaseConnection,
    token_hash: Vec<u8>,
    support_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbErr> {
    db.execute(stmt(
        "INSERT INTO support_sessions (token_hash, support_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4)",
        vec![
            token_hash.into(),
            support_id.into(),
            now.into(),
            expires_at.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The active account of an unexpired session.
///
/// # Errors
/// Database errors.
pub async fn session_account(
    db: &DatabaseConnection,
    token_hash: Vec<u8>,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let row = db
        .query_one(stmt(
            "SELECT a.id FROM support_sessions s JOIN support_accounts a ON a.id = s.support_id
              WHERE s.token_hash = $1 AND s.expires_at > $2 AND a.active",
            vec![token_hash.into(), now.into()],
        ))
        .await?;
    row.map(|r| r.try_get("", "id")).transpose()
}

/// Ends the session with this token hash; `false` when there is none.
///
/// # Errors
/// Database errors.
pub async fn end_session(db: &DatabaseConnection, token_hash: Vec<u8>) -> Result<bool, DbErr> {
    let done = db
        .execute(stmt(
            "DELETE FROM support_sessions WHERE token_hash = $1",
            vec![token_hash.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes sessions expired before `now` (the janitor's round); returns how many.
///
/// # Errors
/// Database errors.
pub async fn purge_sessions(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64, DbErr> {
    let done = db
        .execute(stmt(
            "DELETE FROM support_sessions WHERE expires_at < $1",
            vec![now.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// One grant as the Owner sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Grant {
    /// Grant id.
    pub id: Uuid,
    /// The support account.
    pub support_id: Uuid,
    /// The support account's email.
    pub support_email: String,
    /// `read` or `recovery`.
    pub scope: String,
    /// Why the Owner gave it.
    pub reason: String,
    /// The Owner who gave it.
    pub created_by: Uuid,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Requests made under it so far.
    pub requests: i64,
}

/// A new grant's fields.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// Grant id.
    pub id: Uuid,
    /// The support account.
    pub support_id: Uuid,
    /// `read` or `recovery`.
    pub scope: &'static str,
    /// Why.
    pub reason: String,
    /// The Owner.
    pub created_by: Uuid,
    /// Now.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// Stores a grant.
///
/// # Errors
/// Database errors.
pub async fn create_grant(
    db: &DatabaseConnection,
    scope: &TenantScope,
    g: NewGrant,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(stmt(
        "INSERT INTO support_grants (tenant_id, id, support_id, scope, reason, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            scope.tenant().0.into(),
            g.id.into(),
            g.support_id.into(),
            g.scope.into(),
            g.reason.into(),
            g.created_by.into(),
            g.created_at.into(),
            g.expires_at.into(),
        ],
    ))
    .await?;
    txn.commit().await
}

/// The support account's active grant in this tenant (the widest, then the longest):
/// `(grant id, scope)`.
///
/// # Errors
/// Database errors.
pub async fn active_grant(
    db: &DatabaseConnection,
    scope: &TenantScope,
    support_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<(Uuid, String)>, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(stmt(
            "SELECT id, scope FROM support_grants
              WHERE tenant_id = $1 AND support_id = $2 AND revoked_at IS NULL AND expires_at > $3
              ORDER BY scope = 'recovery' DESC, expires_at DESC LIMIT 1",
            vec![scope.tenant().0.into(), support_id.into(), now.into()],
        ))
        .await?;
    txn.commit().await?;
    row.map(|r| Ok((r.try_get("", "id")?, r.try_get("", "scope")?)))
        .transpose()
}

/// Every grant of the tenant, newest first.
///
/// # Errors
/// Database errors.
pub async fn list_grants(
    db: &DatabaseConnection,
    scope: &TenantScope,
) -> Result<Vec<Grant>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(stmt(
            "SELECT g.id, g.support_id, a.email AS support_email, g.scope, g.reason, g.created_by,
                    g.created_at, g.expires_at, g.revoked_at,
                    (SELECT count(*) FROM support_access x
                      WHERE x.tenant_id = g.tenant_id AND x.grant_id = g.id) AS requests
               FROM support_grants g JOIN support_accounts a ON a.id = g.support_id
              WHERE g.tenant_id = $1
              ORDER BY g.created_at DESC, g.id",
            vec![scope.tenant().0.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(Grant {
                id: r.try_get("", "id")?,
                support_id: r.try_get("", "support_id")?,
                support_email: r.try_get("", "support_email")?,
                scope: r.try_get("", "scope")?,
                reason: r.try_get("", "reason")?,
                created_by: r.try_get("", "created_by")?,
                created_at: r.try_get("", "created_at")?,
                expires_at: r.try_get("", "expires_at")?,
                revoked_at: r.try_get("", "revoked_at")?,
                requests: r.try_get("", "requests")?,
            })
        })
        .collect()
}

/// Revokes a grant; `false` when the tenant has no such unrevoked grant.
///
/// # Errors
/// Database errors.
pub async fn revoke(
    db: &DatabaseConnection,
    scope: &TenantScope,
    id: Uuid,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let done = txn
        .execute(stmt(
            "UPDATE support_grants SET revoked_at = $3, revoked_by = $4
              WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
            vec![scope.tenant().0.into(), id.into(), now.into(), by.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// One request made under a grant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Access {
    /// The grant.
    pub grant_id: Uuid,
    /// The support account.
    pub support_id: Uuid,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Client address.
    pub ip: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// Records one request under a grant.
///
/// # Errors
/// Database errors.
pub async fn record_access(
    db: &DatabaseConnection,
    scope: &TenantScope,
    access: Access,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(stmt(
        "INSERT INTO support_access (tenant_id, grant_id, support_id, method, path, ip, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            scope.tenant().0.into(),
            access.grant_id.into(),
            access.support_id.into(),
            access.method.into(),
            access.path.into(),
            access.ip.into(),
            access.at.into(),
        ],
    ))
    .await?;
    txn.commit().await
}

/// The access record of one grant, oldest first (empty for another tenant's grant).
///
/// # Errors
/// Database errors.
pub async fn access_of(
    db: &DatabaseConnection,
    scope: &TenantScope,
    grant_id: Uuid,
) -> Result<Vec<Access>, DbErr> {
    let txn = scope.begin(db).await?;
    let rows = txn
        .query_all(stmt(
            "SELECT grant_id, support_id, method, path, ip, at FROM support_access
              WHERE tenant_id = $1 AND grant_id = $2 ORDER BY id",
            vec![scope.tenant().0.into(), grant_id.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(Access {
                grant_id: r.try_get("", "grant_id")?,
                support_id: r.try_get("", "support_id")?,
                method: r.try_get("", "method")?,
                path: r.try_get("", "path")?,
                ip: r.try_get("", "ip")?,
                at: r.try_get("", "at")?,
            })
        })
        .collect()
}
