DROP POLICY idempotency_keys_janitor ON idempotency_keys;
REVOKE SELECT, DELETE ON idempotency_keys FROM crm_projector;
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys DROP COLUMN user_id;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (tenant_id, key);
