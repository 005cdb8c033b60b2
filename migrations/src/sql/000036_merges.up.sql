-- Merged contacts (issue 12): a merged contact is a deleted tombstone naming its
-- survivor, so a client holding its id finds where it went.
ALTER TABLE contacts ADD COLUMN merged_into uuid;
