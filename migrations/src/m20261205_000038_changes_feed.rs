//! The changes feed's tenant-first commit-order index (see the SQL).

crate::sql_migration!(
    "sql/000038_changes_feed.up.sql",
    "sql/000038_changes_feed.down.sql"
);
