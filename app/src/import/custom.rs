//! Custom fields in imports: the columns a request maps to the workspace's fields
//! (`map.<column>=<key>`), and the types the report proposes for the columns no field
//! takes.

use crm_domain::fields::values::{from_text, key_of, TypeGuess};
use crm_domain::fields::{CustomChanges, CustomInput, FieldDefinition, FieldKind, RecordKind};
use crm_store::TenantScope;
use serde::{Deserialize, Serialize};

use super::{Columns, ImportReport, ImportRun};
use crate::error::AppError;
use crate::records::Services;

/// A field the report proposes for a column no field takes: what `POST
/// /v1/schema/fields` could define before an import maps the column to it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ProposedField {
    /// The column.
    pub column: String,
    /// An API key made of its name.
    pub key: String,
    /// The narrowest type that takes every value of the column.
    #[serde(rename = "type")]
    pub kind: FieldKind,
}

/// The file's columns mapped to fields, by index.
pub(super) struct Mapped {
    fields: Vec<(usize, FieldDefinition)>,
    names: Vec<String>,
}

impl Mapped {
    /// The run's mapping checked against the file's `columns` and the workspace's live
    /// fields of `kind`.
    ///
    /// # Errors
    /// 422 on `map`: a column the file does not have, a field the workspace does not
    /// have (or has archived), a column mapped twice, or a required field no column is
    /// mapped to (every row would fail).
    pub(super) async fn resolve(
        run: &ImportRun<'_>,
        kind: RecordKind,
        columns: &Columns,
    ) -> Result<Self, AppError> {
        let scope = TenantScope::for_command(&run.meta);
        let services = Services {
            db: run.app,
            commands: run.commands,
        };
        let schema = crate::fields::load(services, &scope).await?;
        let mut fields: Vec<(usize, FieldDefinition)> = Vec::new();
        let mut names = Vec::new();
        for (column, key) in &run.mapping {
            let index = columns.position(column).ok_or_else(|| {
                AppError::invalid("map", format!("the file has no column {column:?}"))
            })?;
            let field = schema
                .by_key(kind, key)
                .filter(|f| !f.archived)
                .ok_or_else(|| {
                    AppError::invalid(
                        "map",
                        format!(
                            "{column}: the workspace has no {} field {key:?}",
                            kind.as_str()
                        ),
                    )
                })?;
            if field.unique {
                return Err(AppError::invalid(
                    "map",
                    format!(
                        "{column}: {key:?} is a unique field; imports do not set unique fields \
                         yet (a taken value would stop the whole batch): set them through the API"
                    ),
                ));
            }
            if fields.iter().any(|(i, f)| *i == index || f.id == field.id) {
                return Err(AppError::invalid(
                    "map",
                    format!("{column}: a column and a field are mapped once each"),
                ));
            }
            fields.push((index, field.clone()));
            names.push(column.clone());
        }
        if let Some(missing) = schema
            .live(kind)
            .find(|f| f.required && !fields.iter().any(|(_, m)| m.id == f.id))
        {
            return Err(AppError::invalid(
                "map",
                format!(
                    "the {} field {:?} is required: map a column to it (map.<column>={})",
                    kind.as_str(),
                    missing.key,
                    missing.key
                ),
            ));
        }
        Ok(Self { fields, names })
    }

    /// The mapped columns' names, as the file has them.
    pub(super) fn names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    /// Row `row`'s custom values: a cell that is not of its field's type is dropped with
    /// a warning.
    ///
    /// # Errors
    /// Why the row fails: a required field's cell empty or not of its type.
    pub(super) fn values(
        &self,
        record: &csv::StringRecord,
        row: u64,
        report: &mut ImportReport,
    ) -> Result<CustomInput, String> {
        let mut changes = CustomChanges::new();
        let mut personal = std::collections::BTreeSet::new();
        for (index, field) in &self.fields {
            let cell = record.get(*index).unwrap_or_default();
            match from_text(field, cell) {
                Ok(Some(value)) => {
                    changes.insert(field.id, Some(value));
                    if field.personal_data {
                        personal.insert(field.id);
                    }
                }
                Ok(None) if field.required => {
                    return Err(format!("custom.{}: is required", field.key));
                }
                Ok(None) => {}
                Err(why) if field.required => return Err(format!("custom.{}: {why}", field.key)),
                Err(why) => report.warn(row, format!("custom.{} dropped: {why}", field.key)),
            }
        }
        Ok(CustomInput::checked_with(changes, personal))
    }
}

/// Type guesses for the columns no field takes.
pub(super) struct Proposals {
    columns: Vec<(usize, String, TypeGuess)>,
}

impl Proposals {
    /// Guesses for `ignored`, the columns of `columns` no field takes.
    pub(super) fn new(columns: &Columns, ignored: &[String]) -> Self {
        Self {
            columns: ignored
                .iter()
                .filter_map(|name| {
                    columns
                        .position(name)
                        .map(|i| (i, name.clone(), TypeGuess::default()))
                })
                .collect(),
        }
    }

    /// Narrows the guesses by one record.
    pub(super) fn observe(&mut self, record: &csv::StringRecord) {
        for (index, _, guess) in &mut self.columns {
            guess.observe(record.get(*index).unwrap_or_default());
        }
    }

    /// The proposed fields, in the file's column order.
    pub(super) fn finish(self) -> Vec<ProposedField> {
        self.columns
            .into_iter()
            .map(|(_, column, guess)| ProposedField {
                key: key_of(&column),
                kind: guess.kind(),
                column,
            })
            .collect()
    }
}
