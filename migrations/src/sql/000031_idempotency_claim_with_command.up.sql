-- An Idempotency-Key is claimed in the transaction its request's command then goes on in
-- (issue 10: the claim, the command and the stored answer commit together), and that
-- transaction runs as crm_command: the role inserts the key's row under the policy that
-- migration 000025 gave it (its own tenant's rows only).
GRANT INSERT ON idempotency_keys TO crm_command;
