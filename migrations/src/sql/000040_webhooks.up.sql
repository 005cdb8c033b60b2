-- Webhooks (issue 13, Standard Webhooks 1.0): endpoints, the messages the dispatcher
-- makes from the event log, and every delivery attempt.
--
-- Endpoints hold a signing secret sealed with AES-256-GCM (as TOTP secrets), so they are
-- state, not a projection: each change is also a workspace event in the trail. Messages
-- are made by one dispatcher at a time (checkpoint `webhooks` in projector_checkpoints,
-- read in commit order below pg_snapshot_xmin, the catch-up projector's rule), and taken
-- for delivery by leases (`lease_until`), so several server processes share the work and
-- a process killed mid-delivery only delays the message until its lease runs out.

CREATE TABLE webhook_endpoints (
  tenant_id uuid NOT NULL,
  id uuid NOT NULL,
  url text NOT NULL,
  description text NOT NULL DEFAULT '',
  event_types text[] NOT NULL DEFAULT '{}',
  enabled boolean NOT NULL DEFAULT true,
  -- In event order (a message waiting for a retry holds back the later ones), unless the
  -- endpoint opted into parallel delivery.
  ordered boolean NOT NULL DEFAULT true,
  -- Turned off by the server (410 Gone, five days of failures): why, for the owners.
  disabled_reason text,
  secret bytea NOT NULL,
  secret_nonce bytea NOT NULL,
  -- The secret before the last rotation, which signs too until previous_until.
  previous_secret bytea,
  previous_nonce bytea,
  previous_until timestamptz,
  -- The first failed attempt since the last success.
  failing_since timestamptz,
  deleted boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE SEQUENCE webhook_message_order;

CREATE TABLE webhook_messages (
  tenant_id uuid NOT NULL,
  endpoint_id uuid NOT NULL,
  -- The `webhook-id` header: the feed id of the event (UUIDv5 of its stream and
  -- sequence), or a random id for a test message.
  id uuid NOT NULL,
  -- Event order per endpoint: messages are made in commit order.
  ordinal bigint NOT NULL DEFAULT nextval('webhook_message_order'),
  event_type text NOT NULL,
  -- The event (`events.aggregate_type`, `aggregate_id`, `sequence`: the workspace and
  -- its field schema share a stream id); null for a test message.
  aggregate_type text,
  aggregate_id text,
  sequence bigint,
  test_body jsonb,
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  -- `attempts` when the current round of retries began (a manual retry or a replay
  -- starts a new round; attempts keep their numbers in the log).
  round_start integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL,
  lease_until timestamptz,
  lease_owner uuid,
  created_at timestamptz NOT NULL,
  delivered_at timestamptz,
  PRIMARY KEY (tenant_id, endpoint_id, id),
  FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE
);
-- What is due, across workspaces (the delivery workers' scan).
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
-- An endpoint's messages in order (its log, and the head of its queue).
CREATE INDEX webhook_messages_by_endpoint ON webhook_messages (tenant_id, endpoint_id, ordinal);

CREATE TABLE webhook_attempts (
  tenant_id uuid NOT NULL,
  endpoint_id uuid NOT NULL,
  message_id uuid NOT NULL,
  attempt integer NOT NULL,
  started_at timestamptz NOT NULL,
  duration_ms integer NOT NULL,
  -- The receiver's status; null when none came (refused address, timeout, connection).
  status integer,
  error text,
  -- The first 1 KiB of the answer's body.
  response text,
  next_attempt_at timestamptz,
  PRIMARY KEY (tenant_id, endpoint_id, message_id, attempt),
  FOREIGN KEY (tenant_id, endpoint_id, message_id)
    REFERENCES webhook_messages (tenant_id, endpoint_id, id) ON DELETE CASCADE
);

-- Requests read their workspace's rows; commands (endpoint changes, test sends, retries,
-- replays) write them in their own tenant; the server's workers (crm_projector) make
-- messages for every workspace, deliver them and log attempts.
GRANT SELECT ON webhook_endpoints, webhook_messages, webhook_attempts TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_messages TO crm_command;
GRANT SELECT ON webhook_attempts TO crm_command;
GRANT SELECT, UPDATE ON webhook_endpoints TO crm_projector;
GRANT SELECT, INSERT, UPDATE ON webhook_messages, webhook_attempts TO crm_projector;
GRANT USAGE ON SEQUENCE webhook_message_order TO crm_command, crm_projector;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_messages', 'webhook_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO crm_app USING (tenant_id = crm_current_tenant())', t || '_app', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_command USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant())', t || '_command', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_projector USING (true) WITH CHECK (true)', t || '_projector', t);
  END LOOP;
END $$;
