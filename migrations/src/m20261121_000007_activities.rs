crate::sql_migration!(
    "sql/000007_activities.up.sql",
    "sql/000007_activities.down.sql"
);
