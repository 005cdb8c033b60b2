crate::sql_migration!("sql/000011_sessions.up.sql", "sql/000011_sessions.down.sql");
