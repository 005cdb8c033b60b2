-- One command, one transaction. A command's events, its contact-email claims, its
-- contact's data key, its inline read rows and the mark on its Idempotency-Key commit
-- together or not at all, so they must be written through one connection, as one role:
-- `crm_command`. Every policy it has is the tenant's own (`app.tenant_id`, set by the
-- command's transaction from the command's metadata): unlike `crm_store` and
-- `crm_projector`, which serve paths that span tenants (restore, the catch-up projector),
-- the command path cannot read or write another tenant's rows even by a bug in our code.
-- It may insert events but, like every role, never change or remove one (the triggers of
-- 000002 refuse UPDATE, DELETE and TRUNCATE for everyone).
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_command') THEN
    BEGIN
      CREATE ROLE crm_command LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL;
    END;
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO crm_command;

GRANT SELECT, INSERT ON events TO crm_command;
CREATE POLICY events_command ON events FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());

-- A contact's first sealed event makes its data key; only the erasure trigger (as the
-- owner) ever changes one.
GRANT SELECT, INSERT ON contact_keys TO crm_command;
CREATE POLICY contact_keys_command ON contact_keys FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant())
  WITH CHECK (tenant_id = crm_current_tenant() AND wrapped IS NOT NULL AND erased_at IS NULL);

-- The read models the inline projection writes, the claims, and the idempotency record
-- the command marks (and an erasure purges of the contact's personal data).
GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces, users, companies, contacts, pipelines,
  pipeline_stages, deals, activities, contact_companies, contact_emails, idempotency_keys
  TO crm_command;
REVOKE INSERT ON idempotency_keys FROM crm_command;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['workspaces', 'users', 'companies', 'contacts', 'pipelines',
                           'pipeline_stages', 'deals', 'activities', 'contact_companies',
                           'contact_emails', 'idempotency_keys'] LOOP
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_command USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant())', t || '_command', t);
  END LOOP;
END $$;

-- Exactly once under an Idempotency-Key: each command a keyed request runs adds its
-- stream to `committed` in the command's own transaction. A retry after an unknown
-- outcome (the answer lost after the commit) finds the stream there and does not run
-- that command again; it answers from the record as it is.
ALTER TABLE idempotency_keys ADD COLUMN committed text[] NOT NULL DEFAULT '{}';
