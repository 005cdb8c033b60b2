DROP FUNCTION IF EXISTS crm_current_tenant();
-- Roles are shared by every database of the cluster and are left in place.
