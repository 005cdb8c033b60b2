-- Restore the 000002 trigger function (without the hash) before the column goes.
CREATE OR REPLACE FUNCTION events_before_insert() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  meta_tenant   uuid;
  stream_tenant uuid;
BEGIN
  IF NEW.aggregate_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
    RAISE EXCEPTION 'stream id % is not <tenant uuid>:<entity uuid>', NEW.aggregate_id
      USING ERRCODE = 'check_violation';
  END IF;
  BEGIN
    meta_tenant   := (NEW.metadata ->> 'tenant_id')::uuid;
    stream_tenant := split_part(NEW.aggregate_id, ':', 1)::uuid;
  EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION 'event tenant or stream id is not a uuid (stream %)', NEW.aggregate_id
      USING ERRCODE = 'check_violation';
  END;
  IF meta_tenant IS NULL THEN
    RAISE EXCEPTION 'event metadata has no tenant_id (stream %)', NEW.aggregate_id
      USING ERRCODE = 'not_null_violation';
  END IF;
  IF meta_tenant <> stream_tenant THEN
    RAISE EXCEPTION 'tenant % does not own stream %', meta_tenant, NEW.aggregate_id
      USING ERRCODE = 'check_violation';
  END IF;
  NEW.tenant_id      := meta_tenant;
  NEW.transaction_id := pg_current_xact_id();
  NEW.recorded_at    := clock_timestamp();
  RETURN NEW;
END $$;

DROP TABLE audit_checkpoints;
ALTER TABLE events DROP COLUMN hash;
DROP FUNCTION crm_event_hash(bytea, text, text, bigint, text, text, jsonb, jsonb);
