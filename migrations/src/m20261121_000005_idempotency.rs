crate::sql_migration!(
    "sql/000005_idempotency.up.sql",
    "sql/000005_idempotency.down.sql"
);
