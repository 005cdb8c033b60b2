//! The security log (`security_log`, global): security events that belong to no
//! workspace, such as a failed sign-in for an unknown email (stored hashed).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

fn stmt(sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
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
