DROP TABLE contact_companies;
