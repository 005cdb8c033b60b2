ALTER TABLE companies DROP COLUMN merged_into;
ALTER TABLE contacts DROP COLUMN merged_into;
