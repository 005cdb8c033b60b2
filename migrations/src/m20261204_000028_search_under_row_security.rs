crate::sql_migration!(
    "sql/000028_search_under_row_security.up.sql",
    "sql/000028_search_under_row_security.down.sql"
);
