-- Password-reset tokens: single-use, valid 30 minutes, kept as SHA-256 hashes.
CREATE TABLE password_resets (
  tenant_id  uuid        NOT NULL,
  token_hash bytea       NOT NULL,
  user_id    uuid        NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (tenant_id, token_hash)
);
REVOKE ALL ON password_resets FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON password_resets TO crm_app;
ALTER TABLE password_resets ENABLE ROW LEVEL SECURITY;
ALTER TABLE password_resets FORCE ROW LEVEL SECURITY;
CREATE POLICY password_resets_app ON password_resets FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
