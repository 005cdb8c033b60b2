//! Match keys and indexes for duplicate candidates (see the SQL).

crate::sql_migration!(
    "sql/000035_duplicates.up.sql",
    "sql/000035_duplicates.down.sql"
);
