-- Full-text search whose index entries belong to one workspace. The `(tenant_id, search)`
-- GIN index of migration 000008 keeps one posting list per word for every workspace at
-- once: a search for a common prefix ("company:*") read the whole list across all
-- workspaces (1,000,000 rows, 200 index pages, 10 ms) before the tenant condition cut it
-- to its own thousand. Each lexeme now starts with 8 hex digits of its row's tenant id
-- (the last 8 of the UUID: random in a v7 id), so a search names only its workspace's
-- entries (0.1 ms on the same rows). A search's words are made lexemes and prefixed the
-- same way by `crm_tenant_query`, which the planner evaluates once per query (immutable,
-- with constant arguments), so it still plans for the words. The tenant condition stays,
-- and stays in the index (`tenant_id` is an exact entry, which GIN skips through): two
-- workspaces sharing the 8 digits share index entries, never rows, and the planner has no
-- reason to AND the search with a scan of the workspace's whole primary key.

CREATE FUNCTION crm_tenant_lexemes(tenant uuid, doc tsvector) RETURNS tsvector
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql AS $$
  SELECT array_to_tsvector(coalesce(array_agg(right(replace(tenant::text, '-', ''), 8) || l.lexeme), '{}'))
    FROM unnest(doc) AS l
$$;

-- Every word of `words` as a prefix (`acme:* & corp:*`), with its workspace's 8 digits.
CREATE FUNCTION crm_tenant_query(tenant uuid, words text) RETURNS tsquery
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql AS $$
  SELECT coalesce(string_agg(quote_literal(right(replace(tenant::text, '-', ''), 8) || l.lexeme) || ':*', ' & '), '')::tsquery
    FROM unnest(to_tsvector('simple', words)) AS l
$$;

DROP INDEX companies_search;
ALTER TABLE companies DROP COLUMN search;
ALTER TABLE companies ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(name, '') || ' ' || coalesce(domain, '') || ' ' || translate(coalesce(domain, ''), '.-', '  ')))
) STORED;
CREATE INDEX companies_search ON companies USING gin (tenant_id, search);

DROP INDEX contacts_search;
ALTER TABLE contacts DROP COLUMN search;
ALTER TABLE contacts ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple',
    coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
    translate(coalesce(email, ''), '@.-_+', '     ') || ' ' || coalesce(job_title, '')))
) STORED;
CREATE INDEX contacts_search ON contacts USING gin (tenant_id, search);

DROP INDEX deals_search;
ALTER TABLE deals DROP COLUMN search;
ALTER TABLE deals ADD COLUMN search tsvector GENERATED ALWAYS AS (
  crm_tenant_lexemes(tenant_id, to_tsvector('simple', coalesce(name, '')))
) STORED;
CREATE INDEX deals_search ON deals USING gin (tenant_id, search);
