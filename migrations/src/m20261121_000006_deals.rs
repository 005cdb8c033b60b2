crate::sql_migration!("sql/000006_deals.up.sql", "sql/000006_deals.down.sql");
