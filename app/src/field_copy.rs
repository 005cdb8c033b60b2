//! Copying a custom field's values into another field of the same record type: how a
//! field changes type. A field's type never changes in place (its events keep values of
//! the type they were checked against); instead a new field is defined and the values are
//! copied, each record by an ordinary update event (so history, revert and the trail see
//! the copy like any edit), converted as an import converts a cell
//! ([`crm_domain::fields::values::from_text`]).

use crm_domain::fields::values::from_text;
use crm_domain::fields::{FieldDefinition, RecordKind};
use crm_domain::{Action, EventMetadata};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::records::{self, Record, Services};

/// Records read per page of a copy.
const PAGE: i64 = 200;

/// `POST /v1/schema/fields/{id}/copy` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyBody {
    /// The field that takes the values: a live field of the same record type.
    pub to: Uuid,
}

/// A record whose value was not copied, and why.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CopySkip {
    /// The record.
    pub record_id: Uuid,
    /// Why: the value is not of the new field's type, or the record refused it.
    pub reason: String,
}

/// What a copy did: every live record with a value in the source field is counted once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CopyReport {
    /// The source field.
    pub from: Uuid,
    /// The field that took the values.
    pub to: Uuid,
    /// Records whose value was copied (an update event each).
    pub copied: u64,
    /// Records that held the converted value already.
    pub unchanged: u64,
    /// Records not copied.
    pub skipped: Vec<CopySkip>,
}

/// Copies field `from`'s values into field `to` on every live record of their type (see
/// the module), with `copy of field <from> to <to>` as each event's reason. Running it
/// again copies nothing new. Needs the field and update rights.
///
/// # Errors
/// 403; 404 for a field the workspace does not have or has archived; 422 on `to` for
/// the same field or one of another record type; database errors (records copied before
/// one stay copied).
pub async fn copy(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    from: Uuid,
    body: CopyBody,
) -> Result<CopyReport, AppError> {
    caller.require(Action::ManageFields)?;
    caller.require(Action::UpdateRecords)?;
    let schema = crate::fields::load(s, &caller.scope).await?;
    let live = |id: Uuid| schema.field(id).filter(|f| !f.archived).cloned();
    let source = live(from).ok_or(AppError::NotFound)?;
    let target = live(body.to).ok_or_else(|| {
        AppError::invalid("to", format!("the workspace has no live field {}", body.to))
    })?;
    if source.id == target.id || source.record != target.record {
        return Err(AppError::invalid(
            "to",
            "another field of the same record type",
        ));
    }
    let mut meta = meta.clone();
    meta.reason = Some(format!("copy of field {} to {}", source.key, target.key));
    use crate::records::{activities::Activities, companies::Companies};
    use crate::records::{contacts::Contacts, deals::Deals};
    match source.record {
        RecordKind::Company => {
            copy_in::<Companies>(s, caller, &meta, "companies", &source, &target).await
        }
        RecordKind::Contact => {
            copy_in::<Contacts>(s, caller, &meta, "contacts", &source, &target).await
        }
        RecordKind::Deal => copy_in::<Deals>(s, caller, &meta, "deals", &source, &target).await,
        RecordKind::Activity => {
            copy_in::<Activities>(s, caller, &meta, "activities", &source, &target).await
        }
    }
}

/// The copy on `R`'s read table `table`, page by page in id order.
async fn copy_in<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    table: &str,
    source: &FieldDefinition,
    target: &FieldDefinition,
) -> Result<CopyReport, AppError> {
    let mut report = CopyReport {
        from: source.id,
        to: target.id,
        copied: 0,
        unchanged: 0,
        skipped: Vec::new(),
    };
    let mut after = Uuid::nil();
    loop {
        let txn = caller.scope.read(s.db).await?;
        let rows = txn
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "SELECT id, version, custom -> $2 AS value FROM {table}
                      WHERE tenant_id = $1 AND NOT deleted AND id > $3 AND custom ? $2
                      ORDER BY id LIMIT $4"
                ),
                [
                    caller.scope.tenant().0.into(),
                    source.key.clone().into(),
                    after.into(),
                    PAGE.into(),
                ],
            ))
            .await?;
        txn.commit().await?;
        let Some(last) = rows.last() else {
            return Ok(report);
        };
        after = last.try_get("", "id")?;
        for row in &rows {
            let id: Uuid = row.try_get("", "id")?;
            let version: i64 = row.try_get("", "version")?;
            let value: Value = row.try_get("", "value")?;
            let text = match value {
                Value::String(s) => s,
                Value::Null => continue,
                other => other.to_string(),
            };
            let converted = match from_text(target, &text) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(why) => {
                    report.skipped.push(CopySkip {
                        record_id: id,
                        reason: why,
                    });
                    continue;
                }
            };
            let body: R::Patch =
                serde_json::from_value(json!({"custom": {target.key.clone(): converted}}))
                    .map_err(AppError::internal)?;
            match records::update::<R>(s, caller, meta, id, None, body).await {
                Ok(row) => {
                    use crm_projections::entities::RecordRow;
                    if row.version() == version {
                        report.unchanged += 1;
                    } else {
                        report.copied += 1;
                    }
                }
                Err(
                    err @ (AppError::Validation(_)
                    | AppError::Conflict(_)
                    | AppError::NotFound
                    | AppError::Forbidden),
                ) => report.skipped.push(CopySkip {
                    record_id: id,
                    reason: crate::import::companies::describe(&err),
                }),
                Err(err) => return Err(err),
            }
        }
        if (rows.len() as i64) < PAGE {
            return Ok(report);
        }
    }
}
