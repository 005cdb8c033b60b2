-- Full-text search under row-level security. A policy's condition runs before any
-- condition of the query whose function is not LEAKPROOF (it could reveal, by an error,
-- rows the policy hides), so `search @@ tsquery` (ts_match_vq) could not be an index
-- condition for crm_app: every search walked all of its workspace's rows (84 ms at
-- 215,000 companies, against 9 ms through the `(tenant_id, search)` GIN index).
-- ts_match_vq only compares a tsvector with a tsquery, both already valid values, and
-- raises no error that depends on them, so it is marked LEAKPROOF, as PostgreSQL marks
-- the comparison operators of its base types. Only a superuser may; a migration run by
-- another role leaves searches correct and slower, and says so.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION pg_catalog.ts_match_vq(tsvector, tsquery) LEAKPROOF;
  ELSE
    RAISE WARNING 'not a superuser: ts_match_vq stays NOT LEAKPROOF, and full-text searches scan their whole workspace';
  END IF;
END $$;
