crate::sql_migration!(
    "sql/000029_rebuild_analyze.up.sql",
    "sql/000029_rebuild_analyze.down.sql"
);
