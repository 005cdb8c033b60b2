-- Read model of activities (notes, calls, meetings, emails, tasks).
-- btree_gin lets a GIN index start with tenant_id (a trusted extension since PostgreSQL 13).
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE TABLE activities (
  tenant_id    uuid        NOT NULL,
  id           uuid        NOT NULL,
  kind         text        NOT NULL CHECK (kind IN ('note', 'call', 'meeting', 'email', 'task')),
  title        text        NOT NULL,
  details      jsonb       NOT NULL,
  occurred_at  timestamptz NOT NULL,
  contact_ids  uuid[]      NOT NULL DEFAULT '{}',
  company_ids  uuid[]      NOT NULL DEFAULT '{}',
  deal_ids     uuid[]      NOT NULL DEFAULT '{}',
  due_at       timestamptz,
  assignee_id  uuid,
  priority     text,
  completed_at timestamptz,
  deleted      boolean     NOT NULL DEFAULT false,
  version      bigint      NOT NULL,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  created_by   text        NOT NULL,
  updated_by   text        NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX activities_by_time ON activities (tenant_id, occurred_at, id);
CREATE INDEX activities_links ON activities USING gin (tenant_id, contact_ids, company_ids, deal_ids);
CREATE INDEX activities_tasks ON activities (tenant_id, assignee_id, due_at) WHERE kind = 'task';

REVOKE ALL ON activities FROM PUBLIC;
GRANT SELECT ON activities TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON activities TO crm_projector;
ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY activities_app ON activities FOR SELECT TO crm_app USING (tenant_id = crm_current_tenant());
CREATE POLICY activities_projector ON activities FOR ALL TO crm_projector USING (true) WITH CHECK (true);
