//! Lists and CSV exports of record types: a type that implements [`Listed`] (its filter,
//! how a page is read, and its export [`Column`]s, declared once in its module) gets a
//! keyset-paginated list ([`list`]) and a streamed CSV export ([`csv`]).
//!
//! An export is CSV (RFC 4180) with a header row, read page by page, so an export of any
//! size holds one page in memory. Money comes as three columns: exact major units as
//! decimal text (`1234.56`), integer minor units, and the ISO 4217 code. Text cells that a
//! spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage
//! return) are prefixed with `'`, as OWASP's "CSV Injection" advice says.

use crm_domain::{Currency, Money};
use crm_projections::queries::records::{self, Conditions, RecordFilter, SortedByName};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;
use futures::stream::{self, Stream};
use sea_orm::DatabaseConnection;

use super::Record;
use crate::caller::Caller;
use crate::error::AppError;

/// Rows read per page of an export.
pub const EXPORT_PAGE: u64 = 200;

/// One column of an export: its header and how a row fills it.
pub struct Column<Row> {
    /// The header.
    pub name: &'static str,
    /// The cell of a row.
    pub cell: fn(&Row) -> String,
}

/// A record type with a list and an export: its table is listed by name, with the
/// conditions every record list has and its own.
pub trait Listed: Record<Table: SortedByName> {
    /// Its list's own conditions.
    type Conditions: Conditions<Self::Table> + Clone + Default + 'static;
    /// Its export's columns, in order.
    const COLUMNS: &'static [Column<Self::Row>];
    /// Its record type for custom fields (`None`: it has none).
    const FIELDS: Option<crm_domain::fields::RecordKind> = None;
    /// A row's custom values, keyed by API key.
    fn custom(_row: &Self::Row) -> Option<&serde_json::Value> {
        None
    }
}

/// The export columns of `R`'s custom fields in the caller's workspace: the API keys of
/// its live fields, in the order they were defined (each exported as `custom.<key>`).
///
/// # Errors
/// Database errors.
pub async fn custom_columns<R: Listed>(
    s: super::Services<'_>,
    caller: &Caller,
) -> Result<Vec<String>, AppError> {
    let Some(kind) = R::FIELDS else {
        return Ok(Vec::new());
    };
    let schema = crate::fields::schema(s, caller).await?;
    Ok(schema.live(kind).map(|f| f.key.clone()).collect())
}

/// The conditions of a list's custom field filters (`cf.<key>…` parameters) on `R`'s
/// records ([`crate::fields::conditions`]).
///
/// # Errors
/// 422 on `cf` (for a type without custom fields too); database errors.
pub async fn custom_conditions<R: Listed>(
    s: super::Services<'_>,
    caller: &Caller,
    params: Vec<(String, String)>,
) -> Result<Vec<crm_projections::queries::page::CustomCondition>, AppError> {
    match R::FIELDS {
        Some(kind) => crate::fields::conditions(s, caller, kind, params).await,
        None if params.is_empty() => Ok(Vec::new()),
        None => Err(AppError::invalid(
            "cf",
            "this record type has no custom fields",
        )),
    }
}

/// The cells of `row`: its declared columns (its `custom` object aside), then one per
/// custom field of `keys` (text as it is, defused against formulas; other values as JSON).
fn cells<R: Listed>(row: &R::Row, keys: &[String]) -> Vec<String> {
    let mut cells: Vec<String> = R::COLUMNS
        .iter()
        .filter(|c| c.name != "custom")
        .map(|c| (c.cell)(row))
        .collect();
    let custom = R::custom(row);
    cells.extend(
        keys.iter()
            .map(|key| match custom.and_then(|c| c.get(key)) {
                Some(serde_json::Value::String(s)) => text(Some(s)),
                Some(serde_json::Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }),
    );
    cells
}

/// What a list of `R` asks for.
pub type Filter<R> = RecordFilter<<R as Listed>::Conditions>;

/// One page of the rows `filter` selects, in the scope's workspace.
async fn page<R: Listed>(
    db: &DatabaseConnection,
    scope: &TenantScope,
    filter: &Filter<R>,
) -> Result<Page<R::Row>, ListError> {
    records::list::<R::Table, R::Conditions>(db, scope, filter).await
}

/// A page of the caller's records as views.
///
/// # Errors
/// A validation error for a cursor of another sort order; the store's errors.
pub async fn list<R: Listed>(
    db: &DatabaseConnection,
    caller: &Caller,
    filter: &Filter<R>,
) -> Result<Page<R::View>, AppError> {
    let page = page::<R>(db, &caller.scope, filter).await?;
    Ok(Page {
        items: page.items.into_iter().map(R::View::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// A text cell, defused against spreadsheet formula injection.
pub fn text(value: Option<&str>) -> String {
    match value {
        Some(t) if t.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{t}"),
        Some(t) => t.to_owned(),
        None => String::new(),
    }
}

/// An amount in exact major units (`1234.56`), empty without an amount or a known
/// currency.
pub fn major(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency.and_then(|c| Currency::from_code(c).ok())) {
        (Some(m), Some(c)) => Money::new(m, c).to_major().to_string(),
        _ => String::new(),
    }
}

/// A value's text, empty for none.
pub fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// Items joined by `;`.
pub fn joined<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(";")
}

/// CSV lines of `rows`.
fn lines(rows: &[Vec<String>]) -> Result<Vec<u8>, AppError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).map_err(AppError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::internal(e.into_error()))
}

/// The export of every row `filter` selects in the scope's workspace (its page size and
/// cursor are ignored): the header, then one chunk of CSV per page. A page that fails
/// ends the stream with its error (the caller must not present what came before as
/// complete).
/// `custom` names the custom fields exported, each as a column `custom.<key>` after the
/// declared ones ([`custom_columns`]).
pub fn csv<R: Listed>(
    db: DatabaseConnection,
    scope: TenantScope,
    filter: Filter<R>,
    custom: Vec<String>,
) -> impl Stream<Item = Result<Vec<u8>, AppError>> + 'static {
    let header: Vec<String> = R::COLUMNS
        .iter()
        .filter(|c| c.name != "custom")
        .map(|c| c.name.to_owned())
        .chain(custom.iter().map(|k| format!("custom.{k}")))
        .collect();
    let first = lines(&[header]);
    let start = stream::once(async move { first });
    let pages = stream::unfold(Some(None::<String>), move |cursor| {
        let (db, filter, custom) = (db.clone(), filter.clone(), custom.clone());
        async move {
            let cursor = cursor?;
            let filter = filter.paged(EXPORT_PAGE, cursor);
            match page::<R>(&db, &scope, &filter).await {
                Ok(page) => {
                    let rows: Vec<Vec<String>> = page
                        .items
                        .iter()
                        .map(|row| cells::<R>(row, &custom))
                        .collect();
                    Some((lines(&rows), page.next_cursor.map(Some)))
                }
                Err(err) => {
                    tracing::error!(error = %err, "export page failed");
                    Some((Err(AppError::from(err)), None))
                }
            }
        }
    });
    futures::StreamExt::chain(start, pages)
}

/// The sort by a custom value that a list's `sort` names (`cf.<key>`, `-cf.<key>`
/// descending), checked against the caller's workspace's schema; `None` for a built-in
/// sort (or none).
///
/// # Errors
/// 422 on `sort` for a key the workspace's type has no live field of, a type without
/// custom fields, or a field of a type that has no order (long text, selects, references).
pub async fn custom_sort<R: Listed>(
    s: super::Services<'_>,
    caller: &Caller,
    sort: Option<&str>,
) -> Result<Option<crm_projections::queries::page::CustomSort>, AppError> {
    use crm_domain::fields::FieldKind;
    use crm_projections::queries::page::{CustomSort, SortAs};
    let Some(text) = sort else {
        return Ok(None);
    };
    let (descending, name) = text
        .strip_prefix('-')
        .map_or((false, text), |rest| (true, rest));
    let Some(key) = name.strip_prefix("cf.") else {
        return Ok(None);
    };
    let Some(kind) = R::FIELDS else {
        return Err(AppError::invalid(
            "sort",
            "this record type has no custom fields",
        ));
    };
    let schema = crate::fields::schema(s, caller).await?;
    let field = schema
        .by_key(kind, key)
        .filter(|f| !f.archived)
        .ok_or_else(|| {
            AppError::invalid(
                "sort",
                format!("the workspace has no {} field {key:?}", kind.as_str()),
            )
        })?;
    let as_ = match field.kind {
        FieldKind::Text
        | FieldKind::Url
        | FieldKind::Email
        | FieldKind::Phone
        | FieldKind::Boolean => SortAs::Text,
        FieldKind::Integer | FieldKind::Decimal => SortAs::Number,
        FieldKind::Money => SortAs::MinorUnits,
        FieldKind::Date => SortAs::Date,
        FieldKind::DateTime => SortAs::Instant,
        FieldKind::LongText
        | FieldKind::SingleSelect
        | FieldKind::MultiSelect
        | FieldKind::Reference => {
            return Err(AppError::invalid(
                "sort",
                format!("{key}: long text, select and reference fields have no order"),
            ))
        }
    };
    Ok(Some(CustomSort {
        key: field.key.clone(),
        as_,
        descending,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_defused_and_others_kept() {
        assert_eq!(text(Some("=1+1")), "'=1+1");
        assert_eq!(text(Some("-5")), "'-5");
        assert_eq!(text(Some("@SUM")), "'@SUM");
        assert_eq!(text(Some("Acme")), "Acme");
        assert_eq!(text(None), "");
    }

    #[test]
    fn money_is_exact_major_units() {
        assert_eq!(major(Some(123_456), Some("EUR")), "1234.56");
        assert_eq!(major(Some(5), Some("JPY")), "5");
        assert_eq!(major(Some(5), None), "");
        assert_eq!(major(None, Some("EUR")), "");
    }
}
