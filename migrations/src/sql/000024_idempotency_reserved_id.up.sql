-- A key reserves the id of the record its request creates, so a retry after an unknown
-- outcome (a 5xx, a lost answer, a killed server) creates that same record, which then
-- already exists, instead of a second one. A failed request now releases its lease
-- (leased_at NULL) instead of forgetting the key, and a lapsed lease is taken over, both
-- keeping reserved_id. lease_id names the attempt holding the lease, so an attempt that
-- lost its lease can neither release nor complete the one that took it over. The
-- defaults keep inserts of a server still on the previous version working.
ALTER TABLE idempotency_keys ADD COLUMN reserved_id uuid;
ALTER TABLE idempotency_keys ADD COLUMN leased_at timestamptz;
ALTER TABLE idempotency_keys ADD COLUMN lease_id uuid;
UPDATE idempotency_keys SET reserved_id = gen_random_uuid(), lease_id = gen_random_uuid(),
  leased_at = CASE WHEN status IS NULL THEN created_at END;
ALTER TABLE idempotency_keys ALTER COLUMN reserved_id SET DEFAULT gen_random_uuid();
ALTER TABLE idempotency_keys ALTER COLUMN reserved_id SET NOT NULL;
ALTER TABLE idempotency_keys ALTER COLUMN leased_at SET DEFAULT now();
