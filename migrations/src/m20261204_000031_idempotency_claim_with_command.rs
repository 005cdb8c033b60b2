//! The command role may claim an `Idempotency-Key`, so the claim commits with the command
//! (see the SQL).

crate::sql_migration!(
    "sql/000031_idempotency_claim_with_command.up.sql",
    "sql/000031_idempotency_claim_with_command.down.sql"
);
