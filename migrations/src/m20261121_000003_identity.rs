crate::sql_migration!("sql/000003_identity.up.sql", "sql/000003_identity.down.sql");
