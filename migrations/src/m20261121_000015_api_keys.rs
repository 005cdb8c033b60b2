crate::sql_migration!("sql/000015_api_keys.up.sql", "sql/000015_api_keys.down.sql");
