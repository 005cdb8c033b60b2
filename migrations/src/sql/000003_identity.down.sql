DROP TABLE contact_emails;
DROP TABLE credentials;
DROP TABLE workspace_slugs;
