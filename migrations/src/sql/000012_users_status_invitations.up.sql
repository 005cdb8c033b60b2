-- Users have a status (invited, active, deactivated); invitations are single-use tokens,
-- kept as SHA-256 hashes, valid 72 hours.
ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'active' CHECK (status IN ('invited', 'active', 'deactivated'));

CREATE TABLE invitations (
  tenant_id  uuid        NOT NULL,
  token_hash bytea       NOT NULL,
  user_id    uuid        NOT NULL,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (tenant_id, token_hash)
);
REVOKE ALL ON invitations FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON invitations TO crm_app;
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY invitations_app ON invitations FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
