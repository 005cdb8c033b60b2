DROP TABLE support_access;
DROP TABLE support_grants;
DROP TABLE support_sessions;
DROP TABLE support_accounts;
