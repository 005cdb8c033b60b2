crate::sql_migration!(
    "sql/000019_support_access.up.sql",
    "sql/000019_support_access.down.sql"
);
