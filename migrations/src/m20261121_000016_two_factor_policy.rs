crate::sql_migration!(
    "sql/000016_two_factor_policy.up.sql",
    "sql/000016_two_factor_policy.down.sql"
);
