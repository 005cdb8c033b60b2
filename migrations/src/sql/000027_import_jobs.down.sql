DROP FUNCTION crm_blank_out(jsonb, text[]);
DROP TABLE import_jobs;
