ALTER TABLE contacts DROP COLUMN merged_into;
