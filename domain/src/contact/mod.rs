//! The `Contact` aggregate: a person the workspace deals with.
//!
//! Lifecycle as for companies: created, updated, soft-deleted, restored. A contact needs a
//! name or an email. Email uniqueness inside a workspace is not a rule of one stream; the
//! API enforces it with a claim table before it runs the command (409 on a duplicate).

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::error::{changed, ensure_live};
use crate::fields::{self, CustomChanges, CustomInput, CustomValues};
use crate::merge::{MergeRecord, MergeState, Swap};
use crate::{text, DomainError, Email, EntityId, Guarded};

#[cfg(test)]
mod tests;

/// Longest first or last name, in characters.
pub const NAME_MAX: usize = 100;
/// Longest job title, in characters.
pub const JOB_TITLE_MAX: usize = 200;
/// Longest phone number text, in characters.
pub const PHONE_MAX: usize = 32;

/// A contact's fields as a command gives them (unvalidated); also the `POST /v1/contacts`
/// body. A contact needs a first name, a last name or an email.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = CreateContact)]
pub struct ContactInput {
    /// Given name, up to 100 characters.
    pub first_name: Option<String>,
    /// Family name, up to 100 characters.
    pub last_name: Option<String>,
    /// Email address, unique in the workspace (409 otherwise); validated and normalised.
    pub email: Option<String>,
    /// Phone number: 3 to 32 characters of digits, spaces and `+ - ( ) . /`, at least 3
    /// digits, `+` only first (ITU-T E.123 written forms, loosely; see [`validate_phone`]).
    pub phone: Option<String>,
    /// Job title, up to 200 characters.
    pub job_title: Option<String>,
    /// The company the contact works for, a company of the workspace.
    #[schema(value_type = Option<uuid::Uuid>)]
    pub company_id: Option<EntityId>,
    /// Tags: trimmed, lowercased, deduplicated.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom values keyed by API key (`GET /v1/schema` lists the fields); each is
    /// checked against its field's type.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomInput,
}

/// A partial update, also the `PATCH /v1/contacts/{id}` body (JSON merge patch, RFC 7396):
/// an absent field (`None`) stays, `null` (`Some(None)`) clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PatchContact)]
pub struct ContactPatch {
    /// New given name, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub first_name: Option<Option<String>>,
    /// New family name, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub last_name: Option<Option<String>>,
    /// New email, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub email: Option<Option<String>>,
    /// New phone, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub phone: Option<Option<String>>,
    /// New job title, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    pub job_title: Option<Option<String>>,
    /// New company, or null.
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<Option<uuid::Uuid>>)]
    pub company_id: Option<Option<EntityId>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
    /// Custom values to change, keyed by API key: a key given sets its value, `null`
    /// clears it, a key left out stays.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: CustomInput,
}

/// A contact's validated fields, as `ContactCreated` records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFields {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Normalised email.
    pub email: Option<Email>,
    /// Phone number as given, trimmed.
    pub phone: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// The company the contact works for.
    pub company_id: Option<EntityId>,
    /// Tags, normalised.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Custom values keyed by field id.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: CustomValues,
    /// Values of personal data fields, keyed by field id: sealed and erased with the
    /// other personal fields.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub personal_custom: CustomValues,
}

/// The fields an update changed, and only those; `null` means cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactChanges {
    /// New given name, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub first_name: Option<Option<String>>,
    /// New family name, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub last_name: Option<Option<String>>,
    /// New email, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub email: Option<Option<Email>>,
    /// New phone, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub phone: Option<Option<String>>,
    /// New job title, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub job_title: Option<Option<String>>,
    /// New company, or cleared.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::patch::double_option"
    )]
    pub company_id: Option<Option<EntityId>>,
    /// New tag list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Custom values that changed, keyed by field id (`null`: cleared).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub custom: CustomChanges,
    /// Values of personal data fields that changed (sealed like the other personal
    /// fields).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub personal_custom: CustomChanges,
}

impl ContactChanges {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Longest association role, in characters.
pub const ROLE_MAX: usize = 100;
/// Most companies one contact is associated with.
pub const MAX_COMPANIES: usize = 100;

/// Commands of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactCommand {
    /// Associate the contact with a company (many to many), with an optional role such
    /// as "decision maker"; linking again changes the role.
    LinkCompany {
        /// The company (checked to exist in the tenant by the caller).
        company_id: EntityId,
        /// The contact's role there, up to 100 characters.
        role: Option<String>,
    },
    /// End an association.
    UnlinkCompany {
        /// The company.
        company_id: EntityId,
    },
    /// Create the contact.
    Create(ContactInput),
    /// Change some fields.
    Update(ContactPatch),
    /// Soft-delete.
    Delete,
    /// Undo a soft delete.
    Restore,
    /// Erase the contact's personal data (GDPR art. 17): the API destroys the contact's
    /// data key with this event, so the personal fields of every earlier event become
    /// unreadable. The contact keeps its id, company links, tags and history, and can still
    /// be linked, unlinked, deleted and restored; updates are refused from then on (an
    /// update could set personal fields again, and its validation needs a name or an
    /// email). The reason travels in the event's metadata.
    Erase,
    /// Become a tombstone of the contact `into` (the survivor of a merge): deleted, with
    /// `merged_into` set, its email released; its events and links stay.
    MergeInto {
        /// The survivor (the caller checked it is another live contact of the tenant).
        into: EntityId,
    },
    /// Come back from a merge (the survivor undid it).
    Unmerge,
    /// Change its company (`company_id`) when it is `swap.remove` (a company merge moves
    /// it to the survivor, an unmerge back); also for an erased contact, whose company is
    /// not personal data. No event when nothing changes.
    SwapCompany(Swap),
    /// Record, on the survivor, that a contact was merged into it and what moved.
    RecordMerge(MergeRecord),
    /// Record, on the survivor, that the merge of `from` was undone.
    UndoMerge {
        /// The contact given back.
        from: EntityId,
    },
}

/// Events of a contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContactEvent {
    /// Associated with a company (or its role there changed).
    ContactCompanyLinked {
        /// The company.
        company_id: EntityId,
        /// The role.
        role: Option<String>,
    },
    /// No longer associated with a company.
    ContactCompanyUnlinked {
        /// The company.
        company_id: EntityId,
    },
    /// The contact was created with these fields.
    ContactCreated(ContactFields),
    /// These fields changed.
    ContactUpdated(ContactChanges),
    /// The contact was soft-deleted.
    ContactDeleted,
    /// The contact was restored.
    ContactRestored,
    /// The contact's personal data was erased (its data key destroyed with this event).
    ContactErased,
    /// The contact was merged into another (a tombstone from now on).
    ContactMergedInto {
        /// The survivor.
        into: EntityId,
    },
    /// The merge into another contact was undone.
    ContactUnmerged {
        /// The former survivor.
        from: EntityId,
    },
    /// Another contact was merged into this one.
    ContactMerged(MergeRecord),
    /// The merge of another contact into this one was undone.
    ContactMergeUndone {
        /// The contact given back.
        from: EntityId,
    },
}

impl DomainEvent for ContactEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ContactCreated(_) => "ContactCreated",
            Self::ContactUpdated(_) => "ContactUpdated",
            Self::ContactDeleted => "ContactDeleted",
            Self::ContactRestored => "ContactRestored",
            Self::ContactErased => "ContactErased",
            Self::ContactCompanyLinked { .. } => "ContactCompanyLinked",
            Self::ContactCompanyUnlinked { .. } => "ContactCompanyUnlinked",
            Self::ContactMergedInto { .. } => "ContactMergedInto",
            Self::ContactUnmerged { .. } => "ContactUnmerged",
            Self::ContactMerged(_) => "ContactMerged",
            Self::ContactMergeUndone { .. } => "ContactMergeUndone",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// A contact's state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Contact {
    version: u64,
    companies: Vec<(EntityId, Option<String>)>,
    exists: bool,
    deleted: bool,
    /// The personal data was erased.
    #[serde(default)]
    erased: bool,
    fields: ContactFields,
    /// Its merges: as a tombstone, and as a survivor.
    #[serde(default)]
    merge: MergeState,
}

impl Contact {
    /// The contact's current email, if any (the API releases its claim when it changes).
    pub fn email(&self) -> Option<&Email> {
        self.fields.email.as_ref()
    }

    /// Whether the contact's personal data was erased.
    pub fn erased(&self) -> bool {
        self.erased
    }

    /// The company associations, with their roles.
    pub fn companies(&self) -> &[(EntityId, Option<String>)] {
        &self.companies
    }

    /// The stream's version.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// The fields of a contact that are personal data, encrypted in its events and destroyed
/// by erasure: names, email, phone and job title (the contact's company links and tags
/// are the workspace's own data and stay readable).
pub const PERSONAL_FIELDS: [&str; 6] = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "personal_custom",
];

/// Checks a phone number: 3 to 32 characters of digits, spaces and `+ - ( ) . /`, with at
/// least 3 digits, and `+` only first (the ITU-T E.123 written forms, loosely: CRM users
/// type numbers in every national format, so it is kept as written rather than
/// rewritten to E.164).
///
/// # Errors
/// [`DomainError::Invalid`] on field `phone`.
pub fn validate_phone(phone: &str) -> Result<(), DomainError> {
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let charset = phone
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().//".contains(c));
    let plus_first = phone.rfind('+').is_none_or(|i| i == 0);
    if phone.chars().count() <= PHONE_MAX && digits >= 3 && charset && plus_first {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "phone",
            "must be 3 to 32 characters of digits, spaces and + - ( ) . / with at least 3 digits",
        ))
    }
}

impl ContactFields {
    /// Validates and normalises a command's input.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] naming the first failing field.
    pub fn validate(input: ContactInput) -> Result<Self, DomainError> {
        let opt = |field, value: Option<String>, max| -> Result<Option<String>, DomainError> {
            Ok(match value {
                Some(v) => text::optional(field, &v, max)?,
                None => None,
            })
        };
        let email = match input
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(e) => Some(Email::parse(e).map_err(|err| DomainError::from(("email", err)))?),
            None => None,
        };
        let phone = opt("phone", input.phone, PHONE_MAX)?;
        if let Some(p) = &phone {
            validate_phone(p)?;
        }
        let fields = Self {
            first_name: opt("first_name", input.first_name, NAME_MAX)?,
            last_name: opt("last_name", input.last_name, NAME_MAX)?,
            email,
            phone,
            job_title: opt("job_title", input.job_title, JOB_TITLE_MAX)?,
            company_id: input.company_id,
            tags: crate::tags::normalize(input.tags)?,
            custom: BTreeMap::new(),
            personal_custom: BTreeMap::new(),
        };
        let (custom, personal_custom) = fields::values::created_split(&input.custom)?;
        let fields = Self {
            custom,
            personal_custom,
            ..fields
        };
        if fields.first_name.is_none() && fields.last_name.is_none() && fields.email.is_none() {
            return Err(DomainError::invalid(
                "first_name",
                "a contact needs a first name, a last name or an email",
            ));
        }
        Ok(fields)
    }

    fn patched(&self, patch: ContactPatch) -> Result<ContactInput, DomainError> {
        Ok(ContactInput {
            custom: fields::values::patched_split(
                &self.custom,
                &self.personal_custom,
                &patch.custom,
            )?,
            first_name: patch.first_name.unwrap_or_else(|| self.first_name.clone()),
            last_name: patch.last_name.unwrap_or_else(|| self.last_name.clone()),
            email: patch
                .email
                .unwrap_or_else(|| self.email.as_ref().map(ToString::to_string)),
            phone: patch.phone.unwrap_or_else(|| self.phone.clone()),
            job_title: patch.job_title.unwrap_or_else(|| self.job_title.clone()),
            company_id: patch.company_id.unwrap_or(self.company_id),
            tags: patch.tags.unwrap_or_else(|| self.tags.clone()),
        })
    }

    fn diff(&self, new: Self) -> ContactChanges {
        ContactChanges {
            first_name: changed(&self.first_name, Some(new.first_name)),
            last_name: changed(&self.last_name, Some(new.last_name)),
            email: changed(&self.email, Some(new.email)),
            phone: changed(&self.phone, Some(new.phone)),
            job_title: changed(&self.job_title, Some(new.job_title)),
            company_id: changed(&self.company_id, Some(new.company_id)),
            tags: changed(&self.tags, Some(new.tags)),
            custom: fields::diff(&self.custom, &new.custom),
            personal_custom: fields::diff(&self.personal_custom, &new.personal_custom),
        }
    }

    /// Lays `changes` over these fields.
    pub fn apply(&mut self, changes: ContactChanges) {
        let ContactChanges {
            first_name,
            last_name,
            email,
            phone,
            job_title,
            company_id,
            tags,
            custom,
            personal_custom,
        } = changes;
        fields::values::apply(&mut self.custom, custom);
        fields::values::apply(&mut self.personal_custom, personal_custom);
        if let Some(v) = first_name {
            self.first_name = v;
        }
        if let Some(v) = last_name {
            self.last_name = v;
        }
        if let Some(v) = email {
            self.email = v;
        }
        if let Some(v) = phone {
            self.phone = v;
        }
        if let Some(v) = job_title {
            self.job_title = v;
        }
        if let Some(v) = company_id {
            self.company_id = v;
        }
        if let Some(v) = tags {
            self.tags = v;
        }
    }
}

impl crate::merge::Merges for Contact {
    fn merges(&self) -> &MergeState {
        &self.merge
    }
}

impl Aggregate for Contact {
    const TYPE: &'static str = "Contact";
    type Command = Guarded<ContactCommand>;
    type Event = ContactEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        guarded: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // An empty stream is a 404 whatever the guard says, as for any missing record.
        check_version(
            self.version,
            guarded.if_version.filter(|_| self.version > 0),
        )?;
        let command = guarded.command;
        let event = match command {
            ContactCommand::Create(input) => {
                if self.exists {
                    return Err(DomainError::AlreadyExists);
                }
                ContactEvent::ContactCreated(ContactFields::validate(input)?)
            }
            ContactCommand::Update(patch) => {
                ensure_live(self.exists, self.deleted)?;
                if self.erased {
                    return Err(DomainError::Conflict(
                        "the contact's personal data was erased; it cannot be changed".into(),
                    ));
                }
                let new = ContactFields::validate(self.fields.patched(patch)?)?;
                let changes = self.fields.diff(new);
                if changes.is_empty() {
                    return Ok(());
                }
                ContactEvent::ContactUpdated(changes)
            }
            ContactCommand::LinkCompany { company_id, role } => {
                ensure_live(self.exists, self.deleted)?;
                let role = role
                    .map(|r| text::optional("role", &r, ROLE_MAX))
                    .transpose()?
                    .flatten();
                match self.companies.iter().find(|(c, _)| *c == company_id) {
                    Some((_, current)) if *current == role => return Ok(()),
                    Some(_) => {}
                    None if self.companies.len() >= MAX_COMPANIES => {
                        return Err(DomainError::invalid(
                            "company_id",
                            format!("at most {MAX_COMPANIES} companies per contact"),
                        ));
                    }
                    None => {}
                }
                ContactEvent::ContactCompanyLinked { company_id, role }
            }
            ContactCommand::UnlinkCompany { company_id } => {
                ensure_live(self.exists, self.deleted)?;
                if !self.companies.iter().any(|(c, _)| *c == company_id) {
                    return Err(DomainError::invalid(
                        "company_id",
                        "the contact is not associated with this company",
                    ));
                }
                ContactEvent::ContactCompanyUnlinked { company_id }
            }
            ContactCommand::Delete => {
                ensure_live(self.exists, self.deleted)?;
                ContactEvent::ContactDeleted
            }
            ContactCommand::Restore => {
                if !self.exists {
                    return Err(DomainError::NotFound);
                }
                self.merge.check_restore()?;
                if !self.deleted {
                    return Err(DomainError::NotDeleted);
                }
                ContactEvent::ContactRestored
            }
            ContactCommand::Erase => {
                if !self.exists {
                    return Err(DomainError::NotFound);
                }
                if self.erased {
                    return Err(DomainError::Conflict(
                        "the contact's personal data is already erased".into(),
                    ));
                }
                ContactEvent::ContactErased
            }
            ContactCommand::MergeInto { into } => {
                ensure_live(self.exists, self.deleted)?;
                ContactEvent::ContactMergedInto { into }
            }
            ContactCommand::SwapCompany(swap) => {
                // A company merge re-points deleted contacts too (see the deal's SwapLink).
                if !self.exists {
                    return Err(DomainError::NotFound);
                }
                let company_id = swap.apply_one(self.fields.company_id);
                if company_id == self.fields.company_id {
                    return Ok(());
                }
                ContactEvent::ContactUpdated(ContactChanges {
                    company_id: Some(company_id),
                    ..ContactChanges::default()
                })
            }
            ContactCommand::Unmerge => ContactEvent::ContactUnmerged {
                from: self.merge.check_unmerge()?,
            },
            ContactCommand::RecordMerge(record) => {
                ensure_live(self.exists, self.deleted)?;
                self.merge.check_record(record.from)?;
                ContactEvent::ContactMerged(record)
            }
            ContactCommand::UndoMerge { from } => {
                ensure_live(self.exists, self.deleted)?;
                self.merge.check_undo(from)?;
                ContactEvent::ContactMergeUndone { from }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            ContactEvent::ContactCreated(fields) => {
                self.exists = true;
                self.fields = fields;
            }
            ContactEvent::ContactUpdated(changes) => self.fields.apply(changes),
            ContactEvent::ContactDeleted => self.deleted = true,
            ContactEvent::ContactRestored => self.deleted = false,
            ContactEvent::ContactErased => {
                self.erased = true;
                let ContactFields {
                    company_id,
                    tags,
                    custom,
                    ..
                } = std::mem::take(&mut self.fields);
                self.fields = ContactFields {
                    company_id,
                    tags,
                    custom,
                    ..ContactFields::default()
                };
            }
            ContactEvent::ContactCompanyLinked { company_id, role } => {
                match self.companies.iter_mut().find(|(c, _)| *c == company_id) {
                    Some(link) => link.1 = role,
                    None => self.companies.push((company_id, role)),
                }
            }
            ContactEvent::ContactCompanyUnlinked { company_id } => {
                self.companies.retain(|(c, _)| *c != company_id)
            }
            ContactEvent::ContactMergedInto { into } => {
                self.deleted = true;
                self.merge.merged(into);
            }
            ContactEvent::ContactUnmerged { .. } => {
                self.deleted = false;
                self.merge.unmerged();
            }
            ContactEvent::ContactMerged(record) => self.merge.recorded(record),
            ContactEvent::ContactMergeUndone { from } => self.merge.undone(from),
        }
    }
}
