crate::sql_migration!(
    "sql/000014_two_factor.up.sql",
    "sql/000014_two_factor.down.sql"
);
