-- The event store: postgres-es's columns, plus the tenant (derived and checked by the
-- database), a global position, the writing transaction's id and the recording time.
CREATE TABLE events (
  tenant_id       uuid        NOT NULL,
  aggregate_type  text        NOT NULL,
  aggregate_id    text        NOT NULL,
  sequence        bigint      NOT NULL CHECK (sequence >= 1),
  event_type      text        NOT NULL,
  event_version   text        NOT NULL,
  payload         jsonb       NOT NULL,
  metadata        jsonb       NOT NULL,
  global_position bigint      GENERATED ALWAYS AS IDENTITY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, aggregate_type, aggregate_id, sequence)
);

-- postgres-es loads a stream by (aggregate_type, aggregate_id) without naming the tenant;
-- aggregate_id starts with the tenant uuid, so this index is tenant-first in content.
CREATE UNIQUE INDEX events_stream ON events (aggregate_id, aggregate_type, sequence);
-- The audit trail of one tenant, newest first.
CREATE INDEX events_tenant_position ON events (tenant_id, global_position);
-- The catch-up projector's commit-order read (not tenant data: a cross-tenant tail).
CREATE UNIQUE INDEX events_commit_order ON events (transaction_id, global_position);

-- Derive tenant_id from the metadata and check it owns the stream; stamp what only the
-- database may say (transaction, time).
CREATE FUNCTION events_before_insert() RETURNS trigger
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

CREATE TRIGGER events_before_insert BEFORE INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION events_before_insert();

-- Append-only for everyone, the owner included: recovery is always a new event.
CREATE FUNCTION events_reject_change() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the event store is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER events_no_update_delete BEFORE UPDATE OR DELETE ON events
  FOR EACH ROW EXECUTE FUNCTION events_reject_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION events_reject_change();

REVOKE ALL ON events FROM PUBLIC;
GRANT SELECT, INSERT ON events TO crm_store;
GRANT SELECT ON events TO crm_app, crm_projector;

ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE events FORCE ROW LEVEL SECURITY;
CREATE POLICY events_app ON events FOR SELECT TO crm_app
  USING (tenant_id = crm_current_tenant());
CREATE POLICY events_store ON events FOR ALL TO crm_store
  USING (true) WITH CHECK (true);
CREATE POLICY events_projector ON events FOR SELECT TO crm_projector
  USING (true);
