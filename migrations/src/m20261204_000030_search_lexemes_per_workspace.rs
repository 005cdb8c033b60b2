//! Search lexemes prefixed by their workspace, so a search reads only its workspace's
//! index entries (see the SQL).

crate::sql_migration!(
    "sql/000030_search_lexemes_per_workspace.up.sql",
    "sql/000030_search_lexemes_per_workspace.down.sql"
);
