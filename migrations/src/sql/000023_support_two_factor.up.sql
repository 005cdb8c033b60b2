-- Support accounts sign in with a password and a TOTP code (RFC 6238), always: they are
-- the most powerful principals. The secret is sealed like users' (AES-256-GCM under
-- auth.totp_encryption_key, bound to the account); the last accepted time step stops a
-- code from being used twice. An account made before this migration has no secret and
-- cannot sign in until it is made again.
ALTER TABLE support_accounts
  ADD COLUMN totp_ciphertext bytea,
  ADD COLUMN totp_nonce      bytea,
  ADD COLUMN totp_last_step  bigint NOT NULL DEFAULT 0;
GRANT UPDATE (totp_last_step) ON support_accounts TO crm_app;
