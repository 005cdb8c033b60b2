-- Snapshots of long streams, so a record's past state (`?version=`, `?as_of=`) replays
-- from the nearest snapshot instead of the first event. A cache derived from events, made
-- by reads (every 100th version of a stream): never a source of truth, never in a backup,
-- ignored when `format` is not the server's. Contacts are never snapshotted: their state
-- holds personal data, which must live only sealed in their events (erasure).
CREATE TABLE record_snapshots (
  tenant_id      uuid        NOT NULL,
  aggregate_type text        NOT NULL CHECK (aggregate_type <> 'Contact'),
  aggregate_id   text        NOT NULL,
  version        bigint      NOT NULL CHECK (version >= 1),
  format         integer     NOT NULL,
  occurred_at    timestamptz NOT NULL,
  recorded_at    timestamptz NOT NULL,
  state          jsonb       NOT NULL,
  PRIMARY KEY (tenant_id, aggregate_type, aggregate_id, version)
);

REVOKE ALL ON record_snapshots FROM PUBLIC;
-- UPDATE only replaces a snapshot of another format (see the query that stores them).
GRANT SELECT, INSERT, UPDATE ON record_snapshots TO crm_app;
ALTER TABLE record_snapshots ENABLE ROW LEVEL SECURITY;
ALTER TABLE record_snapshots FORCE ROW LEVEL SECURITY;
CREATE POLICY record_snapshots_app ON record_snapshots FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
