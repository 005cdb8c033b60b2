//! Webhook endpoints, messages and attempts (see the SQL).

crate::sql_migration!("sql/000040_webhooks.up.sql", "sql/000040_webhooks.down.sql");
