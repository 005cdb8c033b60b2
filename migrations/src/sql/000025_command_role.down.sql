DROP FUNCTION IF EXISTS crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text);
ALTER TABLE idempotency_keys DROP COLUMN committed;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['events', 'contact_keys', 'workspace_slugs', 'credentials',
                           'invitations', 'password_resets', 'sessions', 'refresh_tokens',
                           'workspaces', 'users', 'companies',
                           'contacts', 'pipelines', 'pipeline_stages', 'deals', 'activities',
                           'contact_companies', 'contact_emails', 'idempotency_keys'] LOOP
    EXECUTE format('DROP POLICY IF EXISTS %I ON %I', t || '_command', t);
    EXECUTE format('REVOKE ALL ON %I FROM crm_command', t);
  END LOOP;
END $$;
REVOKE USAGE ON SCHEMA public FROM crm_command;
-- The role is shared by every database of the cluster and is left in place.
