-- Imports as jobs: one row per import run, with its state and running counts, so a client
-- that started an import in the background (`Prefer: respond-async`, RFC 7240) can follow
-- it with `GET /v1/imports/{id}`, and every import's outcome stays readable afterwards.
-- Not event data: the import's rows are events carrying its `import_id`; this is the
-- progress of the process that writes them, like the idempotency records.
CREATE TABLE import_jobs (
  tenant_id     uuid        NOT NULL,
  id            uuid        NOT NULL,
  kind          text        NOT NULL CHECK (kind IN ('companies', 'contacts', 'deals')),
  dry_run       boolean     NOT NULL,
  -- The user who asked (none for the command line).
  requested_by  uuid,
  -- running: rows are being written; completed: every row read and accounted for;
  -- aborted: a fault stopped it (the report says where); failed: the file was refused.
  state         text        NOT NULL CHECK (state IN ('running', 'completed', 'aborted', 'failed')),
  rows_read     bigint      NOT NULL DEFAULT 0,
  created       bigint      NOT NULL DEFAULT 0,
  skipped       bigint      NOT NULL DEFAULT 0,
  failed        bigint      NOT NULL DEFAULT 0,
  -- The whole report once the import ended; the refusal (problem detail) when it failed.
  report        jsonb,
  started_at    timestamptz NOT NULL DEFAULT now(),
  -- Moved on at every committed batch: a running job whose heartbeat is old lost its
  -- process (the API shows it as interrupted).
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz,
  PRIMARY KEY (tenant_id, id)
);
REVOKE ALL ON import_jobs FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE ON import_jobs TO crm_app;
ALTER TABLE import_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE import_jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY import_jobs_app ON import_jobs FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());

-- An erasure (projected inline as crm_command, or by the catch-up projector) blanks the
-- erased contact's email and name out of the stored reports, as it forgets idempotent
-- answers about them.
GRANT SELECT, UPDATE ON import_jobs TO crm_command, crm_projector;
CREATE POLICY import_jobs_command ON import_jobs FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY import_jobs_projector ON import_jobs FOR ALL TO crm_projector
  USING (true) WITH CHECK (true);

-- `doc` with every occurrence of each of `needles` inside its string values (not its keys)
-- replaced by `[erased]`, matched case-insensitively; the document is rebuilt value by
-- value, so the result is always valid JSON whatever the needles hold.
CREATE FUNCTION crm_blank_out(doc jsonb, needles text[]) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  s text;
  n text;
  i integer;
  pos integer;
BEGIN
  CASE jsonb_typeof(doc)
  WHEN 'string' THEN
    s := doc #>> '{}';
    FOREACH n IN ARRAY needles LOOP
      CONTINUE WHEN n IS NULL OR n = '';
      pos := 1;
      LOOP
        i := position(lower(n) IN lower(substr(s, pos)));
        EXIT WHEN i = 0;
        i := pos + i - 1;
        s := overlay(s PLACING '[erased]' FROM i FOR length(n));
        pos := i + length('[erased]');
      END LOOP;
    END LOOP;
    RETURN to_jsonb(s);
  WHEN 'object' THEN
    RETURN (SELECT coalesce(jsonb_object_agg(key, crm_blank_out(value, needles)), '{}'::jsonb)
              FROM jsonb_each(doc));
  WHEN 'array' THEN
    RETURN (SELECT coalesce(jsonb_agg(crm_blank_out(value, needles) ORDER BY ord), '[]'::jsonb)
              FROM jsonb_array_elements(doc) WITH ORDINALITY AS e(value, ord));
  ELSE
    RETURN doc;
  END CASE;
END $$;
