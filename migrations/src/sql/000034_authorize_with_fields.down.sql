-- The session check of migration 000026, without the field schema.
DROP FUNCTION crm_authorize(uuid, uuid, uuid, timestamptz, boolean, text, boolean);
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

