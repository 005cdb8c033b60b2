//! The tombstone's pointer to its survivor (see the SQL).

crate::sql_migration!("sql/000036_merges.up.sql", "sql/000036_merges.down.sql");
