crate::sql_migration!(
    "sql/000020_personal_data_keys.up.sql",
    "sql/000020_personal_data_keys.down.sql"
);
