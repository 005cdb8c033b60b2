crate::sql_migration!(
    "sql/000009_contact_companies.up.sql",
    "sql/000009_contact_companies.down.sql"
);
