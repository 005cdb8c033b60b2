-- Every key of a tenant table starts with tenant_id, the distribution column a Citus
-- cluster would shard by (docs/scale-out.md): a unique index without it cannot be
-- enforced across shards. Three did not:
--
-- * credentials (email): a login email is unique across all workspaces, since a user
--   signs in with the email alone. That uniqueness moves to a registry of its own,
--   login_emails, global like workspace_slugs (a Citus reference table); the credentials
--   keep their email for the sign-in policy and are found by (tenant_id, user_id).
-- * events (aggregate_id, aggregate_type, sequence): the primary key (tenant_id,
--   aggregate_type, aggregate_id, sequence) already holds it, since the insert trigger
--   sets tenant_id from the stream id's first part; the index stays for the lookups by
--   stream (the trigger's previous-hash lookup, stream loads), no longer unique.
-- * events (transaction_id, global_position): global_position is an identity, unique as
--   generated; the index stays for commit-order reads, no longer unique.
CREATE TABLE login_emails (
  email      text        PRIMARY KEY,
  tenant_id  uuid        NOT NULL,
  user_id    uuid        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO login_emails (email, tenant_id, user_id)
  SELECT email, tenant_id, user_id FROM credentials;
DROP INDEX credentials_email;

REVOKE ALL ON login_emails FROM PUBLIC;
GRANT SELECT, INSERT ON login_emails TO crm_app, crm_command;
GRANT SELECT ON login_emails TO crm_projector;
ALTER TABLE login_emails ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_emails FORCE ROW LEVEL SECURITY;
CREATE POLICY login_emails_app ON login_emails FOR ALL TO crm_app
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
-- Sign-in, before the tenant is known: the one email the transaction names.
CREATE POLICY login_emails_login ON login_emails FOR SELECT TO crm_app
  USING (email = nullif(current_setting('app.login_email', true), ''));
CREATE POLICY login_emails_command ON login_emails FOR ALL TO crm_command
  USING (tenant_id = crm_current_tenant()) WITH CHECK (tenant_id = crm_current_tenant());
CREATE POLICY login_emails_projector ON login_emails FOR SELECT TO crm_projector
  USING (true);

DROP INDEX events_stream;
CREATE INDEX events_stream ON events (aggregate_id, aggregate_type, sequence);
DROP INDEX events_commit_order;
CREATE INDEX events_commit_order ON events (transaction_id, global_position);
