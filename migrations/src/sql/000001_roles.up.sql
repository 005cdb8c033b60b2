-- Roles are cluster-wide: create each once, tolerating a concurrent creator.
DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['crm_store', 'crm_app', 'crm_projector'] LOOP
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT', r);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN
        NULL;
      END;
    END IF;
  END LOOP;
END $$;

GRANT USAGE ON SCHEMA public TO crm_store, crm_app, crm_projector;

-- The tenant of the current transaction, set by the API with
-- select set_config('app.tenant_id', $1, true)  (transaction-local: a pooled connection
-- never carries a tenant into the next request). NULL when unset, so no row matches.
CREATE FUNCTION crm_current_tenant() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;
