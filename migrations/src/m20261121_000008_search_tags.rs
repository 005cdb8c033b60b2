crate::sql_migration!(
    "sql/000008_search_tags.up.sql",
    "sql/000008_search_tags.down.sql"
);
