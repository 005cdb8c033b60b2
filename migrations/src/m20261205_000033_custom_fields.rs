//! Custom fields: record tables keep their values by API key (see the SQL).

crate::sql_migration!(
    "sql/000033_custom_fields.up.sql",
    "sql/000033_custom_fields.down.sql"
);
