DROP FUNCTION crm_custom_keys(uuid, text, jsonb);
DROP FUNCTION crm_custom_fields(uuid);
ALTER TABLE deals DROP COLUMN custom;
ALTER TABLE contacts DROP COLUMN custom;
ALTER TABLE companies DROP COLUMN custom;
