//! Custom values: as a body gives them (keyed by API key), and as record events keep
//! them (keyed by field id, in the form [`FieldKind`] gives for each type).

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{FieldDefinition, FieldKind, FieldSchema, RecordKind, LONG_TEXT_MAX};
use crate::{DomainError, Email, Money};

/// A record's custom values, keyed by field id: what its created event holds.
pub type CustomValues = BTreeMap<Uuid, Value>;

/// The custom values a command changes, keyed by field id: `None` clears one.
pub type CustomChanges = BTreeMap<Uuid, Option<Value>>;

/// Longest URL, in characters (what browsers and most servers accept).
pub const URL_MAX: usize = 2048;

/// Custom values as a body gives them, under `custom`: an object keyed by API key
/// (`null` clears a value). The application checks them against its workspace's schema
/// ([`FieldSchema::check`]) before the command runs; a command with values given and not
/// checked is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Map<String, Value>")]
pub struct CustomInput {
    given: Map<String, Value>,
    checked: Option<CustomChanges>,
    /// The checked fields whose values are personal data.
    personal: std::collections::BTreeSet<Uuid>,
}

impl From<Map<String, Value>> for CustomInput {
    fn from(given: Map<String, Value>) -> Self {
        Self {
            given,
            checked: None,
            personal: std::collections::BTreeSet::new(),
        }
    }
}

impl CustomInput {
    /// Values already checked and keyed by field id (as a revert or an import gives
    /// them).
    pub fn checked(changes: CustomChanges) -> Self {
        Self::checked_with(changes, std::collections::BTreeSet::new())
    }

    /// Checked values of which those of the fields `personal` are personal data.
    pub fn checked_with(
        changes: CustomChanges,
        personal: std::collections::BTreeSet<Uuid>,
    ) -> Self {
        Self {
            given: Map::new(),
            checked: Some(changes),
            personal,
        }
    }

    /// The checked changes split into those of ordinary fields and those of personal data
    /// fields.
    ///
    /// # Errors
    /// As [`CustomInput::changes`].
    pub fn split(&self) -> Result<(CustomChanges, CustomChanges), DomainError> {
        Ok(self
            .changes()?
            .into_iter()
            .partition(|(id, _)| !self.personal.contains(id)))
    }

    /// Whether no value is given.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty() && self.checked.as_ref().is_none_or(BTreeMap::is_empty)
    }

    /// The checked changes.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] when values were given and not checked.
    pub fn changes(&self) -> Result<CustomChanges, DomainError> {
        match &self.checked {
            Some(changes) => Ok(changes.clone()),
            None if self.given.is_empty() => Ok(CustomChanges::new()),
            None => Err(DomainError::invalid(
                "custom",
                "the values were not checked against the workspace's fields",
            )),
        }
    }
}

impl FieldSchema {
    /// Checks `input`'s values for a record of `record` and keys them by field id:
    /// every key (an API key, or a field id) names a live field of the type, every value has its field's type and
    /// limits, no required field is cleared, and on a create (`create`) every required
    /// field has a value. Returns the references to check against the workspace.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] on `custom`, naming the key and what is wrong.
    pub fn check(
        &self,
        record: RecordKind,
        input: &mut CustomInput,
        create: bool,
    ) -> Result<Vec<(String, RecordKind, Uuid)>, DomainError> {
        let mut changes = input.checked.take().unwrap_or_default();
        let mut references = Vec::new();
        for (key, value) in std::mem::take(&mut input.given) {
            let invalid =
                |message: String| DomainError::invalid("custom", format!("{key}: {message}"));
            // A field id names its field too (a revert gives values as events keep them).
            let field = self
                .by_key(record, &key)
                .or_else(|| {
                    Uuid::parse_str(&key)
                        .ok()
                        .and_then(|id| self.field(id))
                        .filter(|f| f.record == record)
                })
                .ok_or_else(|| {
                    invalid(format!(
                        "the workspace has no {} field with this key",
                        record.as_str()
                    ))
                })?;
            if field.archived {
                return Err(invalid(
                    "the field is archived: restore it to set its value".into(),
                ));
            }
            let value = normalize(field, value).map_err(invalid)?;
            if value.is_none() && field.required {
                return Err(invalid("is required".into()));
            }
            if field.personal_data {
                input.personal.insert(field.id);
            }
            if let (Some(Value::String(id)), Some(to)) = (&value, field.references) {
                let id = Uuid::parse_str(id).map_err(|_| invalid("not a record id".into()))?;
                references.push((key.clone(), to, id));
            }
            changes.insert(field.id, value);
        }
        if create {
            if let Some(missing) = self
                .live(record)
                .find(|f| f.required && !matches!(changes.get(&f.id), Some(Some(_))))
            {
                return Err(DomainError::invalid(
                    "custom",
                    format!("{}: is required", missing.key),
                ));
            }
            changes.retain(|_, v| v.is_some());
        }
        input.checked = Some(changes);
        Ok(references)
    }

    /// `values` (keyed by field id) keyed by API key, in the order the fields were
    /// defined, without archived fields and values of no known field: a record's
    /// `custom` as views show it.
    pub fn present(&self, record: RecordKind, values: &Map<String, Value>) -> Map<String, Value> {
        self.live(record)
            .filter_map(|f| {
                values
                    .get(&f.id.to_string())
                    .map(|v| (f.key.clone(), v.clone()))
            })
            .collect()
    }
}

/// The value a JSON value is for `field`, in its stored form; `None` clears the field
/// (`null`, or an empty text or list).
fn normalize(field: &FieldDefinition, value: Value) -> Result<Option<Value>, String> {
    if value.is_null() {
        return Ok(None);
    }
    let string = |v: &Value| -> Result<String, String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| "must be a string".to_owned())
    };
    let stored = match field.kind {
        FieldKind::Text => {
            let text = string(&value)?;
            let text = text.trim();
            let max = field.max_length.unwrap_or(super::TEXT_DEFAULT) as usize;
            if text.chars().any(char::is_control) {
                return Err("contains a control character".into());
            }
            if text.chars().count() > max {
                return Err(format!("is longer than {max} characters"));
            }
            (!text.is_empty()).then(|| Value::String(text.to_owned()))
        }
        FieldKind::LongText => {
            let text = string(&value)?;
            if crate::text::forbidden_char(&text).is_some() {
                return Err("contains a control character other than tab and line breaks".into());
            }
            if text.chars().count() > LONG_TEXT_MAX {
                return Err(format!("is longer than {LONG_TEXT_MAX} characters"));
            }
            (!text.trim().is_empty()).then_some(Value::String(text))
        }
        FieldKind::Integer => match value.as_i64() {
            Some(n) => Some(Value::from(n)),
            None => return Err("must be a whole number from -2^63 to 2^63-1".into()),
        },
        FieldKind::Decimal => {
            let text = match &value {
                Value::String(s) => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                _ => return Err("must be a decimal number, as a string".into()),
            };
            let mut d = Decimal::from_str_exact(&text)
                .map_err(|_| "must be a decimal number such as \"12.50\"".to_owned())?;
            let scale = field.scale.unwrap_or(2);
            if d.normalize().scale() > scale {
                return Err(format!("has more than {scale} digits after the point"));
            }
            d.rescale(scale);
            Some(Value::String(d.to_string()))
        }
        FieldKind::Money => {
            let money: Money = serde_json::from_value(value).map_err(|e| {
                format!("must be {{\"amount_minor\": integer, \"currency\": ISO 4217 code}}: {e}")
            })?;
            Some(serde_json::to_value(money).map_err(|e| e.to_string())?)
        }
        FieldKind::Date => {
            let text = string(&value)?;
            let date = crate::time::parse_date(text.trim())
                .ok_or_else(|| "must be a date, YYYY-MM-DD, years 0001 to 9999".to_owned())?;
            Some(Value::String(date.format("%Y-%m-%d").to_string()))
        }
        FieldKind::DateTime => {
            let text = string(&value)?;
            let at = crate::time::parse_date_time(text.trim()).ok_or_else(|| {
                "must be an RFC 3339 date and time with an offset, years 0001 to 9999".to_owned()
            })?;
            Some(Value::String(
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ))
        }
        FieldKind::Boolean => match value {
            Value::Bool(b) => Some(Value::Bool(b)),
            _ => return Err("must be true or false".into()),
        },
        FieldKind::SingleSelect => {
            let id = option(field, &string(&value)?)?;
            Some(Value::String(id.to_string()))
        }
        FieldKind::MultiSelect => {
            let Value::Array(items) = value else {
                return Err("must be a list of option ids".into());
            };
            let mut ids: Vec<Value> = Vec::with_capacity(items.len());
            for item in &items {
                let id = Value::String(option(field, &string(item)?)?.to_string());
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            (!ids.is_empty()).then_some(Value::Array(ids))
        }
        FieldKind::Url => {
            let text = string(&value)?;
            let text = text.trim();
            Some(Value::String(url(text)?.to_owned()))
        }
        FieldKind::Email => {
            let text = string(&value)?;
            let email = Email::parse(text.trim()).map_err(|e| e.to_string())?;
            Some(Value::String(email.as_str().to_owned()))
        }
        FieldKind::Phone => {
            let text = string(&value)?;
            Some(Value::String(phone(text.trim())?.to_owned()))
        }
        FieldKind::Reference => {
            let text = string(&value)?;
            let id = Uuid::parse_str(text.trim()).map_err(|_| "must be a record id".to_owned())?;
            Some(Value::String(id.to_string()))
        }
    };
    Ok(stored)
}

/// The id of a live option of `field` that `text` names.
fn option(field: &FieldDefinition, text: &str) -> Result<Uuid, String> {
    let id = Uuid::parse_str(text.trim()).map_err(|_| format!("{text:?} is not an option id"))?;
    match field.options.iter().find(|o| o.id == id) {
        Some(o) if o.archived => Err(format!("option {id} ({:?}) is archived", o.label)),
        Some(_) => Ok(id),
        None => Err(format!("the field has no option {id}")),
    }
}

/// `text` if it is an absolute `http`/`https` URL with a host, at most [`URL_MAX`]
/// characters, without white space or control characters.
fn url(text: &str) -> Result<&str, String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| "must be an http or https URL".to_owned())?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !host_ok {
        return Err("must have a host name".into());
    }
    if text.chars().count() > URL_MAX {
        return Err(format!("is longer than {URL_MAX} characters"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain white space or control characters".into());
    }
    Ok(text)
}

/// `text` if it is a telephone number: an optional leading `+`, then digits, spaces and
/// `-().`, with 3 to 20 digits (E.164 numbers have at most 15, extensions add some).
fn phone(text: &str) -> Result<&str, String> {
    let body = text.strip_prefix('+').unwrap_or(text);
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let shape = body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'));
    if !shape || !(3..=20).contains(&digits) {
        return Err(
            "must be a telephone number: an optional +, then 3 to 20 digits with spaces, -, ( ) or ."
                .into(),
        );
    }
    Ok(text)
}

/// `values` with `changes` laid over them (a `None` removes a value).
pub fn apply(values: &mut CustomValues, changes: CustomChanges) {
    for (id, value) in changes {
        match value {
            Some(v) => values.insert(id, v),
            None => values.remove(&id),
        };
    }
}

/// The values a checked create input holds (its cleared ones dropped).
///
/// # Errors
/// As [`CustomInput::changes`].
pub fn created(input: &CustomInput) -> Result<CustomValues, DomainError> {
    Ok(input
        .changes()?
        .into_iter()
        .filter_map(|(id, v)| v.map(|v| (id, v)))
        .collect())
}

/// The values of a checked create input, ordinary and personal (cleared ones dropped).
///
/// # Errors
/// As [`CustomInput::changes`].
pub fn created_split(input: &CustomInput) -> Result<(CustomValues, CustomValues), DomainError> {
    let keep = |changes: CustomChanges| -> CustomValues {
        changes
            .into_iter()
            .filter_map(|(id, v)| v.map(|v| (id, v)))
            .collect()
    };
    let (plain, personal) = input.split()?;
    Ok((keep(plain), keep(personal)))
}

/// [`patched`] for values kept apart as ordinary (`current`) and personal
/// (`current_personal`): a create input of the whole result that knows which are which.
///
/// # Errors
/// As [`CustomInput::changes`].
pub fn patched_split(
    current: &CustomValues,
    current_personal: &CustomValues,
    patch: &CustomInput,
) -> Result<CustomInput, DomainError> {
    let mut values = current.clone();
    values.extend(current_personal.clone());
    apply(&mut values, patch.changes()?);
    let mut personal = patch.personal.clone();
    personal.extend(current_personal.keys().copied());
    Ok(CustomInput::checked_with(
        values.into_iter().map(|(id, v)| (id, Some(v))).collect(),
        personal,
    ))
}

/// A patch's checked changes laid over `current`, as a create input of the whole result.
///
/// # Errors
/// As [`CustomInput::changes`].
pub fn patched(current: &CustomValues, patch: &CustomInput) -> Result<CustomInput, DomainError> {
    let mut values = current.clone();
    apply(&mut values, patch.changes()?);
    Ok(CustomInput::checked(
        values.into_iter().map(|(id, v)| (id, Some(v))).collect(),
    ))
}

/// A list filter's comparison (`cf.<key>`, `cf.<key>[gte]`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    /// Equal (for a multi-select: has the option).
    Eq,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
}

impl FilterOp {
    /// The operator a parameter's suffix names: none, `[gt]`, `[gte]`, `[lt]`, `[lte]`.
    pub fn parse(suffix: Option<&str>) -> Option<Self> {
        Some(match suffix {
            None => Self::Eq,
            Some("gt") => Self::Gt,
            Some("gte") => Self::Gte,
            Some("lt") => Self::Lt,
            Some("lte") => Self::Lte,
            Some(_) => return None,
        })
    }
}

/// A filter on a custom field, checked against its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldFilter {
    /// The value equals this stored form (for a multi-select: `[option id]`, which the
    /// value must contain).
    Equals(Value),
    /// The value compares with this bound: integers and decimals as numbers, money by
    /// its minor units, dates and date-times as such (the bound is their text).
    Range {
        /// The field's type.
        kind: FieldKind,
        /// The comparison (never [`FilterOp::Eq`]).
        op: FilterOp,
        /// The bound.
        bound: String,
    },
}

impl FieldSchema {
    /// The filter `cf.<key>` (with `op`) of value `text` on records of `record`: equality
    /// for every type but money (an option's id for selects), ranges for integers,
    /// decimals, money (minor units), dates and date-times.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] on `cf`: no such live field, a range on a type without
    /// order, equality on money, or a value not of the field's type.
    pub fn filter(
        &self,
        record: RecordKind,
        key: &str,
        op: FilterOp,
        text: &str,
    ) -> Result<FieldFilter, DomainError> {
        let invalid = |message: String| DomainError::invalid("cf", format!("{key}: {message}"));
        let field = self
            .by_key(record, key)
            .filter(|f| !f.archived)
            .ok_or_else(|| {
                invalid(format!(
                    "the workspace has no {} field with this key",
                    record.as_str()
                ))
            })?;
        let text = text.trim();
        if op != FilterOp::Eq {
            let bound = match field.kind {
                FieldKind::Integer | FieldKind::Decimal => Decimal::from_str_exact(text)
                    .map(|d| d.to_string())
                    .map_err(|_| invalid("must be a number".into()))?,
                FieldKind::Money => text
                    .parse::<i64>()
                    .map(|n| n.to_string())
                    .map_err(|_| invalid("must be an amount in minor units".into()))?,
                FieldKind::Date => crate::time::parse_date(text)
                    .map(|d| d.to_string())
                    .ok_or_else(|| {
                        invalid("must be a date, YYYY-MM-DD, years 0001 to 9999".into())
                    })?,
                FieldKind::DateTime => crate::time::parse_date_time(text)
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
                    .ok_or_else(|| {
                        invalid("must be an RFC 3339 date and time, years 0001 to 9999".into())
                    })?,
                _ => {
                    return Err(invalid(
                        "ranges are for integer, decimal, money, date and date_time fields".into(),
                    ))
                }
            };
            return Ok(FieldFilter::Range {
                kind: field.kind,
                op,
                bound,
            });
        }
        let value = match field.kind {
            FieldKind::Money => {
                return Err(invalid(
                    "compare money by its minor units: [gte], [lte], [gt] or [lt]".into(),
                ))
            }
            FieldKind::Integer => Value::from(
                text.parse::<i64>()
                    .map_err(|_| invalid("must be a whole number".into()))?,
            ),
            FieldKind::Boolean => match text {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(invalid("must be true or false".into())),
            },
            FieldKind::SingleSelect | FieldKind::MultiSelect => {
                let id = Uuid::parse_str(text)
                    .ok()
                    .filter(|id| field.options.iter().any(|o| o.id == *id))
                    .ok_or_else(|| invalid(format!("the field has no option {text:?}")))?;
                let id = Value::String(id.to_string());
                if field.kind == FieldKind::MultiSelect {
                    Value::Array(vec![id])
                } else {
                    id
                }
            }
            _ => normalize(field, Value::String(text.to_owned()))
                .map_err(invalid)?
                .ok_or_else(|| invalid("must not be empty".into()))?,
        };
        Ok(FieldFilter::Equals(value))
    }
}

/// The stored value a CSV cell's `text` is for `field` (an import's form): whole numbers
/// may group digits with `,` or spaces; decimals as text; money as `<amount> <ISO 4217
/// code>` in major units (exact, or refused); booleans as `true`/`false`, `yes`/`no` or
/// `1`/`0`; a select's options by label (case-insensitive) or id, a multi-select's
/// separated by `;`; everything else as [`FieldSchema::check`] takes a JSON string.
/// `None` for an empty cell.
///
/// # Errors
/// What is wrong with the text, for the import's report.
pub fn from_text(field: &FieldDefinition, text: &str) -> Result<Option<Value>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match field.kind {
        FieldKind::Integer => text
            .replace([',', ' ', '_'], "")
            .parse::<i64>()
            .map(|n| Some(Value::from(n)))
            .map_err(|_| format!("{text:?} is not a whole number")),
        FieldKind::Boolean => match text.to_lowercase().as_str() {
            "true" | "yes" | "1" => Ok(Some(Value::Bool(true))),
            "false" | "no" | "0" => Ok(Some(Value::Bool(false))),
            _ => Err(format!("{text:?} is not true or false")),
        },
        FieldKind::Money => {
            let parts: Vec<&str> = text.split_whitespace().collect();
            let (amount, code) = match parts.as_slice() {
                [a, c] if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => (*a, *c),
                [c, a] if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_alphabetic()) => (*a, *c),
                _ => return Err(format!("{text:?} is not an amount and an ISO 4217 code")),
            };
            let currency = crate::Currency::from_code(code).map_err(|e| e.to_string())?;
            let money = Money::parse_major(amount, currency).map_err(|e| e.to_string())?;
            serde_json::to_value(money)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        FieldKind::SingleSelect => option_by_label(field, text).map(|id| Some(Value::String(id))),
        FieldKind::MultiSelect => {
            let mut ids: Vec<Value> = Vec::new();
            for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                let id = Value::String(option_by_label(field, part)?);
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Ok((!ids.is_empty()).then_some(Value::Array(ids)))
        }
        _ => normalize(field, Value::String(text.to_owned())),
    }
}

/// The id of the live option of `field` labelled (or identified by) `text`.
fn option_by_label(field: &FieldDefinition, text: &str) -> Result<String, String> {
    let found = field
        .options
        .iter()
        .find(|o| o.label.to_lowercase() == text.to_lowercase() || o.id.to_string() == text);
    match found {
        Some(o) if o.archived => Err(format!("option {:?} is archived", o.label)),
        Some(o) => Ok(o.id.to_string()),
        None => Err(format!("{text:?} is no option of the field")),
    }
}

/// What the values of a column suggest its field's type is: the narrowest of integer,
/// decimal, boolean, date, date-time, URL, email, text (a line of at most 255
/// characters) and long text that takes every non-empty value seen.
#[derive(Debug, Clone)]
pub struct TypeGuess {
    candidates: Vec<FieldKind>,
    seen: u64,
}

impl Default for TypeGuess {
    fn default() -> Self {
        Self {
            candidates: vec![
                FieldKind::Integer,
                FieldKind::Decimal,
                FieldKind::Boolean,
                FieldKind::Date,
                FieldKind::DateTime,
                FieldKind::Url,
                FieldKind::Email,
                FieldKind::Text,
                FieldKind::LongText,
            ],
            seen: 0,
        }
    }
}

impl TypeGuess {
    /// Narrows the guess by one cell's text.
    pub fn observe(&mut self, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        self.seen += 1;
        self.candidates.retain(|kind| {
            let probe = FieldDefinition {
                id: Uuid::nil(),
                record: RecordKind::Company,
                key: String::new(),
                label: String::new(),
                kind: *kind,
                max_length: (*kind == FieldKind::Text).then_some(super::TEXT_DEFAULT),
                scale: (*kind == FieldKind::Decimal).then_some(super::SCALE_MAX),
                references: None,
                options: Vec::new(),
                required: false,
                personal_data: false,
                unique: false,
                archived: false,
            };
            from_text(&probe, text).is_ok()
        });
    }

    /// The guess (`text` when no value was seen).
    pub fn kind(&self) -> FieldKind {
        if self.seen == 0 {
            return FieldKind::Text;
        }
        self.candidates
            .first()
            .copied()
            .unwrap_or(FieldKind::LongText)
    }
}

/// An API key made of a column's name: lowercase letters, digits and `_`, starting with
/// a letter (`f_` is put before one that does not), at most 63 characters.
pub fn key_of(column: &str) -> String {
    let mut key = String::new();
    for c in column.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            key.push(c);
        } else if !key.ends_with('_') && !key.is_empty() {
            key.push('_');
        }
    }
    let key = key.trim_end_matches('_').to_owned();
    let key = if key.starts_with(|c: char| c.is_ascii_lowercase()) {
        key
    } else {
        format!("f_{key}")
    };
    key.chars().take(63).collect()
}
