DROP FUNCTION crm_rebuild_analyze();
