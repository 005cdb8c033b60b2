DROP TABLE events;
DROP FUNCTION events_reject_change();
DROP FUNCTION events_before_insert();
