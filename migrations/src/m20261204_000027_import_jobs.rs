crate::sql_migration!(
    "sql/000027_import_jobs.up.sql",
    "sql/000027_import_jobs.down.sql"
);
