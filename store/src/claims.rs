//! Contact email claims: one contact per email per tenant (uniqueness across streams cannot
//! be a rule of one aggregate). A claim is taken and released inside the command's own
//! transaction, so it commits with the command's events or not at all.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

use crate::TenantScope;

/// The outcome of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The email belongs to the contact.
    Claimed {
        /// Whether this call made it so (it was free, or taken over from a stale claim);
        /// false when the contact held it already. Only a new claim is released when the
        /// command fails.
        new: bool,
    },
    /// Another contact of the tenant holds the email.
    Taken {
        /// The holder.
        by: Uuid,
    },
}

/// Claims `email` for `contact_id` in the scope's tenant, through `txn` (the command's
/// transaction, with the scope's tenant set). A concurrent claim of the same email waits
/// for this transaction and then sees its outcome.
///
/// Claims committed by servers before a command was one transaction could outlive a
/// request that died between claiming and appending; such a claim is still taken over once
/// it is older than one minute and its holder has no event at all, or older than five
/// minutes and the holder's read row does not carry the email.
///
/// # Errors
/// Any database error.
pub async fn claim_contact_email<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    email: &str,
    contact_id: Uuid,
) -> Result<Claim, DbErr> {
    let tenant = scope.tenant().0;
    let claimed = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "WITH previous AS (SELECT contact_id FROM contact_emails WHERE tenant_id = $1 AND email = $2)
             INSERT INTO contact_emails AS ce (tenant_id, email, contact_id) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id, email) DO UPDATE SET contact_id = EXCLUDED.contact_id, claimed_at = now()
              WHERE ce.contact_id = EXCLUDED.contact_id
                 OR (ce.claimed_at < now() - interval '1 minute'
                     AND NOT EXISTS (SELECT 1 FROM events e
                                      WHERE e.aggregate_id = ce.tenant_id::text || ':' || ce.contact_id::text))
                 OR (ce.claimed_at < now() - interval '5 minutes'
                     AND NOT EXISTS (SELECT 1 FROM contacts c
                                      WHERE c.tenant_id = ce.tenant_id AND c.id = ce.contact_id AND c.email = ce.email))
             RETURNING (SELECT contact_id FROM previous) IS DISTINCT FROM $3 AS new",
            [tenant.into(), email.into(), contact_id.into()],
        ))
        .await?;
    let outcome = if let Some(row) = claimed {
        Claim::Claimed {
            new: row.try_get("", "new")?,
        }
    } else {
        let holder = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT contact_id FROM contact_emails WHERE tenant_id = $1 AND email = $2",
                [tenant.into(), email.into()],
            ))
            .await?
            .map(|r| r.try_get::<Uuid>("", "contact_id"))
            .transpose()?;
        Claim::Taken {
            by: holder.unwrap_or_default(),
        }
    };
    Ok(outcome)
}

/// Releases `email` if `contact_id` holds it, through `txn` (the command's transaction).
///
/// # Errors
/// Any database error.
pub async fn release_contact_email<C: ConnectionTrait>(
    txn: &C,
    scope: &TenantScope,
    email: &str,
    contact_id: Uuid,
) -> Result<(), DbErr> {
    txn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "DELETE FROM contact_emails WHERE tenant_id = $1 AND email = $2 AND contact_id = $3",
        [scope.tenant().0.into(), email.into(), contact_id.into()],
    ))
    .await?;
    Ok(())
}

/// The contacts holding any of `emails` (as [`claim_contact_email`] takes them:
/// normalised), by email: one index lookup per email.
///
/// # Errors
/// Any database error.
pub async fn email_holders(
    db: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    emails: Vec<String>,
) -> Result<std::collections::HashMap<String, Uuid>, DbErr> {
    if emails.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let txn = scope.read(db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT email, contact_id FROM contact_emails WHERE tenant_id = $1 AND email = ANY($2)",
            [scope.tenant().0.into(), emails.into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| Ok((row.try_get("", "email")?, row.try_get("", "contact_id")?)))
        .collect()
}
