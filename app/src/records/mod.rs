//! The record use cases that companies, contacts, deals and activities share, and each
//! type's own rules.
//!
//! A record type implements [`Record`] once, in its module here: its read row, its view,
//! its create and patch bodies, its command, and the hooks that turn a body into a
//! command after the checks that span streams (a deal's stage and links, an activity's
//! links and kind). The functions of this module are then its use cases: [`find`],
//! [`create`], [`update`], [`delete`], [`restore`], [`run`] for the type's own commands,
//! and [`revert`]; with [`listing::Listed`] (its filter and export columns) it also gets
//! a list and a CSV export. The HTTP layer (`crm_api::routes::records`) adds only what is HTTP:
//! `ETag`, `If-Match`, `Location` and statuses.

pub mod activities;
pub mod companies;
pub mod contacts;
pub mod deals;
pub mod duplicates;
pub mod listing;
pub mod merge;
pub mod view;

use crm_domain::fields::{CustomInput, RecordKind};
use crm_domain::{Action, EntityId, EventMetadata, Guarded, Role};
use crm_projections::entities::RecordRow;
use crm_store::TenantScope;
use sea_orm::DatabaseConnection;
use sea_orm::{EntityTrait, PrimaryKeyTrait};
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use crate::caller::Caller;
use crate::commands::Commands;
use crate::error::AppError;
use crate::history::{self, At, RecordType};

/// Money on the wire: `{"amount_minor": 123456, "currency": "EUR"}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"amount_minor": 123456, "currency": "EUR"}))]
pub struct MoneyView {
    /// Integer minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// What a use case runs against: the application's database pool (row-level security
/// applies) and the write side.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// The `crm_app` role's pool: every query goes through a [`TenantScope`].
    pub db: &'a DatabaseConnection,
    /// The command frameworks.
    pub commands: &'a Commands,
}

/// A record type. Its `async fn`s are called from this workspace only (the HTTP handlers
/// run on actix's single-threaded workers), so their futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Record: Sized + 'static {
    /// Its type in the trail; its path segment is [`RecordType::segment`].
    const TYPE: RecordType;
    /// Its read-model row.
    type Row: RecordRow;
    /// Its read table, keyed by `(tenant_id, id)`.
    type Table: EntityTrait<
        Model = Self::Row,
        PrimaryKey: PrimaryKeyTrait<ValueType = (Uuid, Uuid)>,
    >;
    /// Its JSON answer.
    type View: Serialize + From<Self::Row>;
    /// Its single-record answer (the view, or more).
    type Detail: Serialize;
    /// The create body.
    type Create: DeserializeOwned;
    /// The patch body (JSON merge patch, RFC 7396).
    type Patch: DeserializeOwned + utoipa::PartialSchema;
    /// Its aggregate's command.
    type Command;

    /// The row of `id` in the scope's workspace, deleted or not.
    async fn find(
        s: Services<'_>,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<Self::Row>, AppError> {
        Ok(crm_projections::queries::row::<Self::Table>(s.db, scope, id).await?)
    }

    /// Runs `command` on the record's stream (`new`: a create on a stream whose id this
    /// request made up, which is not loaded); returns the record's row as the command's
    /// transaction left it (`None` only when the row lags events of another path).
    async fn execute(
        s: Services<'_>,
        id: EntityId,
        command: Guarded<Self::Command>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Option<Self::Row>, AppError>;

    /// The create command for `body`, after the checks that span streams.
    async fn create_command(
        s: Services<'_>,
        caller: &Caller,
        body: Self::Create,
    ) -> Result<Self::Command, AppError>;

    /// The update command for `body`, guarded by `if_version` (a type may guard by the
    /// version it merged onto when none is given).
    async fn update_command(
        s: Services<'_>,
        caller: &Caller,
        id: Uuid,
        if_version: Option<u64>,
        body: Self::Patch,
    ) -> Result<Guarded<Self::Command>, AppError>;

    /// The custom values of a create body, with the record type they are checked for
    /// (`None`: the type has no custom fields).
    fn create_custom(_body: &mut Self::Create) -> Option<(RecordKind, &mut CustomInput)> {
        None
    }

    /// The custom values of a patch body, as [`Record::create_custom`].
    fn patch_custom(_body: &mut Self::Patch) -> Option<(RecordKind, &mut CustomInput)> {
        None
    }

    /// The record a row was merged into, when it is a merge's tombstone (which every
    /// reader may see, so a client holding its id finds the survivor).
    fn merged_into(_row: &Self::Row) -> Option<Uuid> {
        None
    }

    /// The soft-delete command.
    fn delete_command() -> Self::Command;
    /// The restore command.
    fn restore_command() -> Self::Command;

    /// Who owns the row, as the principal of events (a Member changes only theirs): its
    /// creator, unless the type says otherwise.
    fn owner(row: &Self::Row) -> String {
        row.created_by().to_owned()
    }

    /// The single-record answer for a current row.
    async fn detail(
        s: Services<'_>,
        scope: &TenantScope,
        row: Self::Row,
    ) -> Result<Self::Detail, AppError>;
}

/// The row of `id`.
///
/// # Errors
/// [`AppError::NotFound`] when the caller's workspace has no such record.
pub async fn load<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<R::Row, AppError> {
    R::find(s, &caller.scope, id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The current record as its `GET` shows it; a deleted one only to roles that see
/// deleted records.
///
/// # Errors
/// [`AppError::NotFound`].
pub async fn find<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<(i64, R::Detail), AppError> {
    let row = load::<R>(s, caller, id).await?;
    if row.deleted() && !caller.may(Action::ViewDeleted) && R::merged_into(&row).is_none() {
        return Err(AppError::NotFound);
    }
    let version = row.version();
    Ok((version, R::detail(s, &caller.scope, row).await?))
}

/// Checks that `id` names a live (not deleted) record of `R` in the scope's workspace:
/// what a link to it needs.
///
/// # Errors
/// A validation error on `field` otherwise (another workspace's id included).
pub async fn ensure_live<R: Record>(
    s: Services<'_>,
    scope: &TenantScope,
    id: Uuid,
    field: &str,
) -> Result<(), AppError> {
    match R::find(s, scope, id).await? {
        Some(row) if !row.deleted() => Ok(()),
        _ => Err(AppError::invalid(
            field,
            format!("no such {} in this workspace: {id}", R::TYPE.noun()),
        )),
    }
}

/// Members change only the records they own and read the rest (the permission matrix's
/// rule for the Member role); every other role passes. A record the workspace does not
/// have passes too, so the command answers its own 404.
///
/// # Errors
/// [`AppError::Forbidden`] for a Member on someone else's record.
pub async fn ensure_owner<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<(), AppError> {
    if caller.role != Role::Member {
        return Ok(());
    }
    match R::find(s, &caller.scope, id).await? {
        Some(row) if R::owner(&row) != caller.principal().to_string() => Err(AppError::Forbidden),
        _ => Ok(()),
    }
}

/// Creates a record; returns its id and row. With `reserved` (the id an `Idempotency-Key`
/// reserves, the same on every retry with that key), the record takes that id, and when
/// a record with it exists already (an earlier attempt committed, then its answer was
/// lost) that record is the answer: a retry never creates a second one. The key's mark
/// on the stream (`crate::unit_of_work`) tells the command was committed, in the
/// command's own transaction, so nothing is read before it; only when the body is
/// refused is the reserved id looked up, so a retry whose links changed since still
/// answers the record the first attempt made.
///
/// # Errors
/// Conflicts (a unique value taken), validation errors, and the store's errors.
pub async fn create<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    mut body: R::Create,
    reserved: Option<Uuid>,
) -> Result<(Uuid, R::Row), AppError> {
    let checked = match R::create_custom(&mut body) {
        Some((kind, custom)) => crate::fields::check(s, caller, kind, custom, true).await,
        None => Ok(()),
    };
    let command = match checked {
        Ok(()) => R::create_command(s, caller, body).await,
        Err(err) => Err(err),
    };
    let command = match command {
        Ok(command) => command,
        // A retry with the key after an earlier attempt committed and lost its answer:
        // what the body names may have changed since (a linked record deleted, a stage
        // retired), but the record exists, and it is the answer. Read only on this path.
        Err(err) => {
            if let Some(id) = reserved {
                if let Some(row) = R::find(s, &caller.scope, id).await? {
                    return Ok((id, row));
                }
            }
            return Err(err);
        }
    };
    let id = reserved.map_or_else(EntityId::new, EntityId);
    match R::execute(s, id, Guarded::from(command), meta, true).await {
        Ok(row) => Ok((id.0, committed(id.0, row)?)),
        // An earlier attempt with the key committed the record after this one looked.
        Err(AppError::Conflict(why))
            if reserved.is_some() && why == crate::error::ALREADY_EXISTS =>
        {
            Ok((id.0, load::<R>(s, caller, id.0).await?))
        }
        Err(err) => Err(err),
    }
}

/// The row a committed command read back: a missing one is lag (events of another path
/// not yet projected), never "not found".
fn committed<Row>(id: Uuid, row: Option<Row>) -> Result<Row, AppError> {
    row.ok_or_else(|| {
        AppError::Pending(format!(
            "the record {id} is saved; it will be readable shortly"
        ))
    })
}

/// Applies one patch to record `id`, guarded by `if_version`; returns its row.
///
/// # Errors
/// Forbidden (a Member's edit of another's record), not found, conflict, precondition
/// failed, validation errors, and the store's errors.
pub async fn update<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    mut body: R::Patch,
) -> Result<R::Row, AppError> {
    ensure_owner::<R>(s, caller, id).await?;
    if let Some((kind, custom)) = R::patch_custom(&mut body) {
        crate::fields::check(s, caller, kind, custom, false).await?;
    }
    let command = R::update_command(s, caller, id, if_version, body).await?;
    committed(id, R::execute(s, EntityId(id), command, meta, false).await?)
}

/// Runs `command` on record `id`, guarded by `if_version`, for a caller who may change
/// it; returns its row.
///
/// # Errors
/// As [`update`].
pub async fn run<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    command: R::Command,
) -> Result<R::Row, AppError> {
    ensure_owner::<R>(s, caller, id).await?;
    let command = Guarded {
        if_version,
        command,
    };
    committed(id, R::execute(s, EntityId(id), command, meta, false).await?)
}

/// Soft-deletes record `id`.
///
/// # Errors
/// As [`update`]; a conflict when it is deleted already.
pub async fn delete<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
) -> Result<(), AppError> {
    ensure_owner::<R>(s, caller, id).await?;
    let command = Guarded {
        if_version,
        command: R::delete_command(),
    };
    R::execute(s, EntityId(id), command, meta, false)
        .await
        .map(drop)
}

/// Restores soft-deleted record `id`; returns its row.
///
/// # Errors
/// As [`update`]; a conflict when it is not deleted.
pub async fn restore<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
) -> Result<R::Row, AppError> {
    run::<R>(s, caller, meta, id, if_version, R::restore_command()).await
}

/// The top-level fields of `R`'s patch body, as its schema declares them: what a revert
/// sets back, so a new field is revertible with no list to keep.
pub fn patch_fields<R: Record>() -> Vec<String> {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    use utoipa::PartialSchema;
    match R::Patch::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The `custom` of a patch that sets values `now` (keyed by field id, as a past state
/// holds them) back to `old`: each that differs, `null` for one `old` did not have;
/// `None` when they are equal.
fn custom_back(old: &serde_json::Value, now: &serde_json::Value) -> Option<serde_json::Value> {
    let empty = serde_json::Map::new();
    let old = old.as_object().unwrap_or(&empty);
    let now = now.as_object().unwrap_or(&empty);
    let mut back: serde_json::Map<String, serde_json::Value> = old
        .iter()
        .filter(|(k, v)| now.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for k in now.keys().filter(|k| !old.contains_key(*k)) {
        back.insert(k.clone(), serde_json::Value::Null);
    }
    (!back.is_empty()).then_some(serde_json::Value::Object(back))
}

/// Reverts record `id` to the fields of version `to_version`: a new update event, with
/// `"revert to version N: <reason>"` in its metadata; past events are never changed.
/// Guarded by `if_version` when given, otherwise by the version the revert was computed
/// from, so a concurrent edit is never overwritten unseen. Needs the audit right and the
/// update right.
///
/// # Errors
/// Forbidden; not found; a conflict when the record is deleted (restore it first); a
/// precondition failure for a stale `if_version`; validation errors for a bad reason, a
/// version out of range, or nothing to revert.
pub async fn revert<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    to_version: i64,
    reason: &str,
) -> Result<R::Row, AppError> {
    caller.require(Action::ReadAudit)?;
    caller.require(Action::UpdateRecords)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid("reason", "must be 1 to 500 characters"));
    }
    let state = |at| history::state_at(history::Source::primary(s), &caller.scope, R::TYPE, id, at);
    let current = state(At::Time(chrono::DateTime::<chrono::Utc>::MAX_UTC)).await?;
    if to_version < 1 || to_version >= current.version {
        return Err(AppError::invalid(
            "to_version",
            format!(
                "must be 1 to {}, a version before the latest",
                current.version - 1
            ),
        ));
    }
    if current.record.get("deleted") == Some(&serde_json::Value::Bool(true)) {
        return Err(AppError::Conflict(
            "the record is deleted: restore it first".into(),
        ));
    }
    let target = state(At::Version(to_version)).await?;
    let patch: serde_json::Map<String, serde_json::Value> = patch_fields::<R>()
        .into_iter()
        .filter_map(|f| {
            let old = target.record.get(&f).cloned().unwrap_or_default();
            let now = current.record.get(&f).cloned().unwrap_or_default();
            if f == "custom" {
                // A contact keeps its personal data fields' values apart.
                let with_personal = |state: &serde_json::Map<String, serde_json::Value>| {
                    let mut all = state
                        .get("custom")
                        .cloned()
                        .unwrap_or_else(|| serde_json::json!({}));
                    if let (Some(all), Some(serde_json::Value::Object(personal))) =
                        (all.as_object_mut(), state.get("personal_custom"))
                    {
                        all.extend(personal.clone());
                    }
                    all
                };
                return custom_back(
                    &with_personal(&target.record),
                    &with_personal(&current.record),
                )
                .map(|c| (f, c));
            }
            (old != now).then_some((f, old))
        })
        .collect();
    if patch.is_empty() {
        return Err(AppError::invalid(
            "to_version",
            "the record's fields already equal that version's",
        ));
    }
    let body: R::Patch =
        serde_json::from_value(serde_json::Value::Object(patch)).map_err(AppError::internal)?;
    let mut meta = meta.clone();
    meta.reason = Some(format!("revert to version {to_version}: {reason}"));
    let guard = if_version.or(u64::try_from(current.version).ok());
    update::<R>(s, caller, &meta, id, guard, body).await
}
