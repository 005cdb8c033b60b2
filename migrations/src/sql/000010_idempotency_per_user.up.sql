-- An Idempotency-Key belongs to the user who sent it, not only to the workspace: a stored
-- answer is never replayed to another user (whose role may differ). Stored answers are a
-- 24-hour cache, so the ones present when this migration runs are dropped.
DELETE FROM idempotency_keys;
ALTER TABLE idempotency_keys ADD COLUMN user_id uuid NOT NULL;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (tenant_id, user_id, key);

-- The server's janitor (as the projector role) deletes expired keys of every workspace.
GRANT SELECT, DELETE ON idempotency_keys TO crm_projector;
CREATE POLICY idempotency_keys_janitor ON idempotency_keys FOR ALL TO crm_projector USING (true) WITH CHECK (true);
