-- A trail that proves it was not edited: every event carries a SHA-256 hash over its
-- stream, sequence, type, version, payload and metadata and the hash of the stream's
-- previous event, computed by the database on insert. Checkpoints sign each workspace's
-- stream heads with an HMAC whose key the database never holds.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE FUNCTION crm_event_hash(prev bytea, t text, id text, seq bigint, et text, ev text, payload jsonb, metadata jsonb)
  RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT digest(coalesce(prev, ''::bytea) || convert_to(
           t || E'\n' || id || E'\n' || seq::text || E'\n' || et || E'\n' || ev || E'\n' || payload::text || E'\n' || metadata::text,
           'UTF8'), 'sha256')
$$;

ALTER TABLE events ADD COLUMN hash bytea;

-- Events written before this migration get their hashes now, stream by stream in order.
ALTER TABLE events DISABLE TRIGGER events_no_update_delete;
DO $$
DECLARE r record; prev bytea; last_stream text := '';
BEGIN
  FOR r IN SELECT * FROM events ORDER BY aggregate_type, aggregate_id, sequence LOOP
    IF r.aggregate_type || ':' || r.aggregate_id <> last_stream THEN
      prev := NULL;
      last_stream := r.aggregate_type || ':' || r.aggregate_id;
    END IF;
    prev := crm_event_hash(prev, r.aggregate_type, r.aggregate_id, r.sequence, r.event_type, r.event_version, r.payload, r.metadata);
    UPDATE events SET hash = prev WHERE tenant_id = r.tenant_id AND aggregate_type = r.aggregate_type AND aggregate_id = r.aggregate_id AND sequence = r.sequence;
  END LOOP;
END $$;
ALTER TABLE events ENABLE TRIGGER events_no_update_delete;
ALTER TABLE events ALTER COLUMN hash SET NOT NULL;

CREATE OR REPLACE FUNCTION events_before_insert() RETURNS trigger
  LANGUAGE plpgsql AS $$
DECLARE
  meta_tenant   uuid;
  stream_tenant uuid;
  prev          bytea;
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
  SELECT e.hash INTO prev FROM events e
   WHERE e.aggregate_id = NEW.aggregate_id AND e.aggregate_type = NEW.aggregate_type AND e.sequence = NEW.sequence - 1;
  IF NEW.sequence > 1 AND prev IS NULL THEN
    RAISE EXCEPTION 'stream % has no event %', NEW.aggregate_id, NEW.sequence - 1
      USING ERRCODE = 'check_violation';
  END IF;
  NEW.tenant_id      := meta_tenant;
  NEW.transaction_id := pg_current_xact_id();
  NEW.recorded_at    := clock_timestamp();
  NEW.hash           := crm_event_hash(prev, NEW.aggregate_type, NEW.aggregate_id, NEW.sequence, NEW.event_type, NEW.event_version, NEW.payload, NEW.metadata);
  RETURN NEW;
END $$;

CREATE TABLE audit_checkpoints (
  tenant_id uuid        NOT NULL,
  id        bigint      GENERATED ALWAYS AS IDENTITY,
  taken_at  timestamptz NOT NULL,
  heads     jsonb       NOT NULL,
  mac       bytea       NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
REVOKE ALL ON audit_checkpoints FROM PUBLIC;
GRANT SELECT, INSERT ON audit_checkpoints TO crm_app, crm_projector;
ALTER TABLE audit_checkpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_checkpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_checkpoints_app ON audit_checkpoints FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY audit_checkpoints_projector ON audit_checkpoints FOR ALL TO crm_projector USING (true) WITH CHECK (true);
