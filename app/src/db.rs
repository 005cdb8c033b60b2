//! Database connections: the owner (migrations), and the server's four roles.

use std::time::Duration;

use crm_migrations::{roles, Migrator};
use sea_orm::{DatabaseConnection, SqlxPostgresConnector};
use sea_orm_migration::MigratorTrait;
use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::config::{ConfigError, DatabaseSettings};

/// A failure to reach or prepare the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// sqlx failed.
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sea_orm::DbErr),
    /// The private cluster could not start.
    #[error("private cluster: {0}")]
    Private(String),
}

/// The pools of the server's roles.
#[derive(Clone, Debug)]
pub struct Pools {
    /// `crm_store`: appends and reads events of any tenant (backup and restore) and
    /// checks the master key.
    pub store: PgPool,
    /// `crm_command`: every command's one transaction ([`crate::unit_of_work`]), under
    /// row-level security.
    pub command: DatabaseConnection,
    /// `crm_app`: request handlers read through it, under row-level security.
    pub app: DatabaseConnection,
    /// `crm_projector`: the projectors write read models through it.
    pub projector: DatabaseConnection,
    /// `crm_app` at the hot standby (`database.replica_url`), when there is one: the
    /// reads [`crate::replica::Reads`] sends there. Connected lazily: a standby that is
    /// down does not keep the server from starting.
    pub replica: Option<DatabaseConnection>,
}

/// Key of the advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x0C72_4D16;

/// Makes sure the database exists (creating it, or a private cluster, when allowed) and
/// runs every pending migration as the owner, under an advisory lock so that processes
/// starting together migrate once.
///
/// # Errors
/// [`DbError`].
pub async fn prepare(settings: &DatabaseSettings) -> Result<(), DbError> {
    let owner = settings.owner_options()?;
    if let Err(err) = ensure_database(settings, &owner).await {
        if !is_refused(&err) || settings.private_cluster_dir.is_empty() {
            return Err(err.into());
        }
        crate::private_cluster::start(&owner, &settings.private_cluster_dir)
            .map_err(DbError::Private)?;
        ensure_database(settings, &owner).await?;
    }
    migrate(owner.clone()).await?;
    if let Some(password) = &settings.role_password {
        set_role_passwords(owner, password.expose_secret()).await?;
    }
    Ok(())
}

/// Gives the server's roles `password`, so they can sign in where the server asks for
/// passwords (md5 or SCRAM in `pg_hba.conf`), not only under `trust`.
async fn set_role_passwords(owner: PgConnectOptions, password: &str) -> Result<(), DbError> {
    let mut conn = owner.connect().await?;
    // ALTER ROLE takes no bind parameters: quote the literal (standard_conforming_strings).
    let literal = format!("'{}'", password.replace('\'', "''"));
    for role in [roles::STORE, roles::APP, roles::PROJECTOR, roles::COMMAND] {
        sqlx::query(&format!("ALTER ROLE {role} PASSWORD {literal}"))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

/// Runs pending migrations as the owner.
///
/// # Errors
/// [`DbError`].
pub async fn migrate(owner: PgConnectOptions) -> Result<(), DbError> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(owner)
        .await?;
    let mut lock = pool.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *lock)
        .await?;
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
    let result = Migrator::up(&db, None).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *lock)
        .await?;
    drop(lock);
    pool.close().await;
    result.map_err(DbError::from)
}

/// Whether a connection error means nothing listens at the address.
fn is_refused(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound))
}

async fn ensure_database(
    settings: &DatabaseSettings,
    owner: &PgConnectOptions,
) -> Result<(), sqlx::Error> {
    let name = owner.get_database().unwrap_or("postgres").to_owned();
    match owner.connect().await {
        Ok(conn) => {
            drop(conn);
            Ok(())
        }
        Err(sqlx::Error::Database(e))
            if e.code().as_deref() == Some("3D000") && settings.create_if_missing =>
        {
            let mut admin = owner.clone().database("postgres").connect().await?;
            let quoted = format!("\"{}\"", name.replace('"', "\"\""));
            match sqlx::query(&format!("CREATE DATABASE {quoted}"))
                .execute(&mut admin)
                .await
            {
                Ok(_) => {
                    tracing::info!(database = %name, "created database");
                    Ok(())
                }
                // Another process created it first.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Connects the pools of the four server roles.
///
/// # Errors
/// [`DbError`].
pub async fn connect(settings: &DatabaseSettings) -> Result<Pools, DbError> {
    // Every connection names its process (`pg_stat_activity.application_name`), so that
    // an operator, or a test, sees which server holds a lock or runs a query.
    let name = application_name();
    let pool = |role: &str| -> Result<_, DbError> {
        Ok(PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
            .connect_lazy_with(settings.role_options(role)?.application_name(&name)))
    };
    let store = pool(roles::STORE)?;
    let app = pool(roles::APP)?;
    let projector = pool(roles::PROJECTOR)?;
    let command = pool(roles::COMMAND)?;
    // Fail fast on bad credentials or a missing role.
    for p in [&store, &app, &projector, &command] {
        sqlx::query("SELECT 1").execute(p).await?;
    }
    // A read gives up on the standby after `replica_wait_ms`, so a connection to it is
    // not waited for much longer (at least 250 ms: a new connection's handshake).
    let replica = settings.replica_options(roles::APP)?.map(|options| {
        let wait = Duration::from_millis(settings.replica_wait_ms.max(250));
        SqlxPostgresConnector::from_sqlx_postgres_pool(
            PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(wait)
                .connect_lazy_with(options.application_name(&name)),
        )
    });
    Ok(Pools {
        replica,
        store,
        app: SqlxPostgresConnector::from_sqlx_postgres_pool(app),
        projector: SqlxPostgresConnector::from_sqlx_postgres_pool(projector),
        command: SqlxPostgresConnector::from_sqlx_postgres_pool(command),
    })
}

/// The `application_name` of this process's connections: `crm/<pid>`.
pub fn application_name() -> String {
    format!("crm/{}", std::process::id())
}

/// Whether every known migration is applied (read as the application role).
///
/// # Errors
/// Any database error (the database is then not ready either).
pub async fn migrations_applied(app: &DatabaseConnection) -> Result<bool, sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let expected = Migrator::migrations().len() as i64;
    let row = app
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT count(*) AS n FROM seaql_migrations",
        ))
        .await?;
    let applied: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
    Ok(applied >= expected)
}
