crate::sql_migration!(
    "sql/000018_hash_chain.up.sql",
    "sql/000018_hash_chain.down.sql"
);
