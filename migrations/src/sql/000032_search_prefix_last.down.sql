CREATE OR REPLACE FUNCTION crm_tenant_query(tenant uuid, words text) RETURNS tsquery
  IMMUTABLE STRICT PARALLEL SAFE LANGUAGE sql AS $$
  SELECT coalesce(string_agg(quote_literal(right(replace(tenant::text, '-', ''), 8) || l.lexeme) || ':*', ' & '), '')::tsquery
    FROM unnest(to_tsvector('simple', words)) AS l
$$;
