DROP INDEX companies_dedupe_name;
ALTER TABLE companies DROP COLUMN dedupe_name;
DROP INDEX contacts_dedupe_phone;
DROP INDEX contacts_dedupe_email;
DROP INDEX contacts_dedupe_name;
ALTER TABLE contacts DROP COLUMN dedupe_phone, DROP COLUMN dedupe_email, DROP COLUMN dedupe_name;
DROP FUNCTION crm_company_name_key(text);
DROP FUNCTION crm_phone_key(text);
DROP FUNCTION crm_email_key(text);
