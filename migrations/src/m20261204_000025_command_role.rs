crate::sql_migration!(
    "sql/000025_command_role.up.sql",
    "sql/000025_command_role.down.sql"
);
