//! The session check returns the workspace's custom field schema too (see the SQL).

crate::sql_migration!(
    "sql/000034_authorize_with_fields.up.sql",
    "sql/000034_authorize_with_fields.down.sql"
);
