-- Tags, and full-text search by words and prefixes, on companies, contacts and deals.
-- The 'simple' configuration lowercases and does not stem: names are not English prose.
-- Emails and domains are also indexed split at '@', '.' and '-', so "acme" finds
-- "ada@acme.example" and "shop.acme.com". GIN indexes start with tenant_id (btree_gin).

ALTER TABLE companies
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
  ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', coalesce(name, '') || ' ' || coalesce(domain, '') || ' ' || translate(coalesce(domain, ''), '.-', '  '))
  ) STORED;
CREATE INDEX companies_search ON companies USING gin (tenant_id, search);
CREATE INDEX companies_tags ON companies USING gin (tenant_id, tags);

ALTER TABLE contacts
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
  ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple',
      coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
      translate(coalesce(email, ''), '@.-_+', '     ') || ' ' || coalesce(job_title, ''))
  ) STORED;
CREATE INDEX contacts_search ON contacts USING gin (tenant_id, search);
CREATE INDEX contacts_tags ON contacts USING gin (tenant_id, tags);

ALTER TABLE deals
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
  ADD COLUMN search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(name, ''))) STORED;
CREATE INDEX deals_search ON deals USING gin (tenant_id, search);
CREATE INDEX deals_tags ON deals USING gin (tenant_id, tags);
