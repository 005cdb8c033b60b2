crate::sql_migration!(
    "sql/000010_idempotency_per_user.up.sql",
    "sql/000010_idempotency_per_user.down.sql"
);
