REVOKE SELECT, INSERT, UPDATE ON rate_limits FROM crm_command;
DROP POLICY IF EXISTS totp_secrets_command ON totp_secrets;
REVOKE SELECT ON totp_secrets FROM crm_command;
DROP FUNCTION IF EXISTS crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text, boolean);
-- crm_authorize as migration 000025 made it: one counter row per workspace and minute.
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
DROP FUNCTION IF EXISTS crm_count_request(text, timestamptz);
