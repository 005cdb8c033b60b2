-- API keys (stored as SHA-256 hashes; shown once at creation) and the log of every
-- request made with one.
CREATE TABLE api_keys (
  tenant_id    uuid        NOT NULL,
  id           uuid        NOT NULL,
  name         text        NOT NULL,
  key_hash     bytea       NOT NULL,
  role         text        NOT NULL,
  created_by   uuid        NOT NULL,
  created_at   timestamptz NOT NULL,
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz,
  PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX api_keys_by_hash ON api_keys (tenant_id, key_hash);

CREATE TABLE api_key_requests (
  tenant_id   uuid        NOT NULL,
  id          bigint      GENERATED ALWAYS AS IDENTITY,
  key_id      uuid        NOT NULL,
  method      text        NOT NULL,
  path        text        NOT NULL,
  status      smallint    NOT NULL,
  ip          text,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX api_key_requests_by_key ON api_key_requests (tenant_id, key_id, id);

REVOKE ALL ON api_keys, api_key_requests FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON api_keys TO crm_app;
GRANT SELECT, INSERT ON api_key_requests TO crm_app;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['api_keys', 'api_key_requests'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_app USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant())', t || '_app', t);
  END LOOP;
END $$;
