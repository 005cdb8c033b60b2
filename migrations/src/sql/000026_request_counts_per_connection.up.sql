-- A request is one transaction: its session check (`crm_authorize`) commits with its
-- query (a read, as `crm_app`) or its command (a write, as `crm_command`). The check counts the request against its workspace's per-minute budget,
-- and a single counter row per workspace would then stay locked for the whole read, so
-- every read of a workspace would wait for the one before it. The count is spread over 16
-- rows per workspace and minute instead, one picked by the database connection
-- (`pg_backend_pid() % 16`), and the budget is their sum: concurrent requests on different
-- connections update different rows.

-- Counts one request of a workspace's minute `p_key` (`workspace:<tenant>:<minute>`) and
-- returns the minute's requests so far across every row of it (the other rows as of this
-- statement's snapshot, so concurrent requests may each miss the others' last hit).
CREATE FUNCTION crm_count_request(p_key text, p_now timestamptz)
  RETURNS integer
  LANGUAGE sql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $$
  WITH mine AS (
      INSERT INTO rate_limits AS r (key, window_start, hits)
      VALUES (p_key || '#' || (pg_backend_pid() % 16), p_now, 1)
      ON CONFLICT (key) DO UPDATE SET hits = r.hits + 1
      RETURNING r.key, r.hits
  )
  SELECT (SELECT hits FROM mine)
       + COALESCE((SELECT sum(o.hits)::integer FROM rate_limits o
                    WHERE o.key = ANY (ARRAY(SELECT p_key || '#' || g FROM generate_series(0, 15) g))
                      AND o.key <> (SELECT key FROM mine)), 0)
$$;
REVOKE ALL ON FUNCTION crm_count_request(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_count_request(text, timestamptz) TO crm_app;

-- The check itself, now callable by the command role too, and told whether the
-- transaction it opens must be durable: a read's only write is the request count, whose
-- last fraction of a second a crash may lose, so its commit does not wait for the WAL to
-- reach the disk; a write's commit always does.
DROP FUNCTION crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text);
CREATE FUNCTION crm_authorize(p_tenant uuid, p_session uuid, p_user uuid, p_now timestamptz,
                              p_two_factor_rule boolean, p_rate_key text, p_durable boolean)
  RETURNS TABLE (active boolean, lacks_two_factor boolean, hits integer)
  LANGUAGE plpgsql VOLATILE SECURITY INVOKER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
  v_active boolean;
BEGIN
  PERFORM set_config('app.tenant_id', p_tenant::text, true);
  IF NOT p_durable THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  SELECT EXISTS (
      SELECT 1 FROM sessions s
        JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
       WHERE s.tenant_id = p_tenant AND s.id = p_session AND s.user_id = p_user
         AND s.revoked_at IS NULL AND s.expires_at > p_now AND u.status = 'active'
  ) INTO v_active;
  RETURN QUERY
  SELECT v_active,
         p_two_factor_rule AND COALESCE((
             SELECT w.require_two_factor AND NOT EXISTS (
                        SELECT 1 FROM totp_secrets t
                         WHERE t.tenant_id = w.tenant_id AND t.user_id = p_user
                           AND t.confirmed_at IS NOT NULL)
               FROM workspaces w WHERE w.tenant_id = p_tenant), false),
         CASE WHEN v_active AND p_rate_key IS NOT NULL
              THEN crm_count_request(p_rate_key, p_now) END;
END $$;
REVOKE ALL ON FUNCTION crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text, boolean)
  TO crm_app, crm_command;

-- What the check reads and counts, for the command role: its own tenant's two-factor
-- secrets (whether one is confirmed) and the global request counters.
GRANT EXECUTE ON FUNCTION crm_count_request(text, timestamptz) TO crm_command;
GRANT SELECT ON totp_secrets TO crm_command;
CREATE POLICY totp_secrets_command ON totp_secrets FOR SELECT TO crm_command
  USING (tenant_id = crm_current_tenant());
GRANT SELECT, INSERT, UPDATE ON rate_limits TO crm_command;
