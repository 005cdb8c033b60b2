REVOKE UPDATE (totp_last_step) ON support_accounts FROM crm_app;
ALTER TABLE support_accounts
  DROP COLUMN totp_last_step,
  DROP COLUMN totp_nonce,
  DROP COLUMN totp_ciphertext;
