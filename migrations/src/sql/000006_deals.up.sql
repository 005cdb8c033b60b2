-- Read models of pipelines and deals.

CREATE TABLE pipelines (
  tenant_id  uuid        NOT NULL,
  id         uuid        NOT NULL,
  name       text        NOT NULL,
  version    bigint      NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

-- Stages of every pipeline; `position` orders the active ones from 0.
CREATE TABLE pipeline_stages (
  tenant_id   uuid         NOT NULL,
  id          uuid         NOT NULL,
  pipeline_id uuid         NOT NULL,
  name        text         NOT NULL,
  probability numeric(5,2) NOT NULL CHECK (probability BETWEEN 0 AND 100),
  kind        text         NOT NULL CHECK (kind IN ('open', 'won', 'lost')),
  position    integer      NOT NULL,
  retired     boolean      NOT NULL DEFAULT false,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX pipeline_stages_by_pipeline ON pipeline_stages (tenant_id, pipeline_id, position);

CREATE TABLE deals (
  tenant_id           uuid        NOT NULL,
  id                  uuid        NOT NULL,
  name                text        NOT NULL,
  amount_minor        bigint,
  currency            text,
  pipeline_id         uuid        NOT NULL,
  stage_id            uuid        NOT NULL,
  status              text        NOT NULL CHECK (status IN ('open', 'won', 'lost')),
  owner_id            uuid,
  company_id          uuid,
  contact_ids         uuid[]      NOT NULL DEFAULT '{}',
  expected_close_date date,
  close_reason        text,
  closed_at           timestamptz,
  line_items          jsonb       NOT NULL DEFAULT '[]',
  deleted             boolean     NOT NULL DEFAULT false,
  version             bigint      NOT NULL,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz NOT NULL,
  created_by          text        NOT NULL,
  updated_by          text        NOT NULL,
  sort_name           text        GENERATED ALWAYS AS (lower(name)) STORED,
  PRIMARY KEY (tenant_id, id),
  CHECK ((amount_minor IS NULL) = (currency IS NULL))
);
CREATE INDEX deals_by_name ON deals (tenant_id, sort_name, id);
CREATE INDEX deals_by_created ON deals (tenant_id, created_at, id);
CREATE INDEX deals_by_stage ON deals (tenant_id, pipeline_id, stage_id, status);
CREATE INDEX deals_by_company ON deals (tenant_id, company_id);
CREATE INDEX deals_by_owner ON deals (tenant_id, owner_id);

REVOKE ALL ON pipelines, pipeline_stages, deals FROM PUBLIC;
GRANT SELECT ON pipelines, pipeline_stages, deals TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON pipelines, pipeline_stages, deals TO crm_projector;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['pipelines', 'pipeline_stages', 'deals'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO crm_app USING (tenant_id = crm_current_tenant())', t || '_app', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_projector USING (true) WITH CHECK (true)', t || '_projector', t);
  END LOOP;
END $$;
