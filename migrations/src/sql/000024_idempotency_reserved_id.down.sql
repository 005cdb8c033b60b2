ALTER TABLE idempotency_keys DROP COLUMN lease_id;
ALTER TABLE idempotency_keys DROP COLUMN leased_at;
ALTER TABLE idempotency_keys DROP COLUMN reserved_id;
