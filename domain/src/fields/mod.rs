//! The `FieldSchema` aggregate: a workspace's custom fields on its companies, contacts,
//! deals and activities.
//!
//! Stream id: `<tenant>:<tenant>` (one schema per workspace, beside its `Workspace`
//! stream). A field has an immutable id and an immutable API key; its label and its
//! options change by events, and it is archived (hidden, its values kept in the records'
//! history) rather than deleted. A field's type never changes: a new type is a new field.
//! Values are kept in the records' own events keyed by field id ([`values`]), so a rename
//! changes no record event.

use std::collections::BTreeMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::check_version;
use crate::{text, DomainError, Guarded};

#[cfg(test)]
mod tests;
pub mod values;

pub use values::{CustomChanges, CustomInput, CustomValues};

/// Most live and archived fields one record type of a workspace may have.
pub const FIELDS_MAX: usize = 200;
/// Most options of a select field, archived ones included.
pub const OPTIONS_MAX: usize = 500;
/// Longest label of a field or an option, in characters.
pub const LABEL_MAX: usize = 100;
/// Longest text a `text` field may allow, in characters, and its default.
pub const TEXT_MAX: u32 = 10_000;
/// A `text` field's limit when its definition gives none, in characters.
pub const TEXT_DEFAULT: u32 = 255;
/// Longest `long_text` value, in characters.
pub const LONG_TEXT_MAX: usize = 100_000;
/// Most digits after the decimal point a `decimal` field may keep.
pub const SCALE_MAX: u32 = 12;

/// The record types that carry custom fields.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// Companies.
    Company,
    /// Contacts.
    Contact,
    /// Deals.
    Deal,
    /// Activities.
    Activity,
}

impl RecordKind {
    /// Its name in the API (`company`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Contact => "contact",
            Self::Deal => "deal",
            Self::Activity => "activity",
        }
    }
}

/// A field's type: what its values are and how they are written in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// One line of text, at most the field's `max_length` characters.
    Text,
    /// Text with line breaks, at most 100,000 characters.
    LongText,
    /// A whole number (64-bit signed).
    Integer,
    /// An exact decimal with at most the field's `scale` digits after the point, written
    /// as a JSON string (`"12.50"`) so that no client rounds it through a float.
    Decimal,
    /// Money: `{"amount_minor": 125000, "currency": "EUR"}`, integer minor units and an
    /// ISO 4217 code.
    Money,
    /// A calendar date, `YYYY-MM-DD` (RFC 3339 full-date).
    Date,
    /// An instant, RFC 3339 with an offset; kept in UTC.
    DateTime,
    /// `true` or `false`.
    Boolean,
    /// One option's id.
    SingleSelect,
    /// A list of option ids (duplicates dropped, order kept).
    MultiSelect,
    /// An absolute `http` or `https` URL.
    Url,
    /// An email address (as contacts' emails are checked).
    Email,
    /// A telephone number: `+`, digits, spaces and `-().`, 3 to 20 digits (the length
    /// of E.164 numbers and local extensions).
    Phone,
    /// The id of a live record of the field's `references` type in the same workspace.
    Reference,
}

impl FieldKind {
    fn is_select(self) -> bool {
        matches!(self, Self::SingleSelect | Self::MultiSelect)
    }
}

/// An option of a select field. Options are archived, never removed, so a value that
/// names one always has its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelectOption {
    /// Stable id: the value that selects it.
    pub id: Uuid,
    /// Label, 1 to 100 characters, unique within the field (case-insensitive).
    pub label: String,
    /// An archived option is kept for the values that name it; new values may not.
    #[serde(default)]
    pub archived: bool,
}

/// A field as `FieldDefined` records it and the schema holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldDefinition {
    /// Immutable id: record events key their values by it.
    pub id: Uuid,
    /// The record type it belongs to.
    pub record: RecordKind,
    /// Immutable API key (`^[a-z][a-z0-9_]{0,62}$`), unique within the record type:
    /// views, filters and CSV columns name the field by it.
    pub key: String,
    /// What people see, 1 to 100 characters; may change.
    pub label: String,
    /// The type of its values.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// `text` only: the longest value, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// `decimal` only: most digits after the point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u32>,
    /// `reference` only: the record type it points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<RecordKind>,
    /// Select types only: the options, archived ones included.
    #[serde(default)]
    pub options: Vec<SelectOption>,
    /// A record of the type must have a value (checked on create and on every change).
    #[serde(default)]
    pub required: bool,
    /// Contact fields only: its values are personal data, sealed with the contact's data
    /// key like its names and email, and erased with them.
    #[serde(default)]
    pub personal_data: bool,
    /// No two records of the type may have the same value (compared case-insensitively).
    #[serde(default)]
    pub unique: bool,
    /// Whether it is archived: hidden from views and refused in writes, its values kept.
    #[serde(default)]
    pub archived: bool,
}

/// `POST /v1/schema/fields` body: a new field (unvalidated).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"record": "company", "key": "ticker", "label": "Ticker",
    "type": "text", "max_length": 12}))]
pub struct FieldInput {
    /// The record type it belongs to.
    pub record: RecordKind,
    /// API key, `^[a-z][a-z0-9_]{0,62}$`, unique within the record type (archived
    /// fields included); never changes.
    pub key: String,
    /// Label, 1 to 100 characters, unique among the record type's live fields.
    pub label: String,
    /// The type of its values; never changes.
    #[serde(rename = "type")]
    pub kind: FieldKind,
    /// `text` only: 1 to 10,000 characters (default 255).
    pub max_length: Option<u32>,
    /// `decimal` only: 0 to 12 digits after the point (default 2).
    pub scale: Option<u32>,
    /// `reference` only (and required there): the record type it points at.
    pub references: Option<RecordKind>,
    /// Select types only: the options' labels, at most 500.
    #[serde(default)]
    pub options: Vec<String>,
    /// Whether every record of the type must have a value.
    #[serde(default)]
    pub required: bool,
    /// Contact fields only: the values are personal data (sealed with the contact's data
    /// key, erased with the contact's personal data).
    #[serde(default)]
    pub personal_data: bool,
    /// No two records of the type may have the same value (case-insensitive; a value
    /// taken is a 409). For text, integer, decimal, date, date-time, URL, email, phone,
    /// single-select and reference fields; not with `personal_data`.
    #[serde(default)]
    pub unique: bool,
}

/// An option in `PATCH /v1/schema/fields/{id}`: an existing one by its id, a new one
/// without.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptionInput {
    /// The existing option's id; absent for a new option.
    pub id: Option<Uuid>,
    /// Label, 1 to 100 characters.
    pub label: String,
    /// Whether it is archived.
    #[serde(default)]
    pub archived: bool,
}

/// Commands of a workspace's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSchemaCommand {
    /// Define field `id` (made up by the caller, a UUIDv7).
    Define {
        /// The new field's id.
        id: Uuid,
        /// Its definition.
        input: FieldInput,
    },
    /// Give field `id` a new label.
    Rename {
        /// The field.
        id: Uuid,
        /// The new label.
        label: String,
    },
    /// Replace a select field's option list: every existing option must be in it (by
    /// id; archive one instead of leaving it out), new ones have no id.
    ChangeOptions {
        /// The field.
        id: Uuid,
        /// The whole new list, in order.
        options: Vec<OptionInput>,
    },
    /// Hide field `id`.
    Archive {
        /// The field.
        id: Uuid,
    },
    /// Bring archived field `id` back.
    Restore {
        /// The field.
        id: Uuid,
    },
}

/// Events of a workspace's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FieldSchemaEvent {
    /// A field was defined.
    FieldDefined(FieldDefinition),
    /// A field's label changed.
    FieldRenamed {
        /// The field.
        id: Uuid,
        /// Its new label.
        label: String,
    },
    /// A select field's options changed (the whole new list).
    FieldOptionsChanged {
        /// The field.
        id: Uuid,
        /// The options.
        options: Vec<SelectOption>,
    },
    /// A field was archived.
    FieldArchived {
        /// The field.
        id: Uuid,
    },
    /// An archived field was restored.
    FieldRestored {
        /// The field.
        id: Uuid,
    },
}

impl DomainEvent for FieldSchemaEvent {
    fn event_type(&self) -> String {
        match self {
            Self::FieldDefined(_) => "FieldDefined",
            Self::FieldRenamed { .. } => "FieldRenamed",
            Self::FieldOptionsChanged { .. } => "FieldOptionsChanged",
            Self::FieldArchived { .. } => "FieldArchived",
            Self::FieldRestored { .. } => "FieldRestored",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// A workspace's fields, every record type's, in the order they were defined.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSchema {
    version: u64,
    fields: Vec<FieldDefinition>,
}

impl FieldSchema {
    /// A schema of these definitions (as the read model holds them).
    pub fn of(fields: Vec<FieldDefinition>) -> Self {
        Self { version: 0, fields }
    }

    /// Every field, archived ones included.
    pub fn fields(&self) -> &[FieldDefinition] {
        &self.fields
    }

    /// Field `id`.
    pub fn field(&self, id: Uuid) -> Option<&FieldDefinition> {
        self.fields.iter().find(|f| f.id == id)
    }

    /// The field of `record` with API key `key`.
    pub fn by_key(&self, record: RecordKind, key: &str) -> Option<&FieldDefinition> {
        self.fields
            .iter()
            .find(|f| f.record == record && f.key == key)
    }

    /// The live (not archived) fields of `record`.
    pub fn live(&self, record: RecordKind) -> impl Iterator<Item = &FieldDefinition> {
        self.fields
            .iter()
            .filter(move |f| f.record == record && !f.archived)
    }

    fn existing(&self, id: Uuid) -> Result<&FieldDefinition, DomainError> {
        self.field(id).ok_or(DomainError::NotFound)
    }

    fn ensure_label_free(
        &self,
        record: RecordKind,
        label: &str,
        except: Option<Uuid>,
    ) -> Result<(), DomainError> {
        let taken = self
            .live(record)
            .any(|f| Some(f.id) != except && f.label.to_lowercase() == label.to_lowercase());
        if taken {
            return Err(DomainError::Conflict(format!(
                "a {} field is labelled {label:?} already",
                record.as_str()
            )));
        }
        Ok(())
    }

    fn define(&self, id: Uuid, input: FieldInput) -> Result<FieldDefinition, DomainError> {
        if self.field(id).is_some() {
            return Err(DomainError::AlreadyExists);
        }
        validate_key(&input.key)?;
        let label = text::required("label", &input.label, LABEL_MAX)?;
        let record = input.record;
        if self.by_key(record, &input.key).is_some() {
            return Err(DomainError::Conflict(format!(
                "a {} field has the key {:?} already (keys are never reused, archived \
                 fields included)",
                record.as_str(),
                input.key
            )));
        }
        self.ensure_label_free(record, &label, None)?;
        if self.fields.iter().filter(|f| f.record == record).count() >= FIELDS_MAX {
            return Err(DomainError::invalid(
                "record",
                format!("a record type has at most {FIELDS_MAX} fields, archived ones included"),
            ));
        }
        let kind = input.kind;
        let only = |field: &'static str, set: bool, for_kind: bool, which: &str| {
            if set && !for_kind {
                Err(DomainError::invalid(
                    field,
                    format!("is for {which} fields only"),
                ))
            } else {
                Ok(())
            }
        };
        only(
            "max_length",
            input.max_length.is_some(),
            kind == FieldKind::Text,
            "text",
        )?;
        only(
            "scale",
            input.scale.is_some(),
            kind == FieldKind::Decimal,
            "decimal",
        )?;
        only(
            "references",
            input.references.is_some(),
            kind == FieldKind::Reference,
            "reference",
        )?;
        only(
            "options",
            !input.options.is_empty(),
            kind.is_select(),
            "single_select and multi_select",
        )?;
        let max_length = match kind {
            FieldKind::Text => {
                let max = input.max_length.unwrap_or(TEXT_DEFAULT);
                if !(1..=TEXT_MAX).contains(&max) {
                    return Err(DomainError::invalid(
                        "max_length",
                        format!("must be 1 to {TEXT_MAX}"),
                    ));
                }
                Some(max)
            }
            _ => None,
        };
        let scale = match kind {
            FieldKind::Decimal => {
                let scale = input.scale.unwrap_or(2);
                if scale > SCALE_MAX {
                    return Err(DomainError::invalid(
                        "scale",
                        format!("must be 0 to {SCALE_MAX}"),
                    ));
                }
                Some(scale)
            }
            _ => None,
        };
        if input.personal_data && record != RecordKind::Contact {
            return Err(DomainError::invalid(
                "personal_data",
                "is for contact fields only",
            ));
        }
        if input.unique {
            if matches!(
                kind,
                FieldKind::LongText
                    | FieldKind::Boolean
                    | FieldKind::MultiSelect
                    | FieldKind::Money
            ) {
                return Err(DomainError::invalid(
                    "unique",
                    "is not for long_text, boolean, multi_select or money fields",
                ));
            }
            if input.personal_data {
                return Err(DomainError::invalid(
                    "unique",
                    "a personal data field cannot be unique (its values would be kept outside \
                     the contact's sealed events)",
                ));
            }
        }
        if kind == FieldKind::Reference && input.references.is_none() {
            return Err(DomainError::invalid(
                "references",
                "a reference field names the record type it points at",
            ));
        }
        let new_options = input
            .options
            .into_iter()
            .map(|label| OptionInput {
                id: None,
                label,
                archived: false,
            })
            .collect();
        Ok(FieldDefinition {
            id,
            record,
            key: input.key,
            label,
            kind,
            max_length,
            scale,
            references: input.references,
            options: options(id, &[], new_options)?,
            required: input.required,
            personal_data: input.personal_data,
            unique: input.unique,
            archived: false,
        })
    }
}

/// Checks an API key: `^[a-z][a-z0-9_]{0,62}$`.
///
/// # Errors
/// [`DomainError::Invalid`] on `key`.
pub fn validate_key(key: &str) -> Result<(), DomainError> {
    let mut chars = key.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && key.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "key",
            "must match ^[a-z][a-z0-9_]{0,62}$ (a lowercase letter, then up to 62 of a-z, 0-9 and _)",
        ))
    }
}

/// The option list `wanted` makes of `current` for field `field`: existing options by
/// id, new ones with an id derived from the field and the label (UUIDv5, so a command
/// decides the same events wherever it runs).
fn options(
    field: Uuid,
    current: &[SelectOption],
    wanted: Vec<OptionInput>,
) -> Result<Vec<SelectOption>, DomainError> {
    if wanted.len() > OPTIONS_MAX {
        return Err(DomainError::invalid(
            "options",
            format!("at most {OPTIONS_MAX} options, archived ones included"),
        ));
    }
    let mut out: Vec<SelectOption> = Vec::with_capacity(wanted.len());
    for option in wanted {
        let label = text::required("options", &option.label, LABEL_MAX)?;
        if out
            .iter()
            .any(|o| o.label.to_lowercase() == label.to_lowercase())
        {
            return Err(DomainError::invalid(
                "options",
                format!("{label:?} is given twice (labels are compared case-insensitively)"),
            ));
        }
        let id = match option.id {
            Some(id) if current.iter().any(|o| o.id == id) => id,
            Some(id) => {
                return Err(DomainError::invalid(
                    "options",
                    format!("the field has no option {id}"),
                ))
            }
            None => {
                let id = Uuid::new_v5(&field, label.to_lowercase().as_bytes());
                if current.iter().any(|o| o.id == id) {
                    return Err(DomainError::invalid(
                        "options",
                        format!("{label:?} is an existing option: give its id"),
                    ));
                }
                id
            }
        };
        if out.iter().any(|o| o.id == id) {
            return Err(DomainError::invalid(
                "options",
                format!("option {id} is given twice"),
            ));
        }
        out.push(SelectOption {
            id,
            label,
            archived: option.archived,
        });
    }
    if let Some(missing) = current.iter().find(|c| !out.iter().any(|o| o.id == c.id)) {
        return Err(DomainError::invalid(
            "options",
            format!(
                "option {} ({:?}) is left out: options are archived, never removed, so that \
                 the values naming them keep their meaning",
                missing.id, missing.label
            ),
        ));
    }
    Ok(out)
}

impl Aggregate for FieldSchema {
    const TYPE: &'static str = "FieldSchema";
    type Command = Guarded<FieldSchemaCommand>;
    type Event = FieldSchemaEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        guarded: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        check_version(self.version, guarded.if_version)?;
        let event = match guarded.command {
            FieldSchemaCommand::Define { id, input } => {
                FieldSchemaEvent::FieldDefined(self.define(id, input)?)
            }
            FieldSchemaCommand::Rename { id, label } => {
                let field = self.existing(id)?;
                let label = text::required("label", &label, LABEL_MAX)?;
                if label == field.label {
                    return Ok(());
                }
                self.ensure_label_free(field.record, &label, Some(id))?;
                FieldSchemaEvent::FieldRenamed { id, label }
            }
            FieldSchemaCommand::ChangeOptions {
                id,
                options: wanted,
            } => {
                let field = self.existing(id)?;
                if !field.kind.is_select() {
                    return Err(DomainError::invalid(
                        "options",
                        "are for single_select and multi_select fields only",
                    ));
                }
                let new = options(id, &field.options, wanted)?;
                if new == field.options {
                    return Ok(());
                }
                FieldSchemaEvent::FieldOptionsChanged { id, options: new }
            }
            FieldSchemaCommand::Archive { id } => {
                if self.existing(id)?.archived {
                    return Err(DomainError::Conflict(
                        "the field is archived already".into(),
                    ));
                }
                FieldSchemaEvent::FieldArchived { id }
            }
            FieldSchemaCommand::Restore { id } => {
                let field = self.existing(id)?;
                if !field.archived {
                    return Err(DomainError::Conflict("the field is not archived".into()));
                }
                self.ensure_label_free(field.record, &field.label, Some(id))?;
                FieldSchemaEvent::FieldRestored { id }
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        let mut with = |id: Uuid, change: &mut dyn FnMut(&mut FieldDefinition)| {
            if let Some(f) = self.fields.iter_mut().find(|f| f.id == id) {
                change(f);
            }
        };
        match event {
            FieldSchemaEvent::FieldDefined(definition) => self.fields.push(definition),
            FieldSchemaEvent::FieldRenamed { id, label } => {
                with(id, &mut |f| f.label.clone_from(&label));
            }
            FieldSchemaEvent::FieldOptionsChanged { id, options } => {
                with(id, &mut |f| f.options.clone_from(&options));
            }
            FieldSchemaEvent::FieldArchived { id } => with(id, &mut |f| f.archived = true),
            FieldSchemaEvent::FieldRestored { id } => with(id, &mut |f| f.archived = false),
        }
    }
}

/// Field-level differences between two sets of values: for each field whose value
/// differs, the new one (`None`: cleared).
pub fn diff(old: &CustomValues, new: &CustomValues) -> CustomChanges {
    let mut changes = BTreeMap::new();
    for (id, value) in new {
        if old.get(id) != Some(value) {
            changes.insert(*id, Some(value.clone()));
        }
    }
    for id in old.keys() {
        if !new.contains_key(id) {
            changes.insert(*id, None);
        }
    }
    changes
}
