-- A full rebuild's shadow tables get their planner statistics before they are switched in:
-- without them the planner guesses until autovacuum reaches the new tables, and a search
-- planned on guesses walked its workspace (p99 from 45 ms to 120 ms right after a
-- rebuild of 1.5 million rows, in the bench). ANALYZE needs the tables' owner, so this
-- runs as the owner, like the rebuild's other DDL; it reads a sample (default
-- statistics target), seconds at millions of rows, before the switch takes its locks.
CREATE FUNCTION crm_rebuild_analyze() RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  t text;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_namespace WHERE nspname = 'crm_rebuild') THEN
    RAISE EXCEPTION 'no rebuild in progress (its shadow tables are gone)';
  END IF;
  FOREACH t IN ARRAY crm_read_tables() LOOP
    EXECUTE format('ANALYZE crm_rebuild.%I', t);
  END LOOP;
END $$;
REVOKE ALL ON FUNCTION crm_rebuild_analyze() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION crm_rebuild_analyze() TO crm_projector;
