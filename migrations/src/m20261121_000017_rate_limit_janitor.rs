crate::sql_migration!(
    "sql/000017_rate_limit_janitor.up.sql",
    "sql/000017_rate_limit_janitor.down.sql"
);
