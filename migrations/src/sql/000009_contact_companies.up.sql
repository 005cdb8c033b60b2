-- Read model of contact-to-company associations (many to many, with a role).
CREATE TABLE contact_companies (
  tenant_id  uuid NOT NULL,
  contact_id uuid NOT NULL,
  company_id uuid NOT NULL,
  role       text,
  PRIMARY KEY (tenant_id, contact_id, company_id)
);
CREATE INDEX contact_companies_by_company ON contact_companies (tenant_id, company_id);

REVOKE ALL ON contact_companies FROM PUBLIC;
GRANT SELECT ON contact_companies TO crm_app;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON contact_companies TO crm_projector;
ALTER TABLE contact_companies ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_companies FORCE ROW LEVEL SECURITY;
CREATE POLICY contact_companies_app ON contact_companies FOR SELECT TO crm_app USING (tenant_id = crm_current_tenant());
CREATE POLICY contact_companies_projector ON contact_companies FOR ALL TO crm_projector USING (true) WITH CHECK (true);
