ALTER TABLE contacts DROP COLUMN erased_at;
DROP TRIGGER events_contact_erased ON events;
DROP FUNCTION contact_keys_erase();
DROP TABLE personal_data_key_check;
DROP TABLE contact_keys;
