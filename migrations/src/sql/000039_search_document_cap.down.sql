-- Back to the search documents of migration 000037.

DROP INDEX companies_search;
ALTER TABLE companies DROP COLUMN search;
ALTER TABLE companies ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(name, '') || ' ' || coalesce(domain, '') || ' ' || translate(coalesce(domain, ''), '.-', '  '))
    || jsonb_to_tsvector('simple', custom, '["string"]'))
) STORED;
CREATE INDEX companies_search ON companies USING gin (tenant_id, search);

DROP INDEX contacts_search;
ALTER TABLE contacts DROP COLUMN search;
ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
    translate(coalesce(email, ''), '@.-_+', '     ') || ' ' || coalesce(job_title, ''))
    || jsonb_to_tsvector('simple', custom, '["string"]'))
) STORED;
CREATE INDEX contacts_search ON contacts USING gin (tenant_id, search);

DROP INDEX deals_search;
ALTER TABLE deals DROP COLUMN search;
ALTER TABLE deals ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple', coalesce(name, ''))
    || jsonb_to_tsvector('simple', custom, '["string"]'))
) STORED;
CREATE INDEX deals_search ON deals USING gin (tenant_id, search);

DROP FUNCTION crm_custom_search_text(jsonb);
