//! Custom values in the read rows of companies, contacts, deals and activities.
//!
//! Record events key their values by field id; a read row keeps them in `custom` keyed by
//! the field's API key (immutable) without the fields archived now, so a view, a filter
//! or an export reads them with no schema at hand. The mapping is done by the database
//! (`crm_custom_keys`, migration 000033) from the workspace's `FieldSchema` events, the
//! same in the command's inline projection, the catch-up projector and a rebuild.
//! Archiving a field takes its values out of the read rows; restoring it puts each
//! record's latest value back from the record's events.

use crm_domain::fields::{CustomChanges, CustomValues, RecordKind};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement};
use uuid::Uuid;

/// The record types with custom values: their kind, read table, aggregate type and the
/// events whose payloads carry values (created, updated).
const TABLES: [(RecordKind, &str, &str, &str, &str); 4] = [
    (
        RecordKind::Company,
        "companies",
        "Company",
        "CompanyCreated",
        "CompanyUpdated",
    ),
    (
        RecordKind::Contact,
        "contacts",
        "Contact",
        "ContactCreated",
        "ContactUpdated",
    ),
    (
        RecordKind::Deal,
        "deals",
        "Deal",
        "DealCreated",
        "DealUpdated",
    ),
    (
        RecordKind::Activity,
        "activities",
        "Activity",
        "ActivityLogged",
        "ActivityCustomChanged",
    ),
];

/// A created event's values as the insert stores them (keyed by field id; [`key`] or
/// [`key_many`] then keys them by API key).
pub fn column(values: &CustomValues) -> serde_json::Value {
    serde_json::Value::Object(
        values
            .iter()
            .map(|(id, v)| (id.to_string(), v.clone()))
            .collect(),
    )
}

/// The `SET` of an update's changed values: laid over the row's (`null` removes one),
/// keyed by API key.
pub fn merge(record: RecordKind, changes: &CustomChanges) -> SimpleExpr {
    let changes = serde_json::Value::Object(
        changes
            .iter()
            .map(|(id, v)| (id.to_string(), v.clone().unwrap_or(serde_json::Value::Null)))
            .collect(),
    );
    Expr::cust_with_values(
        "jsonb_strip_nulls(custom || crm_custom_keys(tenant_id, $1, $2::jsonb))",
        [
            sea_orm::Value::from(record.as_str()),
            sea_orm::Value::from(changes),
        ],
    )
}

/// The `SET` of a contact's erasure: its values of personal data fields go with its
/// other personal fields.
pub fn without_personal() -> SimpleExpr {
    Expr::cust(
        "custom - ARRAY(SELECT f.key FROM crm_custom_fields(tenant_id) f
                          WHERE f.record = 'contact' AND f.personal)",
    )
}

/// Keys the values of the row of entity `id` of tenant `tenant` in `E`'s table by API key
/// (after its insert with ids), returning the row to the command's answer as any write
/// of the projection does.
///
/// # Errors
/// Any database error.
pub(crate) async fn key<C, E>(
    conn: &C,
    record: RecordKind,
    tenant: Uuid,
    id: Uuid,
) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    E: EntityTrait,
    E::Model: Send + 'static,
{
    use sea_orm::{ColumnTrait, QueryFilter};
    use std::str::FromStr;
    let col = |name: &str| {
        E::Column::from_str(name).map_err(|_| DbErr::Custom(format!("no column {name}")))
    };
    let update = E::update_many()
        .col_expr(
            col("custom")?,
            Expr::cust_with_values(
                "crm_custom_keys(tenant_id, $1, custom)",
                [sea_orm::Value::from(record.as_str())],
            ),
        )
        .filter(col("tenant_id")?.eq(tenant))
        .filter(col("id")?.eq(id));
    if crate::apply::collecting() {
        for row in update.exec_with_returning(conn).await? {
            crate::apply::keep::<E>(id, row);
        }
    } else {
        update.exec(conn).await?;
    }
    Ok(())
}

/// Claims the values of unique fields among `values` (keyed by field id; `null` releases
/// a claim) for record `id` of `tenant` (`crm_claim_custom`, migration 000033).
///
/// # Errors
/// SQLSTATE `Z0409` when another record of the type holds one of the values; any
/// database error.
pub(crate) async fn claim<C: ConnectionTrait>(
    conn: &C,
    record: RecordKind,
    tenant: Uuid,
    id: Uuid,
    values: serde_json::Value,
) -> Result<(), DbErr> {
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT crm_claim_custom($1, $2, $3, $4)",
        [
            tenant.into(),
            record.as_str().into(),
            id.into(),
            values.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The changes of an update as [`claim`] takes them.
pub fn changes_json(changes: &CustomChanges) -> serde_json::Value {
    serde_json::Value::Object(
        changes
            .iter()
            .map(|(id, v)| (id.to_string(), v.clone().unwrap_or(serde_json::Value::Null)))
            .collect(),
    )
}

/// [`key`] for the rows of `ids` in `table` (of record type `record`) inserted together,
/// their unique values claimed first ([`claim`]).
///
/// # Errors
/// Any database error.
pub(crate) async fn key_many<C: ConnectionTrait>(
    conn: &C,
    record: RecordKind,
    table: &str,
    ids: Vec<Uuid>,
) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "SELECT crm_claim_custom(tenant_id, $1, id, custom) FROM {table}
              WHERE id = ANY($2) AND custom <> '{{}}'::jsonb"
        ),
        [record.as_str().into(), ids.clone().into()],
    ))
    .await?;
    conn.execute(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "UPDATE {table} SET custom = crm_custom_keys(tenant_id, $1, custom)
              WHERE id = ANY($2) AND custom <> '{{}}'::jsonb"
        ),
        [record.as_str().into(), ids.into()],
    ))
    .await?;
    Ok(())
}

/// Takes archived field `field`'s values out of its record type's read rows of `tenant`;
/// returns the rows changed. Only while the field is archived now (as [`restore`] only
/// while it is live): the catch-up projector may apply a field's events again, in their
/// order but after later ones were applied inline, and each then leaves the rows as the
/// field's state now has them.
///
/// # Errors
/// Any database error.
pub(crate) async fn archive<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    field: Uuid,
) -> Result<u64, DbErr> {
    let mut changed = 0;
    for (record, table, ..) in TABLES {
        changed += conn
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "UPDATE {table} r SET custom = r.custom - f.key
                       FROM crm_custom_fields($1) f
                      WHERE f.id = $2 AND f.record = $3 AND f.archived
                        AND r.tenant_id = $1 AND r.custom ? f.key"
                ),
                [tenant.into(), field.into(), record.as_str().into()],
            ))
            .await?
            .rows_affected();
    }
    Ok(changed)
}

/// Puts restored field `field`'s values back into its record type's read rows of
/// `tenant`: each record's latest value in its events (none when the latest change
/// cleared it); returns the rows changed.
///
/// # Errors
/// Any database error.
pub(crate) async fn restore<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    field: Uuid,
) -> Result<u64, DbErr> {
    let mut changed = 0;
    for (record, table, aggregate, created, updated) in TABLES {
        changed += conn
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "UPDATE {table} r SET custom = r.custom || jsonb_build_object(f.key, l.value)
                       FROM crm_custom_fields($1) f,
                            (SELECT DISTINCT ON (e.aggregate_id) e.aggregate_id,
                                    COALESCE(e.payload->'{created}'->'custom',
                                             e.payload->'{updated}'->'custom')->($2::text) AS value
                               FROM events e
                              WHERE e.tenant_id = $1 AND e.aggregate_type = '{aggregate}'
                                AND (e.payload->'{created}'->'custom' ? ($2::text)
                                     OR e.payload->'{updated}'->'custom' ? ($2::text))
                              ORDER BY e.aggregate_id, e.sequence DESC) l
                      WHERE f.id = $2 AND f.record = $3 AND NOT f.archived
                        AND r.tenant_id = $1
                        AND r.id = split_part(l.aggregate_id, ':', 2)::uuid
                        AND l.value IS NOT NULL AND l.value <> 'null'::jsonb"
                ),
                [tenant.into(), field.into(), record.as_str().into()],
            ))
            .await?
            .rows_affected();
    }
    Ok(changed)
}
