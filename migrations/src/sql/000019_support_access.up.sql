-- Support staff: accounts outside every workspace, their sign-in sessions, the grants a
-- workspace's Owner gives them, and a record of every request they make under a grant.

-- Accounts and sessions belong to no tenant: support signs in before naming a workspace.
-- crm_app reads them to authenticate; only the owner (the CLI's migration role) or the
-- app's `create-support-account` path writes accounts.
CREATE TABLE support_accounts (
  id            uuid        PRIMARY KEY,
  email         text        NOT NULL UNIQUE,
  display_name  text        NOT NULL,
  password_hash text        NOT NULL,
  active        boolean     NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE support_sessions (
  token_hash  bytea       PRIMARY KEY,
  support_id  uuid        NOT NULL REFERENCES support_accounts (id),
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);
REVOKE ALL ON support_accounts, support_sessions FROM PUBLIC;
GRANT SELECT, INSERT ON support_accounts TO crm_app;
GRANT SELECT, INSERT, DELETE ON support_sessions TO crm_app;
ALTER TABLE support_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE support_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY support_accounts_app ON support_accounts TO crm_app USING (true) WITH CHECK (true);
ALTER TABLE support_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE support_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY support_sessions_app ON support_sessions TO crm_app USING (true) WITH CHECK (true);
-- The janitor (as the projector) purges expired sessions.
GRANT SELECT, DELETE ON support_sessions TO crm_projector;
CREATE POLICY support_sessions_projector ON support_sessions TO crm_projector USING (true);

-- Grants are the workspace's: tenant-first, under the tenant policy like every other row.
CREATE TABLE support_grants (
  tenant_id   uuid        NOT NULL,
  id          uuid        NOT NULL,
  support_id  uuid        NOT NULL REFERENCES support_accounts (id),
  scope       text        NOT NULL CHECK (scope IN ('read', 'recovery')),
  reason      text        NOT NULL,
  created_by  uuid        NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz,
  revoked_by  uuid,
  PRIMARY KEY (tenant_id, id),
  CHECK (expires_at > created_at)
);
CREATE INDEX support_grants_active ON support_grants (tenant_id, support_id, expires_at)
  WHERE revoked_at IS NULL;

-- The access record: one row per request made under a grant, never changed.
CREATE TABLE support_access (
  tenant_id  uuid        NOT NULL,
  id         bigint      GENERATED ALWAYS AS IDENTITY,
  grant_id   uuid        NOT NULL,
  support_id uuid        NOT NULL,
  method     text        NOT NULL,
  path       text        NOT NULL,
  ip         text,
  at         timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

REVOKE ALL ON support_grants, support_access FROM PUBLIC;
GRANT SELECT, INSERT ON support_grants TO crm_app;
-- A grant's scope, reason and expiry never change; only its revocation is written later.
GRANT UPDATE (revoked_at, revoked_by) ON support_grants TO crm_app;
GRANT SELECT, INSERT ON support_access TO crm_app;
ALTER TABLE support_grants ENABLE ROW LEVEL SECURITY;
ALTER TABLE support_grants FORCE ROW LEVEL SECURITY;
CREATE POLICY support_grants_app ON support_grants TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
ALTER TABLE support_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE support_access FORCE ROW LEVEL SECURITY;
CREATE POLICY support_access_app ON support_access TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
