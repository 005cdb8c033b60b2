crate::sql_migration!(
    "sql/000023_support_two_factor.up.sql",
    "sql/000023_support_two_factor.down.sql"
);
