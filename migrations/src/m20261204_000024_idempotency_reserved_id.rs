crate::sql_migration!(
    "sql/000024_idempotency_reserved_id.up.sql",
    "sql/000024_idempotency_reserved_id.down.sql"
);
