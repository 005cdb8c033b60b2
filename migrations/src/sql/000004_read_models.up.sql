-- Read models (projections): disposable, rebuilt from events. Each row stores the
-- aggregate version (stream sequence) it reflects; an event applies only if it is the
-- next version, so the inline and the catch-up projector can both run.

CREATE TABLE workspaces (
  tenant_id  uuid        PRIMARY KEY,
  slug       text        NOT NULL,
  name       text        NOT NULL,
  version    bigint      NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE TABLE users (
  tenant_id    uuid        NOT NULL,
  id           uuid        NOT NULL,
  email        text        NOT NULL,
  display_name text        NOT NULL,
  role         text        NOT NULL,
  version      bigint      NOT NULL,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (tenant_id, id)
);

CREATE TABLE companies (
  tenant_id               uuid        NOT NULL,
  id                      uuid        NOT NULL,
  name                    text        NOT NULL,
  domain                  text,
  industry                text,
  country                 text,
  currency                text,
  employee_count          bigint,
  annual_revenue_minor    bigint,
  annual_revenue_currency text,
  annual_revenue_text     text,
  deleted                 boolean     NOT NULL DEFAULT false,
  version                 bigint      NOT NULL,
  created_at              timestamptz NOT NULL,
  updated_at              timestamptz NOT NULL,
  created_by              text        NOT NULL,
  updated_by              text        NOT NULL,
  sort_name               text        GENERATED ALWAYS AS (lower(name)) STORED,
  PRIMARY KEY (tenant_id, id),
  CHECK ((annual_revenue_minor IS NULL) = (annual_revenue_currency IS NULL))
);
CREATE INDEX companies_by_name ON companies (tenant_id, sort_name, id);
CREATE INDEX companies_by_created ON companies (tenant_id, created_at, id);
CREATE INDEX companies_by_domain ON companies (tenant_id, domain);

CREATE TABLE contacts (
  tenant_id  uuid        NOT NULL,
  id         uuid        NOT NULL,
  first_name text,
  last_name  text,
  email      text,
  phone      text,
  job_title  text,
  company_id uuid,
  deleted    boolean     NOT NULL DEFAULT false,
  version    bigint      NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  created_by text        NOT NULL,
  updated_by text        NOT NULL,
  sort_name  text        GENERATED ALWAYS AS (
    lower(btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '')))
  ) STORED,
  PRIMARY KEY (tenant_id, id)
);
CREATE INDEX contacts_by_name ON contacts (tenant_id, sort_name, id);
CREATE INDEX contacts_by_created ON contacts (tenant_id, created_at, id);
CREATE INDEX contacts_by_company ON contacts (tenant_id, company_id);

-- The catch-up projector's position in commit order: (transaction_id, global_position).
CREATE TABLE projector_checkpoints (
  name                text        PRIMARY KEY,
  last_transaction_id xid8        NOT NULL DEFAULT '0',
  last_position       bigint      NOT NULL DEFAULT 0,
  updated_at          timestamptz NOT NULL DEFAULT now()
);

REVOKE ALL ON workspaces, users, companies, contacts, projector_checkpoints FROM PUBLIC;
GRANT SELECT ON workspaces, users, companies, contacts TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON workspaces, users, companies, contacts, projector_checkpoints TO crm_projector;
GRANT SELECT ON projector_checkpoints TO crm_app;
GRANT SELECT ON seaql_migrations TO crm_app, crm_projector;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['workspaces', 'users', 'companies', 'contacts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR SELECT TO crm_app USING (tenant_id = crm_current_tenant())', t || '_app', t);
    EXECUTE format('CREATE POLICY %I ON %I FOR ALL TO crm_projector USING (true) WITH CHECK (true)', t || '_projector', t);
  END LOOP;
END $$;
