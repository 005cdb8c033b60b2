//! Keyset (cursor) pagination.
//!
//! A page is sorted by a key column and then by id, so the order is total and stable under
//! ties; the cursor carries the last row's key and id, and the next page starts strictly
//! after them (`(key, id) > (cursor.key, cursor.id)`). Unlike `OFFSET`, rows inserted or
//! deleted meanwhile never shift a page, and every page costs one index range scan.
//!
//! The page itself, its size bounds and its errors are the store's
//! ([`crm_store::page`]), shared with the audit trail; the sorts and cursors here are the
//! read models'.

use base64::Engine;
use crm_store::page::{clamp_limit, CursorError, ListError, Page};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The field a list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortField {
    /// By name, case-insensitively.
    Name,
    /// By creation time.
    CreatedAt,
}

/// A sort order: a field, ascending or descending. Text form `name`, `-name`,
/// `created_at`, `-created_at` (a leading `-` is descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The field.
    pub field: SortField,
    /// Descending when true.
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Self {
            field: SortField::Name,
            descending: false,
        }
    }
}

impl Sort {
    /// Parses the text form.
    ///
    /// # Errors
    /// [`CursorError::Sort`] for anything else.
    pub fn parse(text: &str) -> Result<Self, CursorError> {
        let (descending, name) = text
            .strip_prefix('-')
            .map_or((false, text), |rest| (true, rest));
        let field = match name {
            "name" => SortField::Name,
            "created_at" => SortField::CreatedAt,
            _ => return Err(CursorError::Sort(text.to_owned())),
        };
        Ok(Self { field, descending })
    }

    /// The text form.
    pub fn as_str(self) -> &'static str {
        match (self.field, self.descending) {
            (SortField::Name, false) => "name",
            (SortField::Name, true) => "-name",
            (SortField::CreatedAt, false) => "created_at",
            (SortField::CreatedAt, true) => "-created_at",
        }
    }
}

/// Where the next page starts: after the row with this sort key and id, in this sort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort the cursor belongs to (text form of [`Sort`]).
    pub s: String,
    /// The last row's sort key (a name, or an RFC 3339 time).
    pub k: String,
    /// The last row's id.
    pub i: Uuid,
}

impl Cursor {
    /// The opaque text form: URL-safe base64 of the JSON.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a cursor for `sort`.
    ///
    /// # Errors
    /// [`CursorError::Malformed`] or [`CursorError::WrongSort`].
    pub fn decode(text: &str, sort: Sort) -> Result<Self, CursorError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        let cursor: Self = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        // A key this server wrote holds no NUL or other control character, and no time
        // PostgreSQL cannot compare with.
        if crm_domain::text::forbidden_char(&cursor.k).is_some()
            || (sort.field == SortField::CreatedAt && crm_domain::time::out_of_range(&cursor.k))
        {
            return Err(CursorError::Malformed);
        }
        if cursor.s != sort.as_str() {
            return Err(CursorError::WrongSort);
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_rejections() {
        let sort = Sort::parse("-created_at").unwrap_or_default();
        let c = Cursor {
            s: sort.as_str().into(),
            k: "2026-01-01T00:00:00Z".into(),
            i: Uuid::nil(),
        };
        assert_eq!(Cursor::decode(&c.encode(), sort), Ok(c.clone()));
        assert_eq!(
            Cursor::decode(&c.encode(), Sort::default()),
            Err(CursorError::WrongSort)
        );
        assert_eq!(Cursor::decode("!!!", sort), Err(CursorError::Malformed));
        for key in ["a\u{0}b", "-262143-01-01T00:00:00Z"] {
            let forged = Cursor {
                s: sort.as_str().into(),
                k: key.into(),
                i: Uuid::nil(),
            };
            assert_eq!(
                Cursor::decode(&forged.encode(), sort),
                Err(CursorError::Malformed),
                "{key:?}"
            );
        }
        assert!(Sort::parse("email").is_err());
    }
}

/// Runs one keyset page of `select` in `conn`.
///
/// `name_col` and `created_col` are the sort key columns, `id_col` the tie-breaker;
/// `key_of` gives a row's (name key, creation time, id) to build the next cursor.
///
/// # Errors
/// [`ListError`].
#[allow(clippy::too_many_arguments)]
pub(crate) async fn keyset_page<E, C>(
    conn: &C,
    select: sea_orm::Select<E>,
    sort: Sort,
    cursor: Option<&str>,
    limit: Option<u64>,
    cols: (E::Column, E::Column, E::Column),
    key_of: impl Fn(&E::Model) -> (String, chrono::DateTime<chrono::Utc>, Uuid),
) -> Result<Page<E::Model>, ListError>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::sea_query::{Expr, SimpleExpr};
    use sea_orm::{Order, QueryFilter, QueryOrder, QuerySelect};

    let (name_col, created_col, id_col) = cols;
    let limit = clamp_limit(limit);
    let sort_col = match sort.field {
        SortField::Name => name_col,
        SortField::CreatedAt => created_col,
    };
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut select = select
        .order_by(sort_col, order.clone())
        .order_by(id_col, order);
    if let Some(text) = cursor {
        let cursor = Cursor::decode(text, sort)?;
        let key: SimpleExpr = match sort.field {
            SortField::Name => Expr::value(cursor.k),
            SortField::CreatedAt => Expr::value(
                chrono::DateTime::parse_from_rfc3339(&cursor.k)
                    .map_err(|_| CursorError::Malformed)?
                    .with_timezone(&chrono::Utc),
            ),
        };
        let left = Expr::tuple([Expr::col(sort_col).into(), Expr::col(id_col).into()]);
        let right = Expr::tuple([key, Expr::value(cursor.i)]);
        select = select.filter(if sort.descending {
            left.lt(right)
        } else {
            left.gt(right)
        });
    }
    let mut items = select.limit(limit + 1).all(conn).await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|row| {
            let (name, created, id) = key_of(row);
            let k = match sort.field {
                SortField::Name => name,
                SortField::CreatedAt => {
                    created.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                }
            };
            Cursor {
                s: sort.as_str().to_owned(),
                k,
                i: id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Longest search word kept, in characters: a longer one is cut to this prefix (a record's
/// longest text is 500 characters; a tsquery lexeme holds at most 2,047 bytes).
pub const SEARCH_WORD_MAX: usize = 200;

/// The words of `q` (runs of letters and digits, any script, at most 16, each cut to
/// [`SEARCH_WORD_MAX`] characters), lowercased and joined by spaces, or `None` when `q` has
/// none. The text needs no escaping; each word then matches a whole word of the record,
/// and the last one the start of a word too (`crm_tenant_query`, migrations 000030 and
/// 000032: Algolia's `prefixLast`).
pub fn search_words(q: &str) -> Option<String> {
    let words: Vec<String> = q
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(16)
        .map(|w| {
            w.chars()
                .take(SEARCH_WORD_MAX)
                .collect::<String>()
                .to_lowercase()
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

/// The conditions every record list shares: full-text `q`, a tag, a creation-time range.
#[derive(Debug, Clone, Default)]
pub struct CommonFilter {
    /// Words, each matched as a word of the record's searchable text, the last as a
    /// prefix of one.
    pub q: Option<String>,
    /// Has this tag (tags are lowercase).
    pub tag: Option<String>,
    /// Created at or after.
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Created before.
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Conditions on custom values (companies, contacts and deals only).
    pub custom: Vec<CustomCondition>,
}

/// How a custom value is ordered, as which SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortAs {
    /// As text, in the database's collation (text, URL, email, phone, boolean).
    Text,
    /// An integer or decimal value, as `numeric`.
    Number,
    /// A money value's minor units, as `numeric` (whatever the currency).
    MinorUnits,
    /// A date, as `date`.
    Date,
    /// A date-time, as `timestamptz`.
    Instant,
}

/// A list sorted by a custom value (`sort=cf.<key>`, `-cf.<key>` descending): records
/// with a value first, in its order, then those without, ties by id, in keyset pages.
/// Served by the list's tenant-first index and a sort (no index per field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomSort {
    /// The field's API key (`^[a-z][a-z0-9_]{0,62}$`, checked against the schema).
    pub key: String,
    /// As which type.
    pub as_: SortAs,
    /// Descending.
    pub descending: bool,
}

impl CustomSort {
    /// The sort's text form, `cf.<key>` or `-cf.<key>` (a cursor's `s`).
    pub fn name(&self) -> String {
        format!("{}cf.{}", if self.descending { "-" } else { "" }, self.key)
    }

    /// The key, fit to be written into SQL: an API key has only `a-z`, `0-9` and `_`.
    fn quoted_key(&self) -> Option<String> {
        let ok = !self.key.is_empty()
            && self
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        ok.then(|| format!("'{}'", self.key))
    }

    /// `(missing, value, the SQL type of a cursor's value)`: whether a row has no value
    /// (`true` sorts last), and its value with a stand-in when it has none (so row
    /// comparisons never meet NULL).
    fn exprs(&self) -> Option<(String, String, &'static str)> {
        let k = self.quoted_key()?;
        let missing = format!("((custom->>{k}) IS NULL)");
        let (value, cast) = match self.as_ {
            SortAs::Text => (format!("coalesce(custom->>{k}, '')"), "text"),
            SortAs::Number => (format!("coalesce((custom->>{k})::numeric, 0)"), "numeric"),
            SortAs::MinorUnits => (
                format!("coalesce((custom->{k}->>'amount_minor')::numeric, 0)"),
                "numeric",
            ),
            SortAs::Date => (format!("coalesce((custom->>{k})::date, 'epoch')"), "date"),
            SortAs::Instant => (
                format!("coalesce((custom->>{k})::timestamptz, 'epoch')"),
                "timestamptz",
            ),
        };
        Some((missing, value, cast))
    }

    /// Whether a cursor's value casts to the sort's SQL type without an error (a forged
    /// cursor must be a 422, not a failed query): a decimal number, a date or an RFC 3339
    /// time PostgreSQL stores, or `epoch`, the stand-in for no value.
    fn castable(&self, key: &str) -> bool {
        use std::str::FromStr;
        match self.as_ {
            SortAs::Text => true,
            SortAs::Number | SortAs::MinorUnits => {
                key.chars()
                    .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
                    && (rust_decimal::Decimal::from_str(key).is_ok()
                        || rust_decimal::Decimal::from_scientific(key).is_ok())
            }
            SortAs::Date => key == "epoch" || crm_domain::time::parse_date(key).is_some(),
            SortAs::Instant => key == "epoch" || crm_domain::time::parse_date_time(key).is_some(),
        }
    }

    /// A row's `(missing, value as text)` as the SQL expressions compute them.
    fn key_of(&self, custom: &serde_json::Value) -> (bool, String) {
        use serde_json::Value;
        let value = match self.as_ {
            SortAs::MinorUnits => custom.get(&self.key).and_then(|v| v.get("amount_minor")),
            _ => custom.get(&self.key),
        };
        match value {
            None | Some(Value::Null) => (
                true,
                match self.as_ {
                    SortAs::Text => String::new(),
                    SortAs::Number | SortAs::MinorUnits => "0".into(),
                    SortAs::Date | SortAs::Instant => "epoch".into(),
                },
            ),
            Some(Value::String(s)) => (false, s.clone()),
            Some(other) => (false, other.to_string()),
        }
    }
}

/// Runs one keyset page of `select` sorted by `sort` (see [`CustomSort`]); `custom_of`
/// gives a row's custom values and id, for the next cursor.
///
/// # Errors
/// [`ListError`]; a malformed or foreign cursor.
pub(crate) async fn custom_keyset_page<E, C>(
    conn: &C,
    select: sea_orm::Select<E>,
    sort: &CustomSort,
    cursor: Option<&str>,
    limit: Option<u64>,
    id_col: E::Column,
    custom_of: impl Fn(&E::Model) -> (&serde_json::Value, Uuid),
) -> Result<Page<E::Model>, ListError>
where
    E: sea_orm::EntityTrait,
    C: sea_orm::ConnectionTrait,
{
    use sea_orm::sea_query::Expr;
    use sea_orm::{Order, QueryFilter, QueryOrder, QuerySelect};

    let (missing, value, cast) = sort.exprs().ok_or(CursorError::Malformed)?;
    let limit = clamp_limit(limit);
    let order = if sort.descending {
        Order::Desc
    } else {
        Order::Asc
    };
    let mut select = select
        .order_by(Expr::cust(missing.clone()), Order::Asc)
        .order_by(Expr::cust(value.clone()), order.clone())
        .order_by(id_col, order);
    if let Some(text) = cursor {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if cursor.s != sort.name() {
            return Err(CursorError::WrongSort.into());
        }
        let (was_missing, key): (bool, String) =
            serde_json::from_str(&cursor.k).map_err(|_| CursorError::Malformed)?;
        if forbidden(&key) || !sort.castable(&key) {
            return Err(CursorError::Malformed.into());
        }
        let than = if sort.descending { "<" } else { ">" };
        select = select.filter(Expr::cust_with_values(
            format!(
                "({missing} > $1 OR ({missing} = $1 AND ({value}, id) {than} ($2::{cast}, $3)))"
            ),
            [
                sea_orm::Value::from(was_missing),
                sea_orm::Value::from(key),
                sea_orm::Value::from(cursor.i),
            ],
        ));
    }
    let mut items = select.limit(limit + 1).all(conn).await?;
    let next_cursor = if items.len() as u64 > limit {
        items.truncate(limit as usize);
        items.last().map(|row| {
            let (custom, id) = custom_of(row);
            let key = sort.key_of(custom);
            Cursor {
                s: sort.name(),
                k: serde_json::to_string(&key).unwrap_or_default(),
                i: id,
            }
            .encode()
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Whether a cursor's key holds what no key this server wrote does (a NUL or other
/// control character).
fn forbidden(key: &str) -> bool {
    crm_domain::text::forbidden_char(key).is_some()
}

/// A comparison of a range filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
}

impl Compare {
    fn sql(self) -> &'static str {
        match self {
            Self::Gt => ">",
            Self::Gte => ">=",
            Self::Lt => "<",
            Self::Lte => "<=",
        }
    }
}

/// What a range filter compares of a custom value, and as which SQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordered {
    /// An integer or decimal value, as `numeric`.
    Number,
    /// A money value's minor units, as `numeric`.
    MinorUnits,
    /// A date, as `date`.
    Date,
    /// A date-time, as `timestamptz`.
    Instant,
}

/// A condition on a row's custom values (keyed by API key, as the read row holds them).
#[derive(Debug, Clone, PartialEq)]
pub enum CustomCondition {
    /// The row's `custom` contains this object (`custom @> $1`): equality of a value, an
    /// option among a multi-select's; served by the `(tenant_id, custom)` GIN index.
    Contains(serde_json::Value),
    /// Value `key` compared with `value` (its text, cast to the SQL type of `as_`).
    Compare {
        /// The field's API key.
        key: String,
        /// What is compared.
        as_: Ordered,
        /// The comparison.
        op: Compare,
        /// The bound, as text of the SQL type.
        value: String,
    },
}

impl CustomCondition {
    fn expr(&self) -> sea_orm::sea_query::SimpleExpr {
        use sea_orm::sea_query::Expr;
        match self {
            Self::Contains(object) => {
                Expr::cust_with_values("custom @> $1::jsonb", [object.clone()])
            }
            Self::Compare {
                key,
                as_,
                op,
                value,
            } => {
                let (left, cast) = match as_ {
                    Ordered::Number => ("(custom->>$1)::numeric", "numeric"),
                    Ordered::MinorUnits => ("(custom->$1->>'amount_minor')::numeric", "numeric"),
                    Ordered::Date => ("(custom->>$1)::date", "date"),
                    Ordered::Instant => ("(custom->>$1)::timestamptz", "timestamptz"),
                };
                Expr::cust_with_values(
                    format!("{left} {} $2::{cast}", op.sql()),
                    [key.clone(), value.clone()],
                )
            }
        }
    }
}

impl CommonFilter {
    /// Adds the conditions to `select` (a table with `search`, `tags` and `created_at`) of
    /// a list in workspace `tenant` (whose lexemes its search names).
    pub fn apply<E: sea_orm::EntityTrait>(
        &self,
        mut select: sea_orm::Select<E>,
        tenant: Uuid,
    ) -> sea_orm::Select<E> {
        use sea_orm::sea_query::Expr;
        use sea_orm::QueryFilter;
        if let Some(words) = self.q.as_deref().and_then(search_words) {
            // The words are written into the SQL, not bound: a prepared statement's
            // generic plan cannot see how many rows a bound tsquery matches, and after five
            // runs PostgreSQL may keep one that walks the whole workspace in name order
            // for a rare word (100 ms at 215,000 rows, against 7 ms planned for the
            // words). With constant arguments, the immutable `crm_tenant_query` is
            // evaluated while planning, so each distinct search is planned for its own
            // words. The text is words of letters and digits (`search_words`) and a UUID,
            // quoted all the same.
            select = select.filter(Expr::cust(format!(
                "search @@ crm_tenant_query('{tenant}', '{}')",
                words.replace('\'', "''")
            )));
        }
        if let Some(tag) = &self.tag {
            // A bound text[] (sea-query reads `[$1]` as no placeholder).
            select = select.filter(Expr::cust_with_values(
                "tags @> $1",
                [vec![tag.trim().to_lowercase()]],
            ));
        }
        if let Some(t) = self.created_after {
            select = select.filter(Expr::cust_with_values("created_at >= $1", [t]));
        }
        if let Some(t) = self.created_before {
            select = select.filter(Expr::cust_with_values("created_at < $1", [t]));
        }
        for condition in &self.custom {
            select = select.filter(condition.expr());
        }
        select
    }
}

#[cfg(test)]
mod prefix_tests {
    use super::*;

    #[test]
    fn searches_keep_only_words() {
        assert_eq!(search_words("Acme  Corp!"), Some("acme corp".into()));
        assert_eq!(search_words("Börje ekh"), Some("börje ekh".into()));
        assert_eq!(search_words("'); DROP --"), Some("drop".into()));
        assert_eq!(search_words(" %% "), None);
        let long = "ж".repeat(3_000);
        assert_eq!(
            search_words(&long).map(|w| w.chars().count()),
            Some(SEARCH_WORD_MAX)
        );
    }
}

#[cfg(test)]
mod common_filter_tests {
    use super::*;
    use sea_orm::{DbBackend, EntityTrait, QueryTrait};

    #[test]
    fn common_filter_sql() {
        let f = CommonFilter {
            q: Some("acme corp".into()),
            tag: Some(" VIP ".into()),
            ..Default::default()
        };
        let tenant = Uuid::from_u128(42);
        let sql = f
            .apply(crate::entities::company::Entity::find(), tenant)
            .build(DbBackend::Postgres)
            .to_string();
        assert!(
            sql.contains(
                "search @@ crm_tenant_query('00000000-0000-0000-0000-00000000002a', 'acme corp')"
            ),
            "{sql}"
        );
        assert!(sql.contains("tags @> ARRAY ['vip']"), "{sql}");
    }

    #[test]
    fn custom_conditions_bind_their_keys_and_values() {
        let f = CommonFilter {
            custom: vec![
                CustomCondition::Contains(serde_json::json!({"ticker": "ERIC"})),
                CustomCondition::Compare {
                    key: "staff'; --".into(),
                    as_: Ordered::Number,
                    op: Compare::Gte,
                    value: "100".into(),
                },
            ],
            ..Default::default()
        };
        let statement = f
            .apply(crate::entities::company::Entity::find(), Uuid::from_u128(1))
            .build(DbBackend::Postgres);
        let (sql, values) = (statement.sql, statement.values.map_or(0, |v| v.0.len()));
        assert!(sql.contains("custom @> $"), "{sql}");
        assert!(sql.contains("(custom->>$"), "{sql}");
        assert!(!sql.contains("staff"), "keys are bound: {sql}");
        assert_eq!(values, 3);
    }
}
