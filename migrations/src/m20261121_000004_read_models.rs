crate::sql_migration!(
    "sql/000004_read_models.up.sql",
    "sql/000004_read_models.down.sql"
);
