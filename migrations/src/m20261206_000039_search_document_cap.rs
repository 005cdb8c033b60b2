//! Search documents cut to stay under PostgreSQL's tsvector limit (see the SQL).

crate::sql_migration!(
    "sql/000039_search_document_cap.up.sql",
    "sql/000039_search_document_cap.down.sql"
);
