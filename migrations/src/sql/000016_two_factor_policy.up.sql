-- A workspace may require two-factor sign-in of its owners and admins.
ALTER TABLE workspaces ADD COLUMN require_two_factor boolean NOT NULL DEFAULT false;
