ALTER TABLE workspaces DROP COLUMN require_two_factor;
