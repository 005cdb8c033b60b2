//! Search documents with custom values (see the SQL).

crate::sql_migration!(
    "sql/000037_search_custom_values.up.sql",
    "sql/000037_search_custom_values.down.sql"
);
