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

-- A request's authorization in one statement, so a read is that statement plus its own
-- transaction (issue 10: session, two-factor policy and rate limit were a transaction of
-- four statements). Run as an autocommit statement: the tenant it sets for row-level
-- security is local to that statement's transaction and never outlives it. It runs as its
-- caller (crm_app), under every policy; inside a function its statements run in order,
-- so the tenant is set before the first row is read.
CREATE FUNCTION crm_authorize(p_tenant uuid, p_session uuid, p_user uuid, p_now timestamptz,
                              p_two_factor_rule boolean, p_rate_key text)
  RETURNS TABLE (active boolean, lacks_two_factor boolean, hits integer)
  LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  -- The only write here is the rate-limit count: a crash may lose the last fraction of a
  -- second of counts, which no one relies on, so this transaction does not wait for its
  -- WAL to reach the disk (every other transaction still does).
  PERFORM set_config('synchronous_commit', 'off', true);
  RETURN QUERY
  WITH live AS (
      SELECT EXISTS (
          SELECT 1 FROM sessions s
            JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
           WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.user_id = p_user
             AND s.revoked_at IS NULL AND s.expires_at > p_now AND u.status = 'active'
      ) AS active
  ),
  hit AS (
      INSERT INTO rate_limits AS r (key, window_start, hits)
      SELECT p_rate_key, p_now, 1 FROM live WHERE live.active AND p_rate_key IS NOT NULL
      ON CONFLICT (key) DO UPDATE SET
        window_start = CASE WHEN r.window_start + interval '60 seconds' <= p_now THEN p_now ELSE r.window_start END,
        hits = CASE WHEN r.window_start + interval '60 seconds' <= p_now THEN 1 ELSE r.hits + 1 END
      RETURNING r.hits
  )
  SELECT live.active,
         p_two_factor_rule AND COALESCE((
             SELECT w.require_two_factor AND NOT EXISTS (
                        SELECT 1 FROM totp_secrets t
                         WHERE t.tenant_id = w.tenant_id AND t.user_id = p_user
                           AND t.confirmed_at IS NOT NULL)
               FROM workspaces w WHERE w.tenant_id = p_tenant), false),
         (SELECT hit.hits FROM hit)
    FROM live;
END $$;
REVOKE ALL ON FUNCTION crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text) TO crm_app;

-- A sign-up is one unit of work too: the workspace's slug and its founder's credentials
-- are written with the workspace's first events, in the new tenant's scope.
GRANT SELECT, INSERT ON workspace_slugs, credentials TO crm_command;
CREATE POLICY workspace_slugs_command ON workspace_slugs FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY credentials_command ON credentials FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());

-- Accepting an invitation and confirming a password reset are units of work too: the
-- token is spent, the password set (and, for a reset, the sessions ended) with the user's
-- event, or not at all.
GRANT SELECT, UPDATE ON invitations, password_resets, sessions TO crm_command;
GRANT UPDATE ON credentials TO crm_command;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['invitations', 'password_resets', 'sessions'] LOOP
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_command USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant())', t || '_command', t);
  END LOOP;
END $$;

-- A sign-in opens its session with its `LoginSucceeded` event, a sign-out ends sessions
-- with its `LoggedOut` event, each in one transaction.
GRANT INSERT ON sessions, refresh_tokens TO crm_command;
CREATE POLICY refresh_tokens_command ON refresh_tokens FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
