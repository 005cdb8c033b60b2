DROP TABLE invitations;
ALTER TABLE users DROP COLUMN status;
