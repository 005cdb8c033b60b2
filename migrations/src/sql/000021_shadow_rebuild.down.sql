DROP SCHEMA IF EXISTS crm_rebuild CASCADE;
DELETE FROM projector_checkpoints WHERE name = 'rebuild';
DROP FUNCTION crm_rebuild_discard();
DROP FUNCTION crm_rebuild_switch();
DROP FUNCTION crm_rebuild_prepare();
DROP FUNCTION crm_read_table_shape(text);
DROP FUNCTION crm_read_tables();
