crate::sql_migration!(
    "sql/000002_event_store.up.sql",
    "sql/000002_event_store.down.sql"
);
