crate::sql_migration!(
    "sql/000021_shadow_rebuild.up.sql",
    "sql/000021_shadow_rebuild.down.sql"
);
