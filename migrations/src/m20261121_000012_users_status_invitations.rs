crate::sql_migration!(
    "sql/000012_users_status_invitations.up.sql",
    "sql/000012_users_status_invitations.down.sql"
);
