-- Erasure inside an append-only store (crypto-shredding): the personal fields of a
-- contact's events are encrypted with a data key of that contact (AES-256-GCM), kept here
-- wrapped by a master key from configuration, which the database never holds. Erasing
-- the contact destroys its key; the events stay, their hashes still verify, and their
-- personal fields can no longer be read by anyone. (Rolling this migration back drops
-- every key: all sealed personal data becomes unreadable.)
CREATE TABLE contact_keys (
  tenant_id  uuid        NOT NULL,
  contact_id uuid        NOT NULL,
  -- nonce (12 bytes) || AES-256-GCM(master key, data key), associated data tenant||contact.
  -- NULL once erased: the row stays as a tombstone, so no key can be made again.
  wrapped    bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  erased_at  timestamptz,
  PRIMARY KEY (tenant_id, contact_id),
  CHECK ((wrapped IS NULL) = (erased_at IS NOT NULL))
);

REVOKE ALL ON contact_keys FROM PUBLIC;
-- The store makes a contact's key with its first sealed event; nobody but the erasure
-- trigger (below, as the owner) ever changes or removes one.
GRANT SELECT, INSERT ON contact_keys TO crm_store;
GRANT SELECT ON contact_keys TO crm_app, crm_projector;
-- ENABLE without FORCE: the owner (migrations, the erasure trigger) is not filtered; the
-- server's three roles are.
ALTER TABLE contact_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY contact_keys_app ON contact_keys FOR SELECT TO crm_app
  USING (tenant_id = crm_current_tenant());
CREATE POLICY contact_keys_store ON contact_keys FOR ALL TO crm_store
  USING (true) WITH CHECK (wrapped IS NOT NULL AND erased_at IS NULL);
CREATE POLICY contact_keys_projector ON contact_keys FOR SELECT TO crm_projector
  USING (true);

-- The erasure is the event: appending `ContactErased` destroys the key in the same
-- transaction (and leaves a tombstone when the contact never had one), so the event and
-- the destruction commit together or not at all, and a restore that replays the event
-- destroys the key again.
CREATE FUNCTION contact_keys_erase() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO contact_keys (tenant_id, contact_id, wrapped, erased_at)
  VALUES (NEW.tenant_id, split_part(NEW.aggregate_id, ':', 2)::uuid, NULL, clock_timestamp())
  ON CONFLICT (tenant_id, contact_id)
  DO UPDATE SET wrapped = NULL, erased_at = coalesce(contact_keys.erased_at, clock_timestamp());
  RETURN NULL;
END $$;
REVOKE ALL ON FUNCTION contact_keys_erase() FROM PUBLIC;

CREATE TRIGGER events_contact_erased AFTER INSERT ON events
  FOR EACH ROW WHEN (NEW.aggregate_type = 'Contact' AND NEW.event_type = 'ContactErased')
  EXECUTE FUNCTION contact_keys_erase();

-- One row: a constant sealed by the master key of this database's data keys. A server
-- started with another master key finds that it does not open and refuses to start, rather
-- than reading every contact's personal data as missing. Not tenant data: no tenant column.
CREATE TABLE personal_data_key_check (
  id         boolean     PRIMARY KEY DEFAULT true CHECK (id),
  sealed     bytea       NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON personal_data_key_check FROM PUBLIC;
GRANT SELECT, INSERT ON personal_data_key_check TO crm_store;

-- The read model says when a contact was erased (its personal columns are NULL then).
ALTER TABLE contacts ADD COLUMN erased_at timestamptz;
