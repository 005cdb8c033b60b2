crate::sql_migration!(
    "sql/000026_request_counts_per_connection.up.sql",
    "sql/000026_request_counts_per_connection.down.sql"
);
