-- Two-factor sign-in (RFC 6238 TOTP). The shared secret is stored encrypted with
-- AES-256-GCM under a key from the server's configuration, bound to its tenant and user
-- as associated data, so a database dump alone does not reveal it. `last_step` is the
-- last time step accepted: a code is accepted once. Recovery codes are stored as SHA-256
-- hashes (they are 50-bit random, not passwords).
CREATE TABLE totp_secrets (
  tenant_id    uuid        NOT NULL,
  user_id      uuid        NOT NULL,
  ciphertext   bytea       NOT NULL,
  nonce        bytea       NOT NULL,
  confirmed_at timestamptz,
  last_step    bigint      NOT NULL DEFAULT -1,
  PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE recovery_codes (
  tenant_id uuid        NOT NULL,
  user_id   uuid        NOT NULL,
  code_hash bytea       NOT NULL,
  used_at   timestamptz,
  PRIMARY KEY (tenant_id, user_id, code_hash)
);
REVOKE ALL ON totp_secrets, recovery_codes FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON totp_secrets, recovery_codes TO crm_app;
DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['totp_secrets', 'recovery_codes'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_app USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant())', t || '_app', t);
  END LOOP;
END $$;
