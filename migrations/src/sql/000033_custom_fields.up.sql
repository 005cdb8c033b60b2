-- Custom fields (domain `fields`). A workspace's fields are the events of its
-- `FieldSchema` stream; a record's values ride in its own events keyed by field id, and
-- its read row keeps them under `custom` keyed by the field's API key (immutable, so the
-- mapping never changes), without the fields archived now. Archiving a field removes its
-- values from the read rows; restoring puts them back from the records' events.

ALTER TABLE companies ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE deals ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';

-- The fields of `p_tenant`'s schema: id, record type, API key, whether its values are
-- personal data (a contact's, erased with its other personal fields), and whether archived now,
-- from the stream's events (a field's latest FieldArchived or FieldRestored decides).
CREATE FUNCTION crm_custom_fields(p_tenant uuid)
  RETURNS TABLE (id uuid, record text, key text, personal boolean, archived boolean)
  LANGUAGE sql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
  SELECT (d.payload->'FieldDefined'->>'id')::uuid,
         d.payload->'FieldDefined'->>'record',
         d.payload->'FieldDefined'->>'key',
         COALESCE((d.payload->'FieldDefined'->>'personal_data')::boolean, false),
         COALESCE((SELECT s.event_type = 'FieldArchived'
                     FROM events s
                    WHERE s.tenant_id = p_tenant AND s.aggregate_type = 'FieldSchema'
                      AND s.aggregate_id = d.aggregate_id
                      AND s.event_type IN ('FieldArchived', 'FieldRestored')
                      AND coalesce(s.payload->'FieldArchived'->>'id',
                                   s.payload->'FieldRestored'->>'id')
                          = d.payload->'FieldDefined'->>'id'
                    ORDER BY s.sequence DESC LIMIT 1), false)
    FROM events d
   WHERE d.tenant_id = p_tenant AND d.aggregate_type = 'FieldSchema'
     AND d.aggregate_id = p_tenant::text || ':' || p_tenant::text
     AND d.event_type = 'FieldDefined'
$$;

-- `p_values` (an object keyed by field id, as record events hold values; a `null`
-- clears) keyed by API key instead, without the fields of `p_tenant` archived now and
-- without ids of no field of record type `p_record`. Keys that are API keys already
-- (never a UUID's shape) are kept, so the function may be applied twice.
CREATE FUNCTION crm_custom_keys(p_tenant uuid, p_record text, p_values jsonb)
  RETURNS jsonb
  LANGUAGE sql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
  SELECT CASE WHEN p_values IS NULL OR p_values = '{}'::jsonb THEN '{}'::jsonb ELSE
    COALESCE((SELECT jsonb_object_agg(f.key, v.value)
                FROM jsonb_each(p_values) v
                JOIN crm_custom_fields(p_tenant) f
                  ON f.id::text = v.key AND f.record = p_record AND NOT f.archived), '{}'::jsonb)
    || COALESCE((SELECT jsonb_object_agg(v.key, v.value)
                   FROM jsonb_each(p_values) v
                  WHERE v.key ~ '^[a-z][a-z0-9_]{0,62}$'), '{}'::jsonb)
  END
$$;

GRANT EXECUTE ON FUNCTION crm_custom_fields(uuid) TO crm_app, crm_projector, crm_command;
GRANT EXECUTE ON FUNCTION crm_custom_keys(uuid, text, jsonb) TO crm_app, crm_projector, crm_command;

-- Equality filters on custom values (`custom @> '{"key": value}'`) read the workspace's
-- entries of one GIN index per table (btree_gin, migration 000007, puts tenant_id first).
CREATE INDEX companies_custom ON companies USING gin (tenant_id, custom jsonb_path_ops);
CREATE INDEX contacts_custom ON contacts USING gin (tenant_id, custom jsonb_path_ops);
CREATE INDEX deals_custom ON deals USING gin (tenant_id, custom jsonb_path_ops);

-- As `ts_match_vq` in migration 000028: under row-level security a condition whose
-- function is not LEAKPROOF runs after the policy's, so `@>` could not be an index
-- condition for crm_app. jsonb_contains compares two valid jsonb values and raises no
-- error that depends on them.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.jsonb_contains(jsonb, jsonb) LEAKPROOF;
  ELSE
    RAISE WARNING 'not a superuser: jsonb_contains stays NOT LEAKPROOF, and custom field filters scan their whole workspace';
  END IF;
END $$;
