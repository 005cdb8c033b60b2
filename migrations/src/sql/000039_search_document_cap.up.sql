-- A search document stays under PostgreSQL's 1 MB tsvector limit whatever the custom
-- values (migration 000037 fed every string value in whole: four 100,000-character long
-- texts made an insert fail with SQLSTATE 54000). The custom values' text is cut at 65,536
-- characters, string values in jsonb's key order: with each lexeme prefixed by 8 digits
-- and no positions (crm_tenant_lexemes), at most 32,768 words make under 0.5 MB.

CREATE FUNCTION crm_custom_search_text(custom jsonb) RETURNS text
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql AS $$
  SELECT left(coalesce(string_agg(v #>> '{}', ' '), ''), 65536)
    FROM jsonb_path_query(custom, 'strict $.** ? (@.type() == "string")') AS v
$$;

DROP INDEX companies_search;
ALTER TABLE companies DROP COLUMN search;
ALTER TABLE companies ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(name, '') || ' ' || coalesce(domain, '') || ' ' || translate(coalesce(domain, ''), '.-', '  ') || ' ' ||
    coalesce(crm_custom_search_text(custom), '')))
) STORED;
CREATE INDEX companies_search ON companies USING gin (tenant_id, search);

DROP INDEX contacts_search;
ALTER TABLE contacts DROP COLUMN search;
ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
    translate(coalesce(email, ''), '@.-_+', '     ') || ' ' || coalesce(job_title, '') || ' ' ||
    coalesce(crm_custom_search_text(custom), '')))
) STORED;
CREATE INDEX contacts_search ON contacts USING gin (tenant_id, search);

DROP INDEX deals_search;
ALTER TABLE deals DROP COLUMN search;
ALTER TABLE deals ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(name, '') || ' ' || coalesce(crm_custom_search_text(custom), '')))
) STORED;
CREATE INDEX deals_search ON deals USING gin (tenant_id, search);
