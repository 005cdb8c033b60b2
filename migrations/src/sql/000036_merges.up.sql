-- Merged contacts and companies (issue 12): a merged record is a deleted tombstone naming
-- its survivor, so a client holding its id finds where it went.
ALTER TABLE contacts ADD COLUMN merged_into uuid;
ALTER TABLE companies ADD COLUMN merged_into uuid;
