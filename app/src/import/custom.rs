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
    /// The live records of the workspace that the current batch's reference cells name
    /// ([`Mapped::load_references`]).
    live_references: std::collections::HashSet<uuid::Uuid>,
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
        Ok(Self {
            fields,
            names,
            live_references: std::collections::HashSet::new(),
        })
    }

    /// Finds which records `chunk`'s reference cells name are live records of their type
    /// in the workspace (one lookup per referenced type): a cell naming anything else
    /// (another workspace's id, a deleted record) is then refused as the API refuses it.
    ///
    /// # Errors
    /// Database errors.
    pub(super) async fn load_references(
        &mut self,
        app: &sea_orm::DatabaseConnection,
        scope: &TenantScope,
        chunk: &[(u64, csv::StringRecord)],
    ) -> Result<(), AppError> {
        use crm_projections::entities::{activity, company, contact, deal, RecordRow};
        use crm_projections::queries::rows;
        self.live_references.clear();
        let mut wanted: std::collections::HashMap<RecordKind, Vec<uuid::Uuid>> =
            std::collections::HashMap::new();
        for (index, field) in self
            .fields
            .iter()
            .filter(|(_, f)| f.kind == FieldKind::Reference)
        {
            let Some(to) = field.references else { continue };
            for (_, record) in chunk {
                if let Ok(Some(serde_json::Value::String(id))) =
                    from_text(field, record.get(*index).unwrap_or_default())
                {
                    if let Ok(id) = uuid::Uuid::parse_str(&id) {
                        wanted.entry(to).or_default().push(id);
                    }
                }
            }
        }
        for (to, ids) in wanted {
            let live: Vec<uuid::Uuid> = match to {
                RecordKind::Company => live_of(rows::<company::Entity>(app, scope, ids).await?),
                RecordKind::Contact => live_of(rows::<contact::Entity>(app, scope, ids).await?),
                RecordKind::Deal => live_of(rows::<deal::Entity>(app, scope, ids).await?),
                RecordKind::Activity => live_of(rows::<activity::Entity>(app, scope, ids).await?),
            };
            self.live_references.extend(live);
        }
        fn live_of<M: RecordRow>(rows: Vec<M>) -> Vec<uuid::Uuid> {
            rows.into_iter()
                .filter(|r| !r.deleted())
                .map(|r| r.id())
                .collect()
        }
        Ok(())
    }

    /// Whether a unique field is mapped.
    pub(super) fn has_unique(&self) -> bool {
        self.fields.iter().any(|(_, f)| f.unique)
    }

    /// Row `record`'s values of unique fields, as their claims take them (the value's
    /// text, `value #>> '{}'` in SQL): `(field id, text)`.
    fn unique_cells(&self, record: &csv::StringRecord) -> Vec<(uuid::Uuid, String)> {
        self.fields
            .iter()
            .filter(|(_, f)| f.unique)
            .filter_map(|(index, field)| {
                let value = from_text(field, record.get(*index).unwrap_or_default()).ok()??;
                let text = match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                Some((field.id, text))
            })
            .collect()
    }

    /// The unique values of `chunk`'s rows: whether the workspace's records hold each
    /// already (`custom_claims`, read in `unit`, the batch's command transaction), and
    /// each folded as the claims fold it (PostgreSQL's `lower`, which a Rust lowercase
    /// may not equal).
    pub(super) async fn unique_values(
        &self,
        unit: &crate::unit_of_work::UnitOfWork,
        chunk: &[(u64, csv::StringRecord)],
    ) -> Result<UniqueValues, AppError> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let cells: Vec<(uuid::Uuid, String)> = chunk
            .iter()
            .flat_map(|(_, record)| self.unique_cells(record))
            .collect();
        let mut known = std::collections::HashMap::new();
        if cells.is_empty() {
            return Ok(UniqueValues { known });
        }
        let (ids, texts): (Vec<uuid::Uuid>, Vec<String>) = cells.into_iter().unzip();
        let rows = unit
            .connection()
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT u.f AS field_id, u.v AS value, lower(u.v) AS folded,
                        EXISTS (SELECT FROM custom_claims c
                                 WHERE c.tenant_id = $1 AND c.field_id = u.f
                                   AND c.value = lower(u.v)) AS taken
                   FROM unnest($2::uuid[], $3::text[]) AS u(f, v)",
                [unit.tenant().0.into(), ids.into(), texts.into()],
            ))
            .await?;
        for row in rows {
            let field: uuid::Uuid = row.try_get("", "field_id")?;
            let value: String = row.try_get("", "value")?;
            let folded: String = row.try_get("", "folded")?;
            let taken: bool = row.try_get("", "taken")?;
            known.insert((field, value), (folded, taken));
        }
        Ok(UniqueValues { known })
    }

    /// Claims row `record`'s unique values among the import's rows, unless a record of
    /// the workspace or an earlier row holds one: then why the row is a duplicate.
    pub(super) fn claim_unique(
        &self,
        record: &csv::StringRecord,
        values: &UniqueValues,
        seen: &mut std::collections::HashSet<(uuid::Uuid, String)>,
    ) -> Result<(), String> {
        let cells = self.unique_cells(record);
        let mut folded = Vec::with_capacity(cells.len());
        for (field, text) in cells {
            let key = self
                .fields
                .iter()
                .find(|(_, f)| f.id == field)
                .map_or_else(String::new, |(_, f)| f.key.clone());
            let shown = self.shown(field, &text);
            match values.known.get(&(field, text.clone())) {
                Some((_, true)) => {
                    return Err(format!(
                        "custom.{key}: a record of the workspace has {shown}"
                    ))
                }
                Some((f, false)) if seen.contains(&(field, f.clone())) => {
                    return Err(format!("custom.{key}: an earlier row has {shown}"))
                }
                Some((f, false)) => folded.push((field, f.clone())),
                None => {}
            }
        }
        seen.extend(folded);
        Ok(())
    }

    /// Takes row `record`'s unique values for an update of a record the workspace has
    /// (an upsert): whether another record holds one is the update's own claim to find,
    /// but a value an earlier row of this import took refuses the row, and a later row
    /// that wants one of them is a duplicate (the batch's staged creates claim theirs only
    /// when written, after the update).
    pub(super) fn claim_unique_for_update(
        &self,
        record: &csv::StringRecord,
        values: &UniqueValues,
        seen: &mut std::collections::HashSet<(uuid::Uuid, String)>,
    ) -> Result<(), String> {
        let mut folded = Vec::new();
        for (field, text) in self.unique_cells(record) {
            let Some((f, _)) = values.known.get(&(field, text.clone())) else {
                continue;
            };
            if seen.contains(&(field, f.clone())) {
                let key = self
                    .fields
                    .iter()
                    .find(|(_, d)| d.id == field)
                    .map_or_else(String::new, |(_, d)| d.key.clone());
                return Err(format!(
                    "custom.{key}: an earlier row has {}",
                    self.shown(field, &text)
                ));
            }
            folded.push((field, f.clone()));
        }
        seen.extend(folded);
        Ok(())
    }

    /// A value as a report quotes it: a personal data field's value is never quoted (the
    /// report is kept with the import and would outlive an erasure).
    fn shown(&self, field: uuid::Uuid, text: &str) -> String {
        let personal = self
            .fields
            .iter()
            .any(|(_, f)| f.id == field && f.personal_data);
        if personal {
            "this value".to_owned()
        } else {
            format!("{text:?}")
        }
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
            let value = from_text(field, cell).and_then(|value| match (&value, field.references) {
                (Some(serde_json::Value::String(id)), Some(to))
                    if field.kind == FieldKind::Reference
                        && !uuid::Uuid::parse_str(id)
                            .is_ok_and(|id| self.live_references.contains(&id)) =>
                {
                    Err(format!("no such {} in this workspace: {id}", to.as_str()))
                }
                _ => Ok(value),
            });
            match value {
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
                Err(why) => {
                    // A personal data cell is not quoted: the report outlives an erasure.
                    let why = if field.personal_data {
                        "not a value of the field's type (personal data: the cell is not quoted)"
                            .to_owned()
                    } else {
                        why
                    };
                    if field.required {
                        return Err(format!("custom.{}: {why}", field.key));
                    }
                    report.warn(row, format!("custom.{} dropped: {why}", field.key));
                }
            }
        }
        Ok(CustomInput::checked_with(changes, personal))
    }
}

/// A batch's unique values as the workspace holds them ([`Mapped::unique_values`]).
pub(super) struct UniqueValues {
    /// `(field, text)` → (the text folded as claims fold it, whether a record holds it).
    known: std::collections::HashMap<(uuid::Uuid, String), (String, bool)>,
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
