-- Registries written before a command runs, so that uniqueness across streams holds even
-- under concurrent requests: a workspace slug, a login email, a contact email per tenant.

-- Slug -> tenant. Global by nature (a slug names one tenant among all).
CREATE TABLE workspace_slugs (
  slug       text        PRIMARY KEY,
  tenant_id  uuid        NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Login secrets. Never in an event. email is unique across the system: a user belongs to
-- one workspace and signs in with the email alone.
CREATE TABLE credentials (
  tenant_id     uuid        NOT NULL,
  user_id       uuid        NOT NULL,
  email         text        NOT NULL,
  password_hash text        NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id)
);
CREATE UNIQUE INDEX credentials_email ON credentials (email);

-- Contact email claims: one live claim per (tenant, email).
CREATE TABLE contact_emails (
  tenant_id  uuid        NOT NULL,
  email      text        NOT NULL,
  contact_id uuid        NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, email)
);

REVOKE ALL ON workspace_slugs, credentials, contact_emails FROM PUBLIC;
GRANT SELECT, INSERT, DELETE ON workspace_slugs TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON credentials TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON contact_emails TO crm_app;
GRANT SELECT ON workspace_slugs, credentials TO crm_projector;
GRANT SELECT, INSERT, UPDATE, DELETE ON contact_emails TO crm_projector;

ALTER TABLE workspace_slugs ENABLE ROW LEVEL SECURITY;
ALTER TABLE workspace_slugs FORCE ROW LEVEL SECURITY;
CREATE POLICY workspace_slugs_app ON workspace_slugs FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY workspace_slugs_projector ON workspace_slugs FOR SELECT TO crm_projector
  USING (true);

ALTER TABLE credentials ENABLE ROW LEVEL SECURITY;
ALTER TABLE credentials FORCE ROW LEVEL SECURITY;
CREATE POLICY credentials_app ON credentials FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
-- Sign-in happens before the tenant is known: the login transaction names the one email
-- it looks up with set_config('app.login_email', $1, true) and sees that row only.
CREATE POLICY credentials_login ON credentials FOR SELECT TO crm_app
  USING (email = nullif(current_setting('app.login_email', true), ''));
CREATE POLICY credentials_projector ON credentials FOR SELECT TO crm_projector
  USING (true);

ALTER TABLE contact_emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_emails FORCE ROW LEVEL SECURITY;
CREATE POLICY contact_emails_app ON contact_emails FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY contact_emails_projector ON contact_emails FOR ALL TO crm_projector
  USING (true) WITH CHECK (true);
