-- Responses to POST requests that carried an Idempotency-Key, per workspace, so a retry
-- gets the first answer instead of running the command again. Kept at least 24 hours.
CREATE TABLE idempotency_keys (
  tenant_id    uuid        NOT NULL,
  key          text        NOT NULL,
  request_hash text        NOT NULL,
  status       smallint,            -- NULL while the first request is still running
  content_type text,
  location     text,
  etag         text,
  body         bytea,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (tenant_id, created_at);

REVOKE ALL ON idempotency_keys FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO crm_app;
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY idempotency_keys_app ON idempotency_keys FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
