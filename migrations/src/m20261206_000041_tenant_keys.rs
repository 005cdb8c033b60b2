//! Every key of a tenant table starts with `tenant_id`; the login-email registry (see the
//! SQL).

crate::sql_migration!(
    "sql/000041_tenant_keys.up.sql",
    "sql/000041_tenant_keys.down.sql"
);
