-- Sign-in sessions and their refresh tokens, login rate limits, and the system security
-- log. No secret is stored in the clear: refresh tokens are kept as SHA-256 hashes.

CREATE TABLE sessions (
  tenant_id      uuid        NOT NULL,
  id             uuid        NOT NULL,
  user_id        uuid        NOT NULL,
  created_at     timestamptz NOT NULL,
  last_used_at   timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL,
  revoked_at     timestamptz,
  revoked_reason text,
  ip             text,
  user_agent     text,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);

-- One row per refresh token ever issued: a token is used once; presenting a used one
-- revokes its session (the whole rotation family).
CREATE TABLE refresh_tokens (
  tenant_id  uuid        NOT NULL,
  token_hash bytea       NOT NULL,
  session_id uuid        NOT NULL,
  created_at timestamptz NOT NULL,
  used_at    timestamptz,
  PRIMARY KEY (tenant_id, token_hash)
);

-- Fixed-window counters shared by every server process (so limits survive restarts and
-- hold across processes). Keys name what is limited: `login-ip:203.0.113.9`, …
CREATE TABLE rate_limits (
  key          text        PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits         integer     NOT NULL
);

-- Security events that belong to no workspace (a failed login for an unknown email).
CREATE TABLE security_log (
  id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at timestamptz NOT NULL,
  kind        text        NOT NULL,
  subject     text,
  ip          text,
  user_agent  text
);

REVOKE ALL ON sessions, refresh_tokens, rate_limits, security_log FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON sessions, refresh_tokens TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO crm_app;
GRANT INSERT ON security_log TO crm_app;
GRANT SELECT ON security_log TO crm_projector;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['sessions', 'refresh_tokens'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_app USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant())', t || '_app', t);
  END LOOP;
END $$;
