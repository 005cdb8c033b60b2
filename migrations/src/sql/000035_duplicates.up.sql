-- Duplicate candidates (issue 12): match keys kept on the read rows as generated columns,
-- so every write, catch-up and rebuild keeps them, and indexes that start with tenant_id.
--
-- A contact's keys: its name ("first last", lowercased), its email with a `+tag` cut from
-- the local part (RFC 5233 subaddressing; a plus address reaches the same mailbox), and
-- the last nine digits of its phone (so "+44 20 7946 0958" and "020 7946 0958" meet:
-- ITU-T E.164 national significant numbers are mostly nine digits or more; a number of
-- fewer than seven digits has no key). A company's: its name lowercased, without
-- punctuation and legal forms ("Acme, Inc." and "ACME Incorporated" meet), and its domain.
-- Names are compared by trigram similarity (pg_trgm).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE FUNCTION crm_email_key(email text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
  SELECT NULLIF(lower(split_part(split_part(email, '@', 1), '+', 1)) || '@'
                || lower(split_part(email, '@', 2)), '@')
$$;

CREATE FUNCTION crm_phone_key(phone text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
  SELECT CASE WHEN length(d) >= 7 THEN right(d, 9) END
    FROM (SELECT regexp_replace(phone, '[^0-9]', '', 'g') AS d) AS digits
$$;

CREATE FUNCTION crm_company_name_key(name text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE RETURNS NULL ON NULL INPUT AS $$
  SELECT NULLIF(btrim(regexp_replace(regexp_replace(
           regexp_replace(lower(name), '[^[:alnum:]]+', ' ', 'g'),
           '\m(inc|incorporated|corp|corporation|co|company|ltd|limited|llc|llp|lp|plc|gmbh|ag|kg|sa|sas|sarl|srl|spa|bv|nv|oy|oyj|ab|as|asa|aps|kk|pty|pte|pvt|se|the)\M',
           ' ', 'g'), '\s+', ' ', 'g')), '')
$$;

ALTER TABLE contacts
  ADD COLUMN dedupe_name text GENERATED ALWAYS AS (
    NULLIF(lower(btrim(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))), '')
  ) STORED,
  ADD COLUMN dedupe_email text GENERATED ALWAYS AS (crm_email_key(email)) STORED,
  ADD COLUMN dedupe_phone text GENERATED ALWAYS AS (crm_phone_key(phone)) STORED;
CREATE INDEX contacts_dedupe_name ON contacts USING gin (tenant_id, dedupe_name gin_trgm_ops);
CREATE INDEX contacts_dedupe_email ON contacts (tenant_id, dedupe_email);
CREATE INDEX contacts_dedupe_phone ON contacts (tenant_id, dedupe_phone);

ALTER TABLE companies
  ADD COLUMN dedupe_name text GENERATED ALWAYS AS (crm_company_name_key(name)) STORED;
CREATE INDEX companies_dedupe_name ON companies USING gin (tenant_id, dedupe_name gin_trgm_ops);

-- As `jsonb_contains` in migration 000033: under row-level security, `%` is an index
-- condition for crm_app only when its function is LEAKPROOF. similarity_op compares the
-- trigram sets of two texts and raises no error that depends on them.
DO $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER FUNCTION similarity_op(text, text) LEAKPROOF;
  ELSE
    RAISE WARNING 'not a superuser: similarity_op stays NOT LEAKPROOF, and duplicate searches scan their whole workspace';
  END IF;
END $$;
