//! The schema stays distributable by tenant (`docs/scale-out.md`): on Citus, with
//! `tenant_id` as the distribution column, a unique key can only be enforced when it
//! includes that column, and a foreign key between two distributed tables only when it
//! joins on it. These tests read the migrated catalog and fail on the first key that
//! would not distribute, and on a table that is neither a tenant table nor a declared
//! global one.

use sqlx::PgPool;

use crate::helpers::spawn_app;

/// Tables with a `tenant_id` whose key is something else, on purpose: registries that map
/// a globally unique name to its workspace, read before any tenant is known. On Citus they
/// become reference tables (a copy on every node).
const GLOBAL_REGISTRIES: [&str; 2] = ["login_emails", "workspace_slugs"];

/// Tables without a `tenant_id`: state of the service, not of a workspace. On Citus they
/// stay on the coordinator (local tables) or become reference tables; see the document.
const SERVICE_TABLES: [&str; 7] = [
    "personal_data_key_check",
    "projector_checkpoints",
    "rate_limits",
    "seaql_migrations",
    "security_log",
    "support_accounts",
    "support_sessions",
];

/// Each unique index (primary keys and unique constraints included) of a tenant table
/// that does not start with `tenant_id`, as `table: definition`.
async fn keys_without_tenant(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname || ': ' || pg_get_indexdef(i.indexrelid)
           FROM pg_index i
           JOIN pg_class c ON c.oid = i.indrelid
          WHERE c.relnamespace = 'public'::regnamespace
            AND i.indisunique
            AND EXISTS (SELECT 1 FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
            AND c.relname <> ALL ($1)
            AND (SELECT a.attname FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attnum = i.indkey[0]) IS DISTINCT FROM 'tenant_id'
          ORDER BY 1",
    )
    .bind(GLOBAL_REGISTRIES.map(String::from).to_vec())
    .fetch_all(db)
    .await
    .unwrap_or_else(|e| panic!("unique indexes: {e}"))
}

/// Each foreign key between two tenant tables whose columns do not pair `tenant_id` with
/// `tenant_id`, as `table: definition`.
async fn foreign_keys_without_tenant(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "WITH tenant_tables AS (
           SELECT c.oid FROM pg_class c
            WHERE c.relnamespace = 'public'::regnamespace
              AND EXISTS (SELECT 1 FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
         SELECT con.conrelid::regclass::text || ': ' || pg_get_constraintdef(con.oid)
           FROM pg_constraint con
          WHERE con.contype = 'f'
            AND con.conrelid IN (SELECT oid FROM tenant_tables)
            AND con.confrelid IN (SELECT oid FROM tenant_tables)
            AND NOT EXISTS (
                  SELECT 1 FROM unnest(con.conkey, con.confkey) AS k(own, other)
                   WHERE (SELECT attname FROM pg_attribute
                           WHERE attrelid = con.conrelid AND attnum = k.own) = 'tenant_id'
                     AND (SELECT attname FROM pg_attribute
                           WHERE attrelid = con.confrelid AND attnum = k.other) = 'tenant_id')
          ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap_or_else(|e| panic!("foreign keys: {e}"))
}

/// The tables without a `tenant_id` column, sorted.
async fn tables_without_tenant(db: &PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
          WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
            AND NOT EXISTS (SELECT 1 FROM pg_attribute a
                             WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
          ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap_or_else(|e| panic!("tables: {e}"))
}

#[tokio::test]
async fn every_key_of_a_tenant_table_starts_with_tenant_id() {
    let app = spawn_app().await;
    let db = app.pool_as(None).await;
    assert_eq!(keys_without_tenant(&db).await, Vec::<String>::new());
    assert_eq!(foreign_keys_without_tenant(&db).await, Vec::<String>::new());
    assert_eq!(tables_without_tenant(&db).await, SERVICE_TABLES);
    // The registries exist (a renamed one must be renamed here too) and are keyed by the
    // name they register.
    let registry_keys: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname || ' ' || a.attname FROM pg_index i
           JOIN pg_class c ON c.oid = i.indrelid
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
          WHERE i.indisprimary AND c.relname = ANY ($1) ORDER BY 1",
    )
    .bind(GLOBAL_REGISTRIES.map(String::from).to_vec())
    .fetch_all(&db)
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        registry_keys,
        ["login_emails email", "workspace_slugs slug"]
    );
}

#[tokio::test]
async fn the_checks_find_a_key_that_would_not_distribute() {
    // The checks above pass on an empty answer; here each is shown a table that breaks
    // its rule, so that a query that found nothing for a wrong reason fails.
    let app = spawn_app().await;
    let db = app.pool_as(None).await;
    for ddl in [
        "CREATE TABLE probe_parent (tenant_id uuid NOT NULL, id uuid NOT NULL, code text,
           PRIMARY KEY (tenant_id, id), UNIQUE (id))",
        "CREATE UNIQUE INDEX probe_code ON probe_parent (code, tenant_id)",
        "CREATE TABLE probe_child (tenant_id uuid NOT NULL, id uuid PRIMARY KEY,
           parent uuid REFERENCES probe_parent (id))",
        "CREATE TABLE probe_service (name text PRIMARY KEY)",
    ] {
        sqlx::query(ddl)
            .execute(&db)
            .await
            .unwrap_or_else(|e| panic!("{ddl}: {e}"));
    }
    let keys = keys_without_tenant(&db).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    for table in ["probe_child: ", "probe_parent: "] {
        assert!(keys.iter().any(|k| k.starts_with(table)), "{keys:?}");
    }
    assert!(keys.iter().any(|k| k.contains("probe_code")), "{keys:?}");
    let foreign = foreign_keys_without_tenant(&db).await;
    assert_eq!(foreign.len(), 1, "{foreign:?}");
    assert!(foreign[0].starts_with("probe_child: "), "{foreign:?}");
    let tables = tables_without_tenant(&db).await;
    assert!(tables.contains(&"probe_service".to_owned()), "{tables:?}");
    assert_ne!(tables, SERVICE_TABLES);
}
