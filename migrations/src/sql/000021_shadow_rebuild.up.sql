-- Rebuilds without downtime: a full rebuild replays every event into shadow copies of the
-- read tables in the schema `crm_rebuild` while the live tables keep serving, batch by
-- batch under its own checkpoint (`rebuild`), so an interrupted rebuild resumes where it
-- stopped; then one short transaction switches the copies in. The projector role runs the
-- rebuild; these two functions do its DDL as the owner.

-- The read tables a rebuild replaces (the Rust side's `rebuild::READ_TABLES`).
CREATE FUNCTION crm_read_tables() RETURNS text[]
  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['workspaces', 'users', 'companies', 'contacts', 'pipelines',
               'pipeline_stages', 'deals', 'activities', 'contact_companies']
$$;

-- Creates the shadow schema with an empty copy of each read table (columns, defaults,
-- generated columns, constraints, indexes, row-level security, policies and grants), and
-- starts the `rebuild` checkpoint at the beginning. When the schema exists already, an
-- earlier rebuild was interrupted: nothing is changed and `true` is returned (resume).
CREATE FUNCTION crm_rebuild_prepare() RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  t text;
  g record;
  p record;
  c record;
BEGIN
  IF EXISTS (SELECT FROM pg_namespace WHERE nspname = 'crm_rebuild') THEN
    RETURN true;
  END IF;
  CREATE SCHEMA crm_rebuild;
  GRANT USAGE ON SCHEMA crm_rebuild TO crm_app, crm_projector;
  FOREACH t IN ARRAY crm_read_tables() LOOP
    EXECUTE format('CREATE TABLE crm_rebuild.%I (LIKE public.%I INCLUDING ALL)', t, t);
    FOR g IN SELECT grantee, privilege_type FROM information_schema.role_table_grants
              WHERE table_schema = 'public' AND table_name = t
                AND grantee NOT IN ('PUBLIC', current_user) LOOP
      EXECUTE format('GRANT %s ON crm_rebuild.%I TO %I', g.privilege_type, t, g.grantee);
    END LOOP;
    SELECT relrowsecurity, relforcerowsecurity INTO c FROM pg_class
     WHERE oid = format('public.%I', t)::regclass;
    IF c.relrowsecurity THEN
      EXECUTE format('ALTER TABLE crm_rebuild.%I ENABLE ROW LEVEL SECURITY', t);
    END IF;
    IF c.relforcerowsecurity THEN
      EXECUTE format('ALTER TABLE crm_rebuild.%I FORCE ROW LEVEL SECURITY', t);
    END IF;
    FOR p IN SELECT * FROM pg_policies WHERE schemaname = 'public' AND tablename = t LOOP
      EXECUTE format('CREATE POLICY %I ON crm_rebuild.%I AS %s FOR %s TO %s%s%s',
        p.policyname, t, p.permissive, p.cmd,
        (SELECT string_agg(quote_ident(r), ', ') FROM unnest(p.roles) AS r),
        CASE WHEN p.qual IS NULL THEN '' ELSE ' USING (' || p.qual || ')' END,
        CASE WHEN p.with_check IS NULL THEN '' ELSE ' WITH CHECK (' || p.with_check || ')' END);
    END LOOP;
  END LOOP;
  INSERT INTO projector_checkpoints (name) VALUES ('rebuild')
  ON CONFLICT (name) DO UPDATE SET last_transaction_id = '0', last_position = 0, updated_at = now();
  RETURN false;
END $$;

-- The shape of the read tables in `schema`, one line per fact: columns (by name: type,
-- nullability, default, generation), indexes (definition without name or schema),
-- policies, grants and row-level security flags. Equal shapes make a switch safe.
CREATE FUNCTION crm_read_table_shape(schema text) RETURNS SETOF text
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
  SELECT 'column ' || table_name || ' ' || column_name || ' ' || data_type || ' ' || is_nullable
         || ' ' || coalesce(column_default, '') || ' ' || coalesce(generation_expression, '')
    FROM information_schema.columns
   WHERE table_schema = schema AND table_name = ANY (crm_read_tables())
  UNION ALL
  SELECT 'index ' || tablename || ' ' || regexp_replace(indexdef, ' INDEX \S+ ON \S+ ', ' INDEX ON ')
    FROM pg_indexes WHERE schemaname = schema AND tablename = ANY (crm_read_tables())
  UNION ALL
  SELECT 'policy ' || tablename || ' ' || policyname || ' ' || permissive || ' ' || cmd || ' '
         || roles::text || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '')
    FROM pg_policies WHERE schemaname = schema AND tablename = ANY (crm_read_tables())
  UNION ALL
  SELECT 'grant ' || table_name || ' ' || grantee || ' ' || privilege_type
    FROM information_schema.role_table_grants
   WHERE table_schema = schema AND table_name = ANY (crm_read_tables())
  UNION ALL
  SELECT 'rls ' || c.relname || ' ' || c.relrowsecurity || ' ' || c.relforcerowsecurity
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = schema AND c.relkind = 'r' AND c.relname = ANY (crm_read_tables())
$$;

-- Switches the shadow tables in: locks the live tables, drops them, moves the copies into
-- `public` under the live indexes' names, and moves the read models' checkpoint to where
-- the rebuild stopped (the catch-up projector applies what came after). One transaction:
-- readers wait for it (milliseconds), never see a half switch, and a failure changes
-- nothing. The caller holds the projector's advisory lock.
CREATE FUNCTION crm_rebuild_switch() RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  t text;
  n record;
  live_name text;
  live_names text[];
  live_shapes text[];
BEGIN
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'crm_rebuild') THEN
    RAISE EXCEPTION 'no rebuild to switch to' USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  -- Never queue for long behind a reader while holding the tables already locked: give
  -- up (the caller retries) rather than stall every request.
  SET LOCAL lock_timeout = '3s';
  FOREACH t IN ARRAY crm_read_tables() LOOP
    EXECUTE format('LOCK TABLE public.%I IN ACCESS EXCLUSIVE MODE', t);
  END LOOP;
  -- A migration that changed a read table after the copies were made would be undone by
  -- the switch: refuse, and let the rebuild be discarded and run again.
  IF EXISTS ((SELECT crm_read_table_shape('public') EXCEPT SELECT crm_read_table_shape('crm_rebuild'))
             UNION ALL
             (SELECT crm_read_table_shape('crm_rebuild') EXCEPT SELECT crm_read_table_shape('public'))) THEN
    RAISE EXCEPTION 'the shadow tables no longer match the live ones (a migration ran since the rebuild began): discard it with crm_rebuild_discard() and rebuild again'
      USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  FOREACH t IN ARRAY crm_read_tables() LOOP
    SELECT array_agg(indexname::text), array_agg(regexp_replace(indexdef, ' INDEX \S+ ON \S+ ', ' INDEX ON '))
      INTO live_names, live_shapes
      FROM pg_indexes WHERE schemaname = 'public' AND tablename = t;
    EXECUTE format('DROP TABLE public.%I', t);
    EXECUTE format('ALTER TABLE crm_rebuild.%I SET SCHEMA public', t);
    FOR n IN SELECT indexname, regexp_replace(indexdef, ' INDEX \S+ ON \S+ ', ' INDEX ON ') AS shape
               FROM pg_indexes WHERE schemaname = 'public' AND tablename = t LOOP
      live_name := live_names[array_position(live_shapes, n.shape)];
      IF live_name IS NOT NULL AND live_name <> n.indexname THEN
        EXECUTE format('ALTER INDEX public.%I RENAME TO %I', n.indexname, live_name);
      END IF;
    END LOOP;
  END LOOP;
  DROP SCHEMA crm_rebuild;
  UPDATE projector_checkpoints live
     SET last_transaction_id = r.last_transaction_id, last_position = r.last_position, updated_at = now()
    FROM projector_checkpoints r
   WHERE live.name = 'read_models' AND r.name = 'rebuild';
  DELETE FROM projector_checkpoints WHERE name = 'rebuild';
END $$;

-- Abandons an interrupted rebuild: drops the shadow tables and its checkpoint.
CREATE FUNCTION crm_rebuild_discard() RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  DROP SCHEMA IF EXISTS crm_rebuild CASCADE;
  DELETE FROM projector_checkpoints WHERE name = 'rebuild';
END $$;

REVOKE ALL ON FUNCTION crm_rebuild_prepare(), crm_rebuild_switch(), crm_rebuild_discard(), crm_read_table_shape(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_rebuild_prepare(), crm_rebuild_switch(), crm_rebuild_discard() TO crm_projector;
