crate::sql_migration!(
    "sql/000013_password_resets.up.sql",
    "sql/000013_password_resets.down.sql"
);
