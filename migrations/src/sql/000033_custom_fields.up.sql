-- Custom fields (domain `fields`). A workspace's fields are the events of its
-- `FieldSchema` stream; a record's values ride in its own events keyed by field id, and
-- its read row keeps them under `custom` keyed by the field's API key (immutable, so the
-- mapping never changes), without the fields archived now. Archiving a field removes its
-- values from the read rows; restoring puts them back from the records' events.

ALTER TABLE companies ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE contacts ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE deals ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
ALTER TABLE activities ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';

-- The fields of `p_tenant`'s schema: id, record type, API key, whether its values are
-- personal data (a contact's, erased with its other personal fields), and whether archived now,
-- from the stream's events (a field's latest FieldArchived or FieldRestored decides).
CREATE FUNCTION crm_custom_fields(p_tenant uuid)
  RETURNS TABLE (id uuid, record text, key text, personal boolean, is_unique boolean,
                 archived boolean)
  LANGUAGE sql STABLE SECURITY INVOKER SET search_path = public, pg_temp AS $$
  SELECT (d.payload->'FieldDefined'->>'id')::uuid,
         d.payload->'FieldDefined'->>'record',
         d.payload->'FieldDefined'->>'key',
         COALESCE((d.payload->'FieldDefined'->>'personal_data')::boolean, false),
         COALESCE((d.payload->'FieldDefined'->>'unique')::boolean, false),
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
CREATE INDEX activities_custom ON activities USING gin (tenant_id, custom jsonb_path_ops);

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

-- Unique fields: one record of its type per value (case-insensitive) in a workspace. A
-- claim is a read row like any other, written by the projection of the record's events
-- in the command's own transaction (so it commits with them, or not at all) and rebuilt
-- from the events with the other read tables.
CREATE TABLE custom_claims (
  tenant_id uuid NOT NULL,
  field_id uuid NOT NULL,
  value text NOT NULL,
  record_id uuid NOT NULL,
  PRIMARY KEY (tenant_id, field_id, value)
);
CREATE INDEX custom_claims_record ON custom_claims (tenant_id, record_id);
ALTER TABLE custom_claims ENABLE ROW LEVEL SECURITY;
ALTER TABLE custom_claims FORCE ROW LEVEL SECURITY;
CREATE POLICY custom_claims_command ON custom_claims FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY custom_claims_projector ON custom_claims FOR ALL TO crm_projector
  USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON custom_claims TO crm_command, crm_projector;

-- Claims the values of `p_values` (keyed by field id; `null` releases) of unique fields
-- for record `p_id` of type `p_record`: its earlier claim on each such field goes, the new
-- one is taken. A value another record holds raises SQLSTATE Z0409 ("custom.<key>: …"),
-- which the application answers with 409. Runs in the caller's schema search path, so a
-- rebuild claims into its shadow table.
CREATE FUNCTION crm_claim_custom(p_tenant uuid, p_record text, p_id uuid, p_values jsonb)
  RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
DECLARE
  r record;
  v_text text;
  v_holder uuid;
BEGIN
  IF p_values IS NULL OR p_values = '{}'::jsonb THEN
    RETURN;
  END IF;
  FOR r IN SELECT f.id, f.key, v.value
             FROM jsonb_each(p_values) v
             JOIN public.crm_custom_fields(p_tenant) f
               ON f.id::text = v.key AND f.record = p_record AND f.is_unique LOOP
    DELETE FROM custom_claims c
     WHERE c.tenant_id = p_tenant AND c.field_id = r.id AND c.record_id = p_id;
    CONTINUE WHEN r.value IS NULL OR r.value = 'null'::jsonb;
    v_text := lower(r.value #>> '{}');
    INSERT INTO custom_claims (tenant_id, field_id, value, record_id)
    VALUES (p_tenant, r.id, v_text, p_id)
    ON CONFLICT (tenant_id, field_id, value) DO NOTHING;
    IF NOT FOUND THEN
      SELECT c.record_id INTO v_holder FROM custom_claims c
       WHERE c.tenant_id = p_tenant AND c.field_id = r.id AND c.value = v_text;
      IF v_holder IS DISTINCT FROM p_id THEN
        RAISE EXCEPTION 'custom.%: another % has this value (%)', r.key, p_record, v_holder
          USING ERRCODE = 'Z0409';
      END IF;
    END IF;
  END LOOP;
END $$;
GRANT EXECUTE ON FUNCTION crm_claim_custom(uuid, text, uuid, jsonb) TO crm_command, crm_projector;

-- The claims are a read table: a full rebuild makes them again in its shadow schema.
CREATE OR REPLACE FUNCTION crm_read_tables() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['workspaces', 'users', 'companies', 'contacts', 'pipelines',
               'pipeline_stages', 'deals', 'activities', 'contact_companies', 'custom_claims']
$$;
