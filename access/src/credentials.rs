//! Sign-in credentials and the identity registries (non-event state; tenant-scoped under
//! row-level security): `login_emails` (login email -> tenant, user; a global directory
//! of emails), `credentials` (tenant, user -> password hash), `workspace_slugs` (a global
//! directory of slugs),
//! `invitations` and `password_resets` (token hashes, single use).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use uuid::Uuid;

use crm_store::TenantScope;

/// A login's stored secret: who it belongs to and the PHC-format hash.
#[derive(Debug, Clone)]
pub struct LoginRecord {
    /// The user's tenant.
    pub tenant_id: Uuid,
    /// The user.
    pub user_id: Uuid,
    /// The argon2id hash in PHC string format.
    pub password_hash: String,
}

/// Looks up the credentials of a (normalised) email before any tenant is known: its
/// registry entry, then its credentials by their key. The transaction names the email in
/// `app.login_email`, the only row of either table row-level security lets it see.
///
/// # Errors
/// Any database error.
pub async fn find_login(
    db: &DatabaseConnection,
    email: &str,
) -> Result<Option<LoginRecord>, DbErr> {
    let txn = db.begin().await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.login_email', $1, true)",
        [email.into()],
    ))
    .await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT c.tenant_id, c.user_id, c.password_hash
               FROM login_emails l
               JOIN credentials c ON c.tenant_id = l.tenant_id AND c.user_id = l.user_id
              WHERE l.email = $1",
            [email.into()],
        ))
        .await?;
    txn.commit().await?;
    row.map(|r| {
        Ok(LoginRecord {
            tenant_id: r.try_get("", "tenant_id")?,
            user_id: r.try_get("", "user_id")?,
            password_hash: r.try_get("", "password_hash")?,
        })
    })
    .transpose()
}

/// Whether a registration may proceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Slug and email are now reserved for the new workspace and its owner.
    Reserved,
    /// The slug belongs to another workspace.
    SlugTaken,
    /// The email already signs in somewhere.
    EmailTaken,
}

/// Reserves a new workspace's slug and stores its founder's credentials through `txn` (the
/// sign-up's one transaction, in the new tenant's scope): both commit with the workspace's
/// first events, or none of it does. On a refusal the caller rolls back.
///
/// # Errors
/// Any database error other than the two unique violations reported as [`Registration`].
pub async fn reserve_signup<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    slug: &str,
    user_id: Uuid,
    email: &str,
    password_hash: &str,
) -> Result<Registration, DbErr> {
    let tenant = scope.tenant().0;
    let slug_insert = txn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO workspace_slugs (slug, tenant_id) VALUES ($1, $2) ON CONFLICT (slug) DO NOTHING",
            [slug.into(), tenant.into()],
        ))
        .await?;
    if slug_insert.rows_affected() == 0 {
        return Ok(Registration::SlugTaken);
    }
    if !claim_email(txn, tenant, user_id, email).await? {
        return Ok(Registration::EmailTaken);
    }
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO credentials (tenant_id, user_id, email, password_hash) VALUES ($1, $2, $3, $4)",
        [tenant.into(), user_id.into(), email.into(), password_hash.into()],
    ))
    .await?;
    Ok(Registration::Reserved)
}

/// Enters `email` in the global login-email registry for `user_id` of `tenant`; `false`
/// when it signs in somewhere already (its unique key, not an error).
///
/// # Errors
/// Any database error.
async fn claim_email<C: ConnectionTrait>(
    txn: &C,
    tenant: Uuid,
    user_id: Uuid,
    email: &str,
) -> Result<bool, DbErr> {
    let claimed = txn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO login_emails (email, tenant_id, user_id) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING",
            [email.into(), tenant.into(), user_id.into()],
        ))
        .await?;
    Ok(claimed.rows_affected() == 1)
}

/// The tenant of a workspace slug (for the command line, which runs as the projector role).
///
/// # Errors
/// Any database error.
pub async fn tenant_of_slug(db: &DatabaseConnection, slug: &str) -> Result<Option<Uuid>, DbErr> {
    let row = db
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT tenant_id FROM workspace_slugs WHERE slug = $1",
            [slug.into()],
        ))
        .await?;
    row.map(|r| r.try_get("", "tenant_id")).transpose()
}

/// Replaces a user's password hash; returns whether the user has credentials.
///
/// # Errors
/// Any database error.
pub async fn set_password_hash(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user_id: Uuid,
    password_hash: &str,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let result = txn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE credentials SET password_hash = $3, updated_at = now() WHERE tenant_id = $1 AND user_id = $2",
            [scope.tenant().0.into(), user_id.into(), password_hash.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(result.rows_affected() == 1)
}

/// A user's current password hash.
///
/// # Errors
/// Any database error.
pub async fn password_hash(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user_id: Uuid,
) -> Result<Option<String>, DbErr> {
    let txn = scope.begin(db).await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT password_hash FROM credentials WHERE tenant_id = $1 AND user_id = $2",
            [scope.tenant().0.into(), user_id.into()],
        ))
        .await?;
    txn.commit().await?;
    row.map(|r| r.try_get("", "password_hash")).transpose()
}

/// Reserves `email` for an invited user (no usable password yet: sign-in fails until the
/// invitation is accepted) and stores the invitation token's hash. `false` when the email
/// already signs in somewhere.
///
/// # Errors
/// Any database error.
pub async fn create_invitation(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user_id: Uuid,
    email: &str,
    token_hash: Vec<u8>,
    now: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, DbErr> {
    let txn = scope.begin(db).await?;
    let tenant = scope.tenant().0;
    if !claim_email(&txn, tenant, user_id, email).await? {
        return Ok(false);
    }
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO credentials (tenant_id, user_id, email, password_hash) VALUES ($1, $2, $3, '!invited')",
        [tenant.into(), user_id.into(), email.into()],
    ))
    .await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO invitations (tenant_id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        [tenant.into(), token_hash.into(), user_id.into(), now.into(), expires_at.into()],
    ))
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Uses an invitation token once, through `txn` (the acceptance's unit of work, in the
/// token's tenant): sets the invited user's password hash and returns the user, or `None`
/// when the token is unknown, used or expired at `now`.
///
/// # Errors
/// Any database error.
pub async fn accept_invitation<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    token_hash: Vec<u8>,
    password_hash: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let tenant = scope.tenant().0;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE invitations SET used_at = $3 WHERE tenant_id = $1 AND token_hash = $2 AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
            [tenant.into(), token_hash.into(), now.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let user: Uuid = row.try_get("", "user_id")?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE credentials SET password_hash = $3, updated_at = now() WHERE tenant_id = $1 AND user_id = $2",
        [tenant.into(), user.into(), password_hash.into()],
    ))
    .await?;
    Ok(Some(user))
}

/// Stores a password-reset token's hash for `user`, valid until `expires_at`.
///
/// # Errors
/// Any database error.
pub async fn create_reset(
    db: &DatabaseConnection,
    scope: &TenantScope,
    user: Uuid,
    token_hash: Vec<u8>,
    now: chrono::DateTime<chrono::Utc>,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<(), DbErr> {
    let txn = scope.begin(db).await?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO password_resets (tenant_id, token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        [scope.tenant().0.into(), token_hash.into(), user.into(), now.into(), expires_at.into()],
    ))
    .await?;
    txn.commit().await
}

/// Uses a reset token once, through `txn` (the reset's unit of work, in the token's
/// tenant): stores the new password hash and returns the user, or `None` for an unknown,
/// used or expired token.
///
/// # Errors
/// Any database error.
pub async fn use_reset<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    token_hash: Vec<u8>,
    password_hash: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Uuid>, DbErr> {
    let tenant = scope.tenant().0;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE password_resets SET used_at = $3 WHERE tenant_id = $1 AND token_hash = $2 AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
            [tenant.into(), token_hash.into(), now.into()],
        ))
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let user: Uuid = row.try_get("", "user_id")?;
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE credentials SET password_hash = $3, updated_at = now() WHERE tenant_id = $1 AND user_id = $2",
        [tenant.into(), user.into(), password_hash.into()],
    ))
    .await?;
    // Every other reset token of the user is spent too.
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE password_resets SET used_at = $3 WHERE tenant_id = $1 AND user_id = $2 AND used_at IS NULL",
        [tenant.into(), user.into(), now.into()],
    ))
    .await?;
    Ok(Some(user))
}
