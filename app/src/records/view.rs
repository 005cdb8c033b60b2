//! Record views from their table's declaration.
//!
//! A record type's view, the view from its row, and its CSV export's columns come from
//! the same declaration as its read table (`crm_projections::entities::table`):
//! [`record_view!`] expands it here. Export cells follow [`Cell`].

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::listing::{joined, text};

/// A column value as an export cell: text defused against formula injection
/// ([`text`]), lists joined by `;`, times in RFC 3339, none as an empty cell.
pub trait Cell {
    /// The cell's text.
    fn cell(&self) -> String;
}

impl Cell for String {
    fn cell(&self) -> String {
        text(Some(self))
    }
}

impl Cell for Vec<String> {
    fn cell(&self) -> String {
        text(Some(&self.join(";")))
    }
}

impl Cell for Vec<Uuid> {
    fn cell(&self) -> String {
        joined(self)
    }
}

impl Cell for DateTime<Utc> {
    fn cell(&self) -> String {
        self.to_rfc3339()
    }
}

macro_rules! cell_as_display {
    ($($t:ty),*) => {$(
        impl Cell for $t {
            fn cell(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

cell_as_display!(i64, bool, Uuid, NaiveDate);

/// JSON text (a list or object never reads as a formula).
impl Cell for serde_json::Value {
    fn cell(&self) -> String {
        self.to_string()
    }
}

impl<T: Cell> Cell for Option<T> {
    fn cell(&self) -> String {
        self.as_ref().map(Cell::cell).unwrap_or_default()
    }
}

/// Expands a record table's declaration into the record's view (a `Serialize` and
/// `utoipa::ToSchema` struct named by the declaration, its fields documented there),
/// `From<Model>` for it, and `EXPORT`, its CSV export's columns (`id`, the declared
/// columns, money as exact major units, minor units and currency code, `deleted`,
/// `created_at`, `updated_at`). Invoked in the record type's module as
/// `crm_projections::company_table!(crate::records::view::record_view);`.
macro_rules! record_view {
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
        pub use declared::*;

        /// The view and export columns expanded from the table's declaration.
        mod declared {
            #[allow(unused_imports)]
            use chrono::{DateTime, NaiveDate, Utc};
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use sea_orm::prelude::{Json, Uuid};
            #[allow(unused_imports)]
            use $crate::records::listing::{major, Column};
            use $crate::records::view::Cell;
            #[allow(unused_imports)]
            use $crate::records::MoneyView;

            /// The row the view shows.
            type Row = crm_projections::entities::$module::Model;

            $(#[$view_doc])*
            #[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
            pub struct $view {
                /// Id.
                pub id: Uuid,
                $( $(#[$f_doc])* pub $f: $f_ty, )*
                $( $(#[$m_doc])* pub $m: Option<MoneyView>, )*
                $( $(#[$o_doc])* $(#[schema(value_type = $o_schema)])? pub $o: $o_ty, )*
                $( $(#[$d_doc])* $(#[schema(value_type = $d_schema)])? pub $d: $d_ty, )*
                /// Soft-deleted.
                pub deleted: bool,
                /// Aggregate version (also the `ETag`).
                pub version: i64,
                /// Creation time.
                pub created_at: DateTime<Utc>,
                /// Last change time.
                pub updated_at: DateTime<Utc>,
                /// Creating actor (user id, API key or system actor).
                pub created_by: String,
                /// Last changing actor.
                pub updated_by: String,
            }

            impl From<Row> for $view {
                fn from(row: Row) -> Self {
                    $( let $d = ($d_fn)(&row); )*
                    Self {
                        id: row.id,
                        $( $f: row.$f, )*
                        $(
                            $m: row.$minor.zip(row.$currency).map(|(amount_minor, currency)| {
                                MoneyView { amount_minor, currency }
                            }),
                        )*
                        $( $o: row.$o, )*
                        $( $d, )*
                        deleted: row.deleted,
                        version: row.version,
                        created_at: row.created_at,
                        updated_at: row.updated_at,
                        created_by: row.created_by,
                        updated_by: row.updated_by,
                    }
                }
            }

            /// The export's columns, in order.
            pub const EXPORT: &[Column<Row>] = &[
                Column { name: "id", cell: |r| r.id.cell() },
                $( Column { name: stringify!($f), cell: |r| r.$f.cell() }, )*
                $(
                    Column {
                        name: stringify!($m),
                        cell: |r| major(r.$minor, r.$currency.as_deref()),
                    },
                    Column { name: stringify!($minor), cell: |r| r.$minor.cell() },
                    Column { name: stringify!($currency), cell: |r| r.$currency.cell() },
                )*
                $( Column { name: stringify!($o), cell: |r| r.$o.cell() }, )*
                Column { name: "deleted", cell: |r| r.deleted.cell() },
                Column { name: "created_at", cell: |r| r.created_at.cell() },
                Column { name: "updated_at", cell: |r| r.updated_at.cell() },
            ];
        }
    };
}

pub(crate) use record_view;
