crate::sql_migration!("sql/000001_roles.up.sql", "sql/000001_roles.down.sql");
