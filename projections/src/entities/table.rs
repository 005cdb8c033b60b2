//! Record tables declared once.
//!
//! A record type's read table (companies, contacts) is one declaration: a macro named
//! after the table (`company_table!`, in the entity's module) that lists its columns, each
//! once, with its type and its documentation. Each layer expands that same list with its
//! own macro:
//! - [`read_table!`](crate::read_table) here: the sea-orm entity (`Model`, `Column`,
//!   `ActiveModel`), the row a created event makes (`ActiveModel::created`) and the
//!   columns an update event sets (`ActiveModel::changed`);
//! - `crm_app::record_view!`: the JSON view with its OpenAPI schema, the view from a row,
//!   and the CSV export's columns.
//!
//! So adding a field to a record type touches its domain type (command input, events,
//! rules), its migration, and its declaration. The columns of a declaration:
//! - `fields`: a column per domain field of the same name in the created event's fields
//!   and the updated event's changes, stored as [`IntoColumn`] converts it;
//! - `money`: a domain `Option<Money>` field, stored as minor units and ISO 4217 code
//!   columns, shown as `{amount_minor, currency}`;
//! - `own`: columns shown and exported, set by the type's own projector code (not by the
//!   created or updated event's fields); `as T` names the schema of a JSON column;
//! - `derived`: not columns but view fields computed from the row, each by a function
//!   of `&Model`;
//! - `hidden`: columns the database fills (generated sort keys), never shown.
//!
//! Every table also has `tenant_id` and `id` (its key), `deleted`, `version`,
//! `created_at`, `updated_at`, `created_by` and `updated_by`.

use chrono::{DateTime, NaiveDate, Utc};
use crm_domain::{Currency, Email, EntityId, UserId, WebDomain};
use uuid::Uuid;

/// A domain value as its read-table column stores it (the column's Rust type is
/// `Column`): domain wrappers become their text or id, options and lists map inside.
pub trait IntoColumn {
    /// The column's type in the entity.
    type Column;
    /// The stored value.
    fn into_column(self) -> Self::Column;
}

macro_rules! stored_as_itself {
    ($($t:ty),*) => {$(
        impl IntoColumn for $t {
            type Column = $t;
            fn into_column(self) -> $t {
                self
            }
        }
    )*};
}

stored_as_itself!(String, i64, bool, Uuid, NaiveDate, DateTime<Utc>);

macro_rules! stored_as_text {
    ($($t:ty),*) => {$(
        impl IntoColumn for $t {
            type Column = String;
            fn into_column(self) -> String {
                self.into()
            }
        }
    )*};
}

stored_as_text!(WebDomain, Currency, Email);

impl IntoColumn for EntityId {
    type Column = Uuid;
    fn into_column(self) -> Uuid {
        self.0
    }
}

impl IntoColumn for UserId {
    type Column = Uuid;
    fn into_column(self) -> Uuid {
        self.0
    }
}

impl<T: IntoColumn> IntoColumn for Option<T> {
    type Column = Option<T::Column>;
    fn into_column(self) -> Self::Column {
        self.map(IntoColumn::into_column)
    }
}

impl<T: IntoColumn> IntoColumn for Vec<T> {
    type Column = Vec<T::Column>;
    fn into_column(self) -> Self::Column {
        self.into_iter().map(IntoColumn::into_column).collect()
    }
}

/// The `SET`s of an update: every column `row` has set, with its value.
pub fn sets_of<A>(
    row: &A,
) -> Vec<(
    <A::Entity as sea_orm::EntityTrait>::Column,
    sea_orm::sea_query::SimpleExpr,
)>
where
    A: sea_orm::ActiveModelTrait,
{
    use sea_orm::Iterable;
    <<A::Entity as sea_orm::EntityTrait>::Column as Iterable>::iter()
        .filter_map(|c| match row.get(c) {
            sea_orm::ActiveValue::Set(v) => Some((c, sea_orm::sea_query::Expr::value(v))),
            _ => None,
        })
        .collect()
}

/// Expands a record table's declaration (see [the module](self)) into its sea-orm entity
/// and the rows its created and updated events make. Invoked in the entity's module as
/// `company_table!(crate::read_table);`.
#[macro_export]
macro_rules! read_table {
    (
        $(#[$row_doc:meta])*
        table $table:tt in $module:ident;
        events $fields_ty:ty, $changes_ty:ty;
        $(#[$view_doc:meta])*
        view $view:ident;
        fields { $( $(#[$f_doc:meta])* $f:ident : $f_ty:ty, )* }
        money { $( $(#[$m_doc:meta])* $m:ident => $minor:ident, $currency:ident; )* }
        own { $( $(#[$o_doc:meta])* $o:ident : $o_ty:ty $(as $o_schema:ty)?, )* }
        derived { $( $(#[$d_doc:meta])* $d:ident : $d_ty:ty $(as $d_schema:ty)? = $d_fn:expr, )* }
        hidden { $( $(#[$h_doc:meta])* $h:ident : $h_ty:ty, )* }
    ) => {
        use sea_orm::entity::prelude::*;
        #[allow(unused_imports)]
        use chrono::{DateTime, NaiveDate, Utc};

        $(#[$row_doc])*
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
        #[sea_orm(table_name = $table)]
        #[allow(missing_docs)]
        pub struct Model {
            #[sea_orm(primary_key, auto_increment = false)]
            pub tenant_id: Uuid,
            #[sea_orm(primary_key, auto_increment = false)]
            pub id: Uuid,
            $( $(#[$f_doc])* pub $f: $f_ty, )*
            $( pub $minor: Option<i64>, pub $currency: Option<String>, )*
            $( $(#[$o_doc])* pub $o: $o_ty, )*
            pub deleted: bool,
            pub version: i64,
            pub created_at: DateTimeUtc,
            pub updated_at: DateTimeUtc,
            pub created_by: String,
            pub updated_by: String,
            $( $(#[$h_doc])* #[serde(skip)] pub $h: $h_ty, )*
        }

        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        #[allow(missing_docs)]
        pub enum Relation {}

        /// The created event's fields this declaration stores (its `fields` and `money`);
        /// a test checks that no other field of the event goes unstored.
        pub const DECLARED_FIELDS: &[&str] = &[$(stringify!($f),)* $(stringify!($m),)*];

        impl ActiveModelBehavior for ActiveModel {}

        impl ActiveModel {
            /// The row a record's created event (its stream's first event) makes: its
            /// key, its declared columns from `fields`, version 1, not deleted, created
            /// and last changed by the event's actor at its time. `own` columns are left
            /// for the type's projector to set.
            pub fn created(ev: &crm_store::event::StoredEvent, fields: $fields_ty) -> Self {
                #[allow(unused_imports)]
                use $crate::entities::table::IntoColumn as _;
                use sea_orm::ActiveValue::Set;
                let by = ev.metadata.actor.id();
                let _ = &fields;
                Self {
                    tenant_id: Set(ev.stream.tenant.0),
                    id: Set(ev.stream.entity.0),
                    $( $f: Set(fields.$f.into_column()), )*
                    $(
                        $minor: Set(fields.$m.map(|m| m.amount_minor)),
                        $currency: Set(fields.$m.map(|m| m.currency.code().to_owned())),
                    )*
                    deleted: Set(false),
                    version: Set(1),
                    created_at: Set(ev.metadata.occurred_at),
                    updated_at: Set(ev.metadata.occurred_at),
                    created_by: Set(by.clone()),
                    updated_by: Set(by),
                    ..Default::default()
                }
            }

            /// The declared columns an update event's `changes` set (a cleared field
            /// sets `NULL`), and nothing else.
            pub fn changed(changes: $changes_ty) -> Self {
                #[allow(unused_imports)]
                use $crate::entities::table::IntoColumn as _;
                #[allow(unused_mut)]
                let mut row = <Self as ::core::default::Default>::default();
                let _ = &changes;
                $(
                    if let Some(v) = changes.$f {
                        row.$f = sea_orm::ActiveValue::Set(v.into_column());
                    }
                )*
                $(
                    if let Some(v) = changes.$m {
                        row.$minor = sea_orm::ActiveValue::Set(v.map(|m| m.amount_minor));
                        row.$currency =
                            sea_orm::ActiveValue::Set(v.map(|m| m.currency.code().to_owned()));
                    }
                )*
                row
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::entities::{company, contact, deal};
    use crm_domain::company::CompanyFields;
    use crm_domain::contact::ContactFields;
    use crm_domain::deal::DealFields;

    /// A table, its created event's fields, its declared ones, and those its projector
    /// sets itself.
    type Checked = (
        &'static str,
        Vec<String>,
        &'static [&'static str],
        &'static [&'static str],
    );

    /// The member names of `T::default()` as JSON.
    fn members<T: Default + serde::Serialize>() -> Vec<String> {
        match serde_json::to_value(T::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            other => panic!("not an object: {other:?}"),
        }
    }

    /// A field added to a created event but not to its table's declaration would be kept
    /// in the events and never reach the read row.
    #[test]
    fn every_field_of_a_created_event_has_a_column() {
        let tables: [Checked; 3] = [
            (
                "companies",
                members::<CompanyFields>(),
                company::DECLARED_FIELDS,
                &[],
            ),
            (
                "contacts",
                members::<ContactFields>(),
                contact::DECLARED_FIELDS,
                &[],
            ),
            // A deal's projector sets its stage from the event itself.
            (
                "deals",
                members::<DealFields>(),
                deal::DECLARED_FIELDS,
                &["pipeline_id", "stage_id"],
            ),
        ];
        for (table, fields, declared, own) in tables {
            assert!(fields.len() > 3, "{table}: {fields:?}");
            for field in fields {
                assert!(
                    declared.contains(&field.as_str()) || own.contains(&field.as_str()),
                    "{table}: the created event's `{field}` has no declared column"
                );
            }
        }
    }
}
