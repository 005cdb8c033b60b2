//! A search's last word matches as a prefix, the others as whole words (see the SQL).

crate::sql_migration!(
    "sql/000032_search_prefix_last.up.sql",
    "sql/000032_search_prefix_last.down.sql"
);
