//! Custom fields: the workspace's schema (its `FieldSchema` stream) and the use cases that
//! change it, and the check of a record's custom values against it before its command.

use cqrs_es::Aggregate;
use crm_domain::fields::{
    CustomInput, FieldDefinition, FieldInput, FieldSchema, FieldSchemaCommand, FieldSchemaEvent,
    OptionInput, RecordKind,
};
use crm_domain::{Action, EntityId, EventMetadata, Guarded};
use crm_store::request_txn;
use crm_store::TenantScope;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::Deserialize;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::records::Services;

/// `PATCH /v1/schema/fields/{id}` body: a new label, a new option list, or both.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"label": "Stock symbol"}))]
pub struct FieldPatch {
    /// New label, 1 to 100 characters, unique among the record type's live fields.
    pub label: Option<String>,
    /// Select fields: the whole new option list. Every existing option must be in it by
    /// its `id` (archive one rather than leaving it out); new ones have no `id`.
    pub options: Option<Vec<OptionInput>>,
}

/// `GET /v1/schema` answer: every field of the workspace, archived ones included, in the
/// order they were defined.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SchemaView {
    /// The fields.
    pub fields: Vec<FieldDefinition>,
}

const SCHEMA_EVENTS: &str = "SELECT payload FROM events
  WHERE tenant_id = $1 AND aggregate_type = 'FieldSchema' AND aggregate_id = $2
  ORDER BY sequence";

/// The schema `payloads` (its stream's events' payloads, oldest first) make.
///
/// # Errors
/// [`AppError::Internal`] for a payload that is no schema event.
pub fn folded(
    payloads: impl IntoIterator<Item = serde_json::Value>,
) -> Result<FieldSchema, AppError> {
    let mut schema = FieldSchema::default();
    for payload in payloads {
        let event: FieldSchemaEvent =
            serde_json::from_value(payload).map_err(AppError::internal)?;
        schema.apply(event);
    }
    Ok(schema)
}

/// The workspace's schema, folded from its stream's events through `conn`.
async fn fold<C: ConnectionTrait>(conn: &C, scope: &TenantScope) -> Result<FieldSchema, AppError> {
    let tenant = scope.tenant().0;
    let rows = conn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            SCHEMA_EVENTS,
            [tenant.into(), format!("{tenant}:{tenant}").into()],
        ))
        .await?;
    let payloads = rows
        .into_iter()
        .map(|row| row.try_get::<serde_json::Value>("", "payload"))
        .collect::<Result<Vec<_>, _>>()?;
    folded(payloads)
}

/// The caller's workspace's schema: as the session check read it, or read now
/// ([`load`]).
///
/// # Errors
/// Database errors.
pub async fn schema(
    s: Services<'_>,
    caller: &Caller,
) -> Result<std::sync::Arc<FieldSchema>, AppError> {
    match &caller.schema {
        Some(schema) => Ok(schema.clone()),
        None => Ok(std::sync::Arc::new(load(s, &caller.scope).await?)),
    }
}

/// The schema of the scope's workspace as stored now: read in the transaction the
/// request's session check left for its command when there is one (so a write stays one
/// transaction), else in a read of its own.
///
/// # Errors
/// Database errors.
pub async fn load(s: Services<'_>, scope: &TenantScope) -> Result<FieldSchema, AppError> {
    let tenant = scope.tenant();
    if let Some(txn) = request_txn::take_command(tenant) {
        let schema = fold(&txn, scope).await;
        if let Err(txn) = request_txn::resume(tenant, txn) {
            txn.commit().await?;
        }
        return schema;
    }
    let txn = scope.read(s.db).await?;
    let schema = fold(&txn, scope).await?;
    txn.commit().await?;
    Ok(schema)
}

/// Checks `custom`'s values for a record of `kind` against the caller's workspace's
/// schema (on a create, `create`, that every required field has one), keys them by field
/// id, and checks that each reference names a live record of its type in the workspace.
/// Needs the schema only when values are given or on a create; the session check reads
/// it with the request's other checks, so that costs no statement of its own.
///
/// # Errors
/// [`AppError`] 422 on `custom`; database errors.
pub async fn check(
    s: Services<'_>,
    caller: &Caller,
    kind: RecordKind,
    custom: &mut CustomInput,
    create: bool,
) -> Result<(), AppError> {
    if custom.is_empty() && !create {
        return Ok(());
    }
    let schema = schema(s, caller).await?;
    if custom.is_empty() && !schema.live(kind).any(|f| f.required) {
        return Ok(());
    }
    for (key, to, id) in schema.check(kind, custom, create)? {
        use crate::records::{activities::Activities, companies::Companies};
        use crate::records::{contacts::Contacts, deals::Deals};
        let live = match to {
            RecordKind::Company => live::<Companies>(s, caller, id).await?,
            RecordKind::Contact => live::<Contacts>(s, caller, id).await?,
            RecordKind::Deal => live::<Deals>(s, caller, id).await?,
            RecordKind::Activity => live::<Activities>(s, caller, id).await?,
        };
        if !live {
            return Err(AppError::invalid(
                "custom",
                format!("{key}: no such {} in this workspace: {id}", to.as_str()),
            ));
        }
    }
    Ok(())
}

/// Whether `id` is a live record of `R` in the caller's workspace.
async fn live<R: crate::records::Record>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<bool, AppError> {
    use crm_projections::entities::RecordRow;
    Ok(R::find(s, &caller.scope, id)
        .await?
        .is_some_and(|row| !row.deleted()))
}

/// `GET /v1/schema`: the workspace's fields. Anyone who reads records may read them.
///
/// # Errors
/// Forbidden without the read right; database errors.
pub async fn list(s: Services<'_>, caller: &Caller) -> Result<SchemaView, AppError> {
    caller.require(Action::ReadRecords)?;
    Ok(SchemaView {
        fields: schema(s, caller).await?.fields().to_vec(),
    })
}

/// The field `id` as the schema now has it.
async fn field(s: Services<'_>, caller: &Caller, id: Uuid) -> Result<FieldDefinition, AppError> {
    load(s, &caller.scope)
        .await?
        .field(id)
        .cloned()
        .ok_or(AppError::NotFound)
}

/// Defines a field; returns it.
///
/// # Errors
/// Forbidden (Owner and Admin manage fields); 409 for a key or label taken; 422.
pub async fn define(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    input: FieldInput,
) -> Result<FieldDefinition, AppError> {
    caller.require(Action::ManageFields)?;
    let id = EntityId::new().0;
    s.commands
        .schema(FieldSchemaCommand::Define { id, input }, meta)
        .await?;
    field(s, caller, id).await
}

/// Renames field `id` and/or replaces its options; returns it.
///
/// # Errors
/// Forbidden; 404; 409 for a label taken; 422.
pub async fn change(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    patch: FieldPatch,
) -> Result<FieldDefinition, AppError> {
    caller.require(Action::ManageFields)?;
    if patch.label.is_none() && patch.options.is_none() {
        return Err(AppError::invalid("label", "give a label, options, or both"));
    }
    // Both changes or neither: one unit of work.
    crate::unit_of_work::again(|| async {
        let uow = s.commands.unit(meta).await?;
        let schema = EntityId(meta.tenant_id.0);
        if let Some(label) = patch.label.clone() {
            let command = Guarded::from(FieldSchemaCommand::Rename { id, label });
            s.commands
                .run_in::<crm_domain::fields::FieldSchema, _>(&uow, schema, command, meta)
                .await?;
        }
        if let Some(options) = patch.options.clone() {
            let command = Guarded::from(FieldSchemaCommand::ChangeOptions { id, options });
            s.commands
                .run_in::<crm_domain::fields::FieldSchema, _>(&uow, schema, command, meta)
                .await?;
        }
        uow.commit().await
    })
    .await?;
    field(s, caller, id).await
}

/// Archives (`archive`) or restores field `id`; returns it.
///
/// # Errors
/// Forbidden; 404; 409 when it is archived already (or not archived, to restore).
pub async fn set_archived(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    archive: bool,
) -> Result<FieldDefinition, AppError> {
    caller.require(Action::ManageFields)?;
    let command = if archive {
        FieldSchemaCommand::Archive { id }
    } else {
        FieldSchemaCommand::Restore { id }
    };
    s.commands.schema(Guarded::from(command), meta).await?;
    field(s, caller, id).await
}

/// Restores archived field `id` (see [`set_archived`]). The database brings each
/// record's latest value back from its events, except a contact's personal data field's:
/// those are sealed in the contacts' events, which only the server can open, so the
/// workspace's read rows are rebuilt from its events with the keyring
/// (`crm_projections::rebuild::rebuild_tenant`, on `projector`, the projector's pool: one
/// transaction, other workspaces untouched).
///
/// # Errors
/// As [`set_archived`]; database errors of the rebuild (the field is restored then, and
/// a rebuild brings the values back).
pub async fn restore(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    projector: &sea_orm::DatabaseConnection,
) -> Result<FieldDefinition, AppError> {
    let field = set_archived(s, caller, meta, id, false).await?;
    if field.personal_data {
        crm_projections::rebuild::rebuild_tenant(
            projector,
            s.commands.keyring(),
            &caller.scope,
            |_| {},
        )
        .await?;
    }
    Ok(field)
}

/// The conditions the list parameters `params` (`("cf.<key>", value)` or
/// `("cf.<key>[gte]", value)`, …) make on records of `kind`, checked against the caller's
/// workspace's schema.
///
/// # Errors
/// [`AppError`] 422 on `cf`: a malformed parameter, a field the workspace does not have
/// (or has archived), a value not of its type.
pub async fn conditions(
    s: Services<'_>,
    caller: &Caller,
    kind: RecordKind,
    params: Vec<(String, String)>,
) -> Result<Vec<crm_projections::queries::page::CustomCondition>, AppError> {
    use crm_domain::fields::values::{FieldFilter, FilterOp};
    use crm_domain::fields::FieldKind;
    use crm_projections::queries::page::{Compare, CustomCondition, Ordered};
    if params.is_empty() {
        return Ok(Vec::new());
    }
    let schema = schema(s, caller).await?;
    params
        .into_iter()
        .map(|(name, value)| {
            let rest = name.strip_prefix("cf.").unwrap_or(&name);
            let (key, suffix) = match rest.strip_suffix(']').and_then(|r| r.split_once('[')) {
                Some((key, op)) => (key, Some(op)),
                None => (rest, None),
            };
            let op = FilterOp::parse(suffix).ok_or_else(|| {
                AppError::invalid(
                    "cf",
                    format!("{name}: the comparisons are [gt], [gte], [lt] and [lte]"),
                )
            })?;
            Ok(match schema.filter(kind, key, op, &value)? {
                FieldFilter::Equals(v) => CustomCondition::Contains(serde_json::json!({ key: v })),
                FieldFilter::Range { kind, op, bound } => CustomCondition::Compare {
                    key: key.to_owned(),
                    as_: match kind {
                        FieldKind::Money => Ordered::MinorUnits,
                        FieldKind::Date => Ordered::Date,
                        FieldKind::DateTime => Ordered::Instant,
                        _ => Ordered::Number,
                    },
                    op: match op {
                        FilterOp::Gt => Compare::Gt,
                        FilterOp::Lt => Compare::Lt,
                        FilterOp::Lte => Compare::Lte,
                        FilterOp::Gte | FilterOp::Eq => Compare::Gte,
                    },
                    value: bound,
                },
            })
        })
        .collect()
}
