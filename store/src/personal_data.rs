//! Erasure inside an append-only store (crypto-shredding): the personal fields of a
//! contact's events ([`PERSONAL_FIELDS`]: names, email, phone, job title) are stored
//! encrypted with a data key of that contact, and erasing the contact destroys the key.
//!
//! - **Data keys.** 256 random bits per contact, made with its first event that carries a
//!   personal field, stored in `contact_keys` wrapped by the master key: `nonce (12 bytes)
//!   || AES-256-GCM(master, data key)`, with the tenant and contact ids as associated data
//!   (so a wrapped key copied to another row does not unwrap). The master key comes from
//!   configuration; the database never holds it.
//! - **Sealed payloads.** In an event's payload (`{"ContactUpdated": {...}}`) the personal
//!   fields present are taken out of the variant's object and replaced by one field,
//!   `"sealed": base64(nonce || AES-256-GCM(data key, {personal fields as JSON}))`, with
//!   the stream id as associated data. Everything else (company, tags) stays readable. The
//!   database hashes the sealed payload into the trail, so an erasure changes no hash.
//! - **Erasure.** Appending `ContactErased` fires a trigger that replaces the wrapped key
//!   with a tombstone in the same transaction (migration 000020). From then on the sealed
//!   fields open as absent, in every reader: the aggregate, the projector, a rebuild, the
//!   history, the audit trail and backups.
//!
//! AES-256-GCM is NIST SP 800-38D, with 96-bit random nonces; one data key seals at most
//! the few thousand events of one contact's stream, far below the 2^32 messages the
//! standard allows per key with random nonces (§8.3).

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use rand::RngCore;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use crm_domain::contact::PERSONAL_FIELDS;

/// The aggregate type whose events carry personal data.
pub const CONTACT: &str = "Contact";
/// The field of a variant's object that holds its sealed personal fields.
pub const SEALED: &str = "sealed";
/// The field a displayed payload gets in place of personal fields that cannot be read:
/// `"erased"` (the key was destroyed) or `"unavailable"` (no key here, e.g. a backup
/// restored without its keys).
pub const MARKER: &str = "personal_data";

const NONCE: usize = 12;

/// Why personal data could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    /// The key table could not be read or written.
    #[error(transparent)]
    Db(#[from] DbErr),
    /// A ciphertext or wrapped key does not decrypt: the master key is not the one that
    /// wrapped it, or the bytes were changed.
    #[error("personal data of {0} does not decrypt (wrong master key, or damaged)")]
    Crypto(String),
    /// The master key is not the one that sealed this database's data keys.
    #[error(
        "personal_data.master_key is not the key this database's personal data was sealed with"
    )]
    WrongMasterKey,
    /// Personal fields were written for a contact whose data was erased.
    #[error("the personal data of contact {0} was erased")]
    Erased(Uuid),
}

/// What opening a payload found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// Nothing was sealed in it.
    Plain,
    /// Its personal fields were decrypted and put back.
    Revealed,
    /// Its personal fields were erased: they are left out.
    Erased,
    /// No key for its personal fields exists here: they are left out.
    Unavailable,
    /// Its personal fields did not decrypt (see [`Keyring::open_or_hide`]): left out.
    Unreadable,
}

/// How to leave a payload whose personal fields cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// As the domain reads it: the fields absent, nothing added (for the aggregate and the
    /// projector).
    Domain,
    /// For people: the fields absent and `"personal_data": "erased"` (or `"unavailable"`)
    /// in their place (the audit trail).
    Display,
}

/// The data keys of some contacts: `Some(key)` live, `None` erased; a contact missing
/// from the map has no key here.
#[derive(Default)]
pub struct DataKeys(HashMap<(Uuid, Uuid), Option<Key<Aes256Gcm>>>);

/// The master key and what it does: makes, unwraps and uses data keys. Cheap to clone.
#[derive(Clone)]
pub struct Keyring {
    master: Key<Aes256Gcm>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring(..)")
    }
}

/// `(tenant, contact)` of a contact stream id `<tenant>:<contact>`.
fn ids(aggregate_id: &str) -> Option<(Uuid, Uuid)> {
    let (tenant, entity) = aggregate_id.split_once(':')?;
    Some((tenant.parse().ok()?, entity.parse().ok()?))
}

fn encrypt(key: &Key<Aes256Gcm>, aad: &[u8], msg: &[u8]) -> Result<Vec<u8>, PersonalDataError> {
    let mut nonce = [0_u8; NONCE];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let sealed = Aes256Gcm::new(key)
        .encrypt(&Nonce::from(nonce), Payload { msg, aad })
        .map_err(|_| PersonalDataError::Crypto("a payload".into()))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn decrypt(
    key: &Key<Aes256Gcm>,
    aad: &[u8],
    bytes: &[u8],
    what: &str,
) -> Result<Vec<u8>, PersonalDataError> {
    let fail = || PersonalDataError::Crypto(what.to_owned());
    if bytes.len() < NONCE {
        return Err(fail());
    }
    let (nonce, sealed) = bytes.split_at(NONCE);
    let nonce: [u8; NONCE] = nonce.try_into().map_err(|_| fail())?;
    Aes256Gcm::new(key)
        .decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad })
        .map_err(|_| fail())
}

/// The variant object of a serde externally tagged payload (`{"Variant": {...}}`).
fn variant_object(payload: &mut Value) -> Option<&mut Map<String, Value>> {
    match payload {
        Value::Object(outer) if outer.len() == 1 => outer.values_mut().next()?.as_object_mut(),
        _ => None,
    }
}

impl Keyring {
    /// A keyring over a 32-byte AES-256 master key.
    pub fn new(master: [u8; 32]) -> Self {
        Self {
            master: Key::<Aes256Gcm>::from(master),
        }
    }

    fn wrap_aad(tenant: Uuid, contact: Uuid) -> Vec<u8> {
        [tenant.as_bytes().as_slice(), contact.as_bytes().as_slice()].concat()
    }

    fn unwrap_key(
        &self,
        tenant: Uuid,
        contact: Uuid,
        wrapped: &[u8],
    ) -> Result<Key<Aes256Gcm>, PersonalDataError> {
        let raw = decrypt(
            &self.master,
            &Self::wrap_aad(tenant, contact),
            wrapped,
            &format!("the data key of contact {contact}"),
        )?;
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| PersonalDataError::Crypto(format!("the data key of contact {contact}")))?;
        Ok(Key::<Aes256Gcm>::from(raw))
    }

    /// Checks that this master key is the database's: opens the sealed constant in
    /// `personal_data_key_check`, sealing it first when the database has none (a new
    /// database takes the first key it sees). Run at start, before anything is sealed.
    ///
    /// # Errors
    /// [`PersonalDataError::WrongMasterKey`], and database errors.
    pub async fn verify<C: ConnectionTrait>(&self, conn: &C) -> Result<(), PersonalDataError> {
        const AAD: &[u8] = b"crm personal data master key check";
        const CONSTANT: &[u8] = b"crm-master-key-check-v1";
        let sealed = encrypt(&self.master, AAD, CONSTANT)?;
        conn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO personal_data_key_check (sealed) VALUES ($1) ON CONFLICT (id) DO NOTHING",
            [sealed.into()],
        ))
        .await?;
        let stored: Vec<u8> = conn
            .query_one(Statement::from_string(
                DbBackend::Postgres,
                "SELECT sealed FROM personal_data_key_check",
            ))
            .await?
            .ok_or(PersonalDataError::WrongMasterKey)?
            .try_get("", "sealed")?;
        match decrypt(&self.master, AAD, &stored, "the master key check") {
            Ok(plain) if plain == CONSTANT => Ok(()),
            _ => Err(PersonalDataError::WrongMasterKey),
        }
    }

    /// Whether `wrapped` is a data key of `contact` of `tenant` under this master key (a
    /// restore checks a backup's keys with it before writing anything).
    pub fn unwraps(&self, tenant: Uuid, contact: Uuid, wrapped: &[u8]) -> bool {
        self.unwrap_key(tenant, contact, wrapped).is_ok()
    }

    /// Seals the personal fields of a new contact stream's first events in place
    /// (`payloads`, of stream `aggregate_id`), with a data key made now, in memory: for a
    /// create, whose contact has no key yet. Returns the contact's tenant and id and the
    /// key wrapped under the master key, for the caller to store in `contact_keys` in the
    /// same statement as the events (so the key costs no statement of its own); `None`
    /// when no payload holds a personal field (no key is needed), or the stream is not a
    /// contact's.
    ///
    /// # Errors
    /// Encryption errors.
    pub fn seal_new(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        payloads: &mut [Value],
    ) -> Result<Option<(Uuid, Uuid, Vec<u8>)>, PersonalDataError> {
        if aggregate_type != CONTACT || !payloads.iter().any(has_personal) {
            return Ok(None);
        }
        let Some((tenant, contact)) = ids(aggregate_id) else {
            return Ok(None);
        };
        let mut raw = [0_u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let wrapped = encrypt(&self.master, &Self::wrap_aad(tenant, contact), &raw)?;
        let key = Key::<Aes256Gcm>::from(raw);
        for payload in payloads.iter_mut().filter(|p| has_personal(p)) {
            seal_with(&key, aggregate_id, payload)?;
        }
        Ok(Some((tenant, contact, wrapped)))
    }

    /// Seals the personal fields of one `Contact` event's payload in place, making the
    /// contact's data key when it has none. A payload of another aggregate type, or with
    /// no personal field, is left as it is.
    ///
    /// # Errors
    /// [`PersonalDataError::Erased`] when the contact was erased (a command raced the
    /// erasure); database and encryption errors.
    pub async fn seal<C: ConnectionTrait>(
        &self,
        conn: &C,
        aggregate_type: &str,
        aggregate_id: &str,
        payload: &mut Value,
    ) -> Result<(), PersonalDataError> {
        if aggregate_type != CONTACT {
            return Ok(());
        }
        let Some((tenant, contact)) = ids(aggregate_id) else {
            return Ok(());
        };
        if !has_personal(payload) {
            return Ok(());
        }
        let key = self.data_key(conn, tenant, contact).await?;
        seal_with(&key, aggregate_id, payload)
    }

    /// The contact's data key, made now if it has none.
    async fn data_key<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: Uuid,
        contact: Uuid,
    ) -> Result<Key<Aes256Gcm>, PersonalDataError> {
        // One statement: a new key is offered and kept unless the contact has one (or a
        // tombstone); whichever stands is read back. A concurrent writer's new key is not
        // visible to this statement's snapshot once its insert made ours lose: the second
        // round reads it.
        for _ in 0..2 {
            let mut raw = [0_u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut raw);
            let offered = encrypt(&self.master, &Self::wrap_aad(tenant, contact), &raw)?;
            let row = conn
                .query_one(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "WITH made AS (
                         INSERT INTO contact_keys (tenant_id, contact_id, wrapped) VALUES ($1, $2, $3)
                         ON CONFLICT (tenant_id, contact_id) DO NOTHING
                         RETURNING wrapped
                     )
                     SELECT wrapped FROM made
                     UNION ALL
                     SELECT wrapped FROM contact_keys WHERE tenant_id = $1 AND contact_id = $2
                     LIMIT 1",
                    [tenant.into(), contact.into(), offered.into()],
                ))
                .await?;
            if let Some(row) = row {
                let wrapped: Option<Vec<u8>> = row.try_get("", "wrapped")?;
                return match wrapped {
                    Some(wrapped) => self.unwrap_key(tenant, contact, &wrapped),
                    None => Err(PersonalDataError::Erased(contact)),
                };
            }
        }
        Err(PersonalDataError::Db(DbErr::Custom(format!(
            "the data key of contact {contact} was neither found nor made"
        ))))
    }

    /// Loads and unwraps the data keys of the contact streams among `aggregate_ids`, in
    /// one query. Under the app role, row-level security limits it to the request's
    /// tenant.
    ///
    /// A key that this master key does not unwrap is logged and left out, so its
    /// contact's fields open as [`Opened::Unavailable`].
    ///
    /// # Errors
    /// Database errors.
    pub async fn load<'a, C: ConnectionTrait>(
        &self,
        conn: &C,
        aggregate_ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<DataKeys, PersonalDataError> {
        let mut tenants = Vec::new();
        let mut contacts = Vec::new();
        for (tenant, contact) in aggregate_ids.into_iter().filter_map(ids) {
            tenants.push(tenant);
            contacts.push(contact);
        }
        let mut keys = DataKeys::default();
        if contacts.is_empty() {
            return Ok(keys);
        }
        let rows = conn
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT k.tenant_id, k.contact_id, k.wrapped
                   FROM contact_keys k
                   JOIN unnest($1::uuid[], $2::uuid[]) AS w(tenant_id, contact_id)
                     ON k.tenant_id = w.tenant_id AND k.contact_id = w.contact_id",
                [tenants.into(), contacts.into()],
            ))
            .await?;
        for row in rows {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            let contact: Uuid = row.try_get("", "contact_id")?;
            let wrapped: Option<Vec<u8>> = row.try_get("", "wrapped")?;
            match wrapped.map(|w| self.unwrap_key(tenant, contact, &w)) {
                None => {
                    keys.0.insert((tenant, contact), None);
                }
                Some(Ok(key)) => {
                    keys.0.insert((tenant, contact), Some(key));
                }
                // Another master key wrapped it: its fields read as unavailable (a rebuild
                // under the right key brings them back) rather than stopping every reader.
                Some(Err(err)) => {
                    tracing::error!(%contact, error = %err, "data key does not unwrap")
                }
            }
        }
        Ok(keys)
    }

    /// Opens one payload in place: puts its personal fields back when its contact's key is
    /// live, leaves them out when the key is destroyed or missing (adding [`MARKER`] when
    /// `show` is [`Show::Display`]).
    ///
    /// # Errors
    /// [`PersonalDataError::Crypto`] for a sealed field that does not decrypt with a live
    /// key (the payload was changed).
    pub fn open(
        &self,
        keys: &DataKeys,
        aggregate_type: &str,
        aggregate_id: &str,
        payload: &mut Value,
        show: Show,
    ) -> Result<Opened, PersonalDataError> {
        if aggregate_type != CONTACT {
            return Ok(Opened::Plain);
        }
        let Some(object) = variant_object(payload) else {
            return Ok(Opened::Plain);
        };
        let key = ids(aggregate_id).and_then(|id| keys.0.get(&id));
        let Some(sealed) = object.remove(SEALED) else {
            // Written in clear (before sealing existed, or restored from such a backup):
            // readable until the contact is erased, hidden from then on.
            if matches!(key, Some(None)) && PERSONAL_FIELDS.iter().any(|f| object.contains_key(*f))
            {
                hide(object, show, "erased");
                return Ok(Opened::Erased);
            }
            return Ok(Opened::Plain);
        };
        let (opened, marker) = match key {
            Some(Some(key)) => {
                let what = format!("an event of stream {aggregate_id}");
                let bytes = sealed
                    .as_str()
                    .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                    .ok_or_else(|| PersonalDataError::Crypto(what.clone()))?;
                let plain = decrypt(key, aggregate_id.as_bytes(), &bytes, &what)?;
                let fields: Map<String, Value> =
                    serde_json::from_slice(&plain).map_err(|_| PersonalDataError::Crypto(what))?;
                object.extend(fields);
                return Ok(Opened::Revealed);
            }
            Some(None) => (Opened::Erased, "erased"),
            None => (Opened::Unavailable, "unavailable"),
        };
        hide(object, show, marker);
        Ok(opened)
    }

    /// [`Keyring::open`], but a payload whose personal fields do not decrypt (changed
    /// bytes, or a key wrapped by another master key) is logged and shown without them,
    /// marked `"unreadable"` for [`Show::Display`], instead of failing the whole read:
    /// for the audit trail and histories, where one bad event must not hide the rest.
    pub fn open_or_hide(
        &self,
        keys: &DataKeys,
        aggregate_type: &str,
        aggregate_id: &str,
        payload: &mut Value,
        show: Show,
    ) -> Opened {
        match self.open(keys, aggregate_type, aggregate_id, payload, show) {
            Ok(opened) => opened,
            Err(err) => {
                tracing::error!(%aggregate_id, error = %err, "personal data does not open; hidden");
                if let Some(object) = variant_object(payload) {
                    hide(object, show, "unreadable");
                }
                Opened::Unreadable
            }
        }
    }

    /// Opens many payloads: loads their contacts' keys in one query, then
    /// [`Keyring::open_or_hide`]s each `(aggregate type, aggregate id, payload)`, so one
    /// payload that does not decrypt never stops a read (nor, for the aggregate, its
    /// erasure).
    ///
    /// # Errors
    /// As [`Keyring::load`].
    pub async fn open_all<C: ConnectionTrait>(
        &self,
        conn: &C,
        events: &mut [(&str, &str, &mut Value)],
        show: Show,
    ) -> Result<(), PersonalDataError> {
        let sealed = events
            .iter()
            .filter(|(t, _, p)| needs_key(t, p))
            .map(|(_, id, _)| *id);
        let keys = self.load(conn, sealed).await?;
        for (aggregate_type, aggregate_id, payload) in events.iter_mut() {
            self.open_or_hide(&keys, aggregate_type, aggregate_id, payload, show);
        }
        Ok(())
    }
}

/// Leaves the personal fields (sealed or not) out of a variant object, and for
/// [`Show::Display`] says why in [`MARKER`].
fn hide(object: &mut Map<String, Value>, show: Show, why: &str) {
    object.retain(|k, _| k != SEALED && !PERSONAL_FIELDS.contains(&k.as_str()));
    if show == Show::Display {
        object.insert(MARKER.to_owned(), Value::String(why.to_owned()));
    }
}

/// Whether a payload's variant object holds any of [`PERSONAL_FIELDS`].
fn has_personal(payload: &Value) -> bool {
    match payload {
        Value::Object(outer) if outer.len() == 1 => outer
            .values()
            .next()
            .and_then(Value::as_object)
            .is_some_and(|o| PERSONAL_FIELDS.iter().any(|f| o.contains_key(*f))),
        _ => false,
    }
}

/// Moves the personal fields of `payload`'s variant object into its [`SEALED`] field,
/// encrypted with `key` and the stream id as associated data.
fn seal_with(
    key: &Key<Aes256Gcm>,
    aggregate_id: &str,
    payload: &mut Value,
) -> Result<(), PersonalDataError> {
    let Some(object) = variant_object(payload) else {
        return Ok(());
    };
    let mut personal = Map::new();
    for field in PERSONAL_FIELDS {
        if let Some(value) = object.remove(field) {
            personal.insert(field.to_owned(), value);
        }
    }
    let plain = serde_json::to_vec(&personal).map_err(|e| DbErr::Custom(e.to_string()))?;
    let sealed = encrypt(key, aggregate_id.as_bytes(), &plain)?;
    object.insert(
        SEALED.to_owned(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(sealed)),
    );
    Ok(())
}

/// Whether opening this event needs its contact's key: a `Contact` payload with sealed
/// personal fields, or with personal fields in clear (hidden once the contact is erased).
pub fn needs_key(aggregate_type: &str, payload: &Value) -> bool {
    aggregate_type == CONTACT && (is_sealed(payload) || has_personal(payload))
}

/// Whether a payload holds sealed personal fields.
pub fn is_sealed(payload: &Value) -> bool {
    match payload {
        Value::Object(outer) if outer.len() == 1 => outer
            .values()
            .next()
            .and_then(Value::as_object)
            .is_some_and(|o| o.contains_key(SEALED)),
        _ => false,
    }
}

impl From<PersonalDataError> for DbErr {
    fn from(err: PersonalDataError) -> Self {
        match err {
            PersonalDataError::Db(e) => e,
            other => DbErr::Custom(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const STREAM: &str =
        "0190a0e4-0000-7000-8000-000000000001:0190a0e4-0000-7000-8000-000000000002";

    fn sealed_by(key: &Key<Aes256Gcm>, payload: &mut Value) {
        seal_with(key, STREAM, payload).unwrap_or_else(|e| panic!("{e}"));
    }

    fn keys_with(key: Option<Key<Aes256Gcm>>) -> DataKeys {
        let mut keys = DataKeys::default();
        keys.0
            .insert(ids(STREAM).unwrap_or_else(|| panic!("ids")), key);
        keys
    }

    #[test]
    fn a_sealed_payload_opens_with_its_key_and_not_after_erasure() {
        let ring = Keyring::new([7; 32]);
        let key = Key::<Aes256Gcm>::from([9; 32]);
        let original =
            json!({"ContactUpdated": {"first_name": "Ada", "email": null, "tags": ["a"]}});
        let mut payload = original.clone();
        sealed_by(&key, &mut payload);
        assert!(is_sealed(&payload));
        assert!(!payload.to_string().contains("Ada"));
        assert_eq!(payload["ContactUpdated"]["tags"], json!(["a"]));

        let mut opened = payload.clone();
        let got = ring.open(
            &keys_with(Some(key)),
            CONTACT,
            STREAM,
            &mut opened,
            Show::Domain,
        );
        assert_eq!(got.ok(), Some(Opened::Revealed));
        assert_eq!(opened, original);

        let mut erased = payload.clone();
        let got = ring.open(
            &keys_with(None),
            CONTACT,
            STREAM,
            &mut erased,
            Show::Display,
        );
        assert_eq!(got.ok(), Some(Opened::Erased));
        assert_eq!(
            erased,
            json!({"ContactUpdated": {"tags": ["a"], "personal_data": "erased"}})
        );

        let mut missing = payload.clone();
        let got = ring.open(
            &DataKeys::default(),
            CONTACT,
            STREAM,
            &mut missing,
            Show::Domain,
        );
        assert_eq!(got.ok(), Some(Opened::Unavailable));
        assert_eq!(missing, json!({"ContactUpdated": {"tags": ["a"]}}));
    }

    #[test]
    fn a_wrong_key_or_a_moved_ciphertext_is_refused() {
        let ring = Keyring::new([7; 32]);
        let key = Key::<Aes256Gcm>::from([9; 32]);
        let mut payload = json!({"ContactCreated": {"last_name": "Lovelace"}});
        sealed_by(&key, &mut payload);
        let wrong = keys_with(Some(Key::<Aes256Gcm>::from([8; 32])));
        assert!(matches!(
            ring.open(&wrong, CONTACT, STREAM, &mut payload.clone(), Show::Domain),
            Err(PersonalDataError::Crypto(_))
        ));
        // The same ciphertext under another stream id fails its associated data.
        let other = "0190a0e4-0000-7000-8000-000000000001:0190a0e4-0000-7000-8000-000000000003";
        let mut keys = DataKeys::default();
        keys.0
            .insert(ids(other).unwrap_or_else(|| panic!("ids")), Some(key));
        assert!(matches!(
            ring.open(&keys, CONTACT, other, &mut payload, Show::Domain),
            Err(PersonalDataError::Crypto(_))
        ));
    }

    #[test]
    fn a_wrapped_key_unwraps_only_for_its_own_contact_and_master() {
        let ring = Keyring::new([7; 32]);
        let (tenant, contact) = ids(STREAM).unwrap_or_else(|| panic!("ids"));
        let wrapped = encrypt(&ring.master, &Keyring::wrap_aad(tenant, contact), &[5; 32])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(ring.unwrap_key(tenant, contact, &wrapped).is_ok());
        assert!(ring.unwrap_key(tenant, Uuid::nil(), &wrapped).is_err());
        assert!(Keyring::new([6; 32])
            .unwrap_key(tenant, contact, &wrapped)
            .is_err());
    }

    #[test]
    fn other_aggregates_and_unsealed_payloads_are_left_alone() {
        let ring = Keyring::new([7; 32]);
        let mut company = json!({"CompanyCreated": {"name": "Acme", "first_name": "x"}});
        let before = company.clone();
        assert_eq!(
            ring.open(
                &DataKeys::default(),
                "Company",
                STREAM,
                &mut company,
                Show::Display
            )
            .ok(),
            Some(Opened::Plain)
        );
        assert_eq!(company, before);
        let mut deleted = json!("ContactDeleted");
        assert_eq!(
            ring.open(
                &DataKeys::default(),
                CONTACT,
                STREAM,
                &mut deleted,
                Show::Display
            )
            .ok(),
            Some(Opened::Plain)
        );
    }
}
