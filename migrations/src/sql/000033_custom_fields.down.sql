DROP INDEX IF EXISTS deals_custom;
DROP INDEX IF EXISTS contacts_custom;
DROP INDEX IF EXISTS companies_custom;
DROP FUNCTION crm_custom_keys(uuid, text, jsonb);
DROP FUNCTION crm_custom_fields(uuid);
ALTER TABLE deals DROP COLUMN custom;
ALTER TABLE contacts DROP COLUMN custom;
ALTER TABLE companies DROP COLUMN custom;
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) NOT LEAKPROOF;
  END IF;
END $$;
