crate::sql_migration!(
    "sql/000022_record_snapshots.up.sql",
    "sql/000022_record_snapshots.down.sql"
);
