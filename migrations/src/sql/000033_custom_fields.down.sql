CREATE OR REPLACE FUNCTION crm_read_tables() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['workspaces', 'users', 'companies', 'contacts', 'pipelines',
               'pipeline_stages', 'deals', 'activities', 'contact_companies']
$$;
DROP FUNCTION crm_claim_custom(uuid, text, uuid, jsonb);
DROP TABLE custom_claims;
DROP INDEX IF EXISTS activities_custom;
DROP INDEX IF EXISTS deals_custom;
DROP INDEX IF EXISTS contacts_custom;
DROP INDEX IF EXISTS companies_custom;
DROP FUNCTION crm_custom_keys(uuid, text, jsonb);
DROP FUNCTION crm_custom_fields(uuid);
ALTER TABLE activities DROP COLUMN custom;
ALTER TABLE deals DROP COLUMN custom;
ALTER TABLE contacts DROP COLUMN custom;
ALTER TABLE companies DROP COLUMN custom;
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) NOT LEAKPROOF;
  END IF;
END $$;
