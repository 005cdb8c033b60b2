//! Merging two contacts, or two companies, into one, and undoing it
//! (`POST /v1/{contacts,companies}/{id}/merge`, `POST /v1/{contacts,companies}/{id}/unmerge`).
//!
//! A merge is one unit of work, so all of it commits or none: the merged record becomes
//! a tombstone (`ContactMergedInto`/`CompanyMergedInto`: deleted, naming its survivor; a
//! contact's email released); the survivor takes the values chosen field by field (one
//! update event) and the union of the tags; every live deal and activity that named the
//! merged record names the survivor instead, and so do contact–company associations and
//! contacts' companies (each record by its own event); and the survivor records what
//! moved (`ContactMerged`/`CompanyMerged`). The trail and both histories show each step,
//! with `merge of <id> into <id>` as the reason.
//!
//! An unmerge undoes exactly that, by new events, in one unit of work: each value the
//! merge gave the survivor goes back to what the survivor had before, unless it was
//! changed since (later edits stay); the links and associations the merge moved go back
//! to the merged record; the merged record comes back as it was (a contact with its
//! email). A record type takes part by implementing [`Mergeable`].

use std::collections::BTreeMap;

use crm_domain::activity::{Activity, ActivityCommand};
use crm_domain::company::{Company, CompanyCommand};
use crm_domain::contact::{Contact, ContactCommand};
use crm_domain::deal::{Deal, DealCommand};
use crm_domain::fields::RecordKind;
use crm_domain::merge::{LinkTo, MergeMoves, MergeRecord, Merges, Moved, MovedAssociation, Swap};
use crm_domain::{Action, DomainError, EntityId, EventMetadata, Guarded, StreamId};
use crm_projections::entities::RecordRow;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::companies::Companies;
use super::contacts::Contacts;
use super::{ensure_owner, load, patch_fields, Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::{self, At};
use crate::unit_of_work::UnitOfWork;

/// Most deals, activities, contacts and associations one merge moves (each is an event
/// in the merge's one transaction); a record with more is refused (422) rather than held
/// in a long transaction.
pub const MAX_MOVED: usize = 1_000;

/// A record type that can be merged: its aggregate's merge commands, how a command runs
/// inside a unit of work, and the contact–company associations it moves.
#[allow(async_fn_in_trait)]
pub trait Mergeable: Record<Row: RecordRow> {
    /// Its aggregate.
    type Aggregate: cqrs_es::Aggregate<Command = Guarded<Self::Command>, Error = DomainError, Services = ()>
        + Merges;
    /// Its custom fields' record type.
    const KIND: RecordKind;
    /// Which links of deals and activities name it.
    const LINK: LinkTo;
    /// "Become a tombstone of `into`".
    fn merge_into(into: EntityId) -> Self::Command;
    /// "Come back from a merge".
    fn unmerge() -> Self::Command;
    /// "Record this merge" (on the survivor).
    fn record(record: MergeRecord) -> Self::Command;
    /// "Record that the merge of `from` was undone" (on the survivor).
    fn undo(from: EntityId) -> Self::Command;
    /// The plain update with `patch` (checked already).
    fn update(patch: Self::Patch) -> Self::Command;
    /// Runs `command` on record `id` inside `uow` (with what spans streams, such as a
    /// contact's email claim); returns the stream's version after it.
    async fn run_in(
        s: Services<'_>,
        uow: &UnitOfWork,
        id: EntityId,
        command: Guarded<Self::Command>,
        meta: &EventMetadata,
    ) -> Result<u64, AppError>;
    /// The associations (and, for a company, the contacts' companies) of `from` that a
    /// merge into `id` moves.
    async fn associations(
        s: Services<'_>,
        caller: &Caller,
        id: Uuid,
        from: Uuid,
    ) -> Result<MergeMoves, AppError>;
    /// Moves them to `id` (`back`: from `id` back to `from`, for an unmerge).
    async fn move_associations(
        s: Services<'_>,
        uow: &UnitOfWork,
        meta: &EventMetadata,
        ids: (EntityId, EntityId),
        moves: &MergeMoves,
        back: bool,
    ) -> Result<(), AppError>;
}

/// Which record's value a field keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The survivor's (the record the request names).
    This,
    /// The merged record's (`from`).
    From,
}

/// `POST /v1/{contacts,companies}/{id}/merge` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The record merged into this one; it becomes a tombstone (deleted, with
    /// `merged_into` set).
    pub from: Uuid,
    /// Which record's value each field keeps, by field name (a field of the type's patch
    /// body, e.g. `email` or `domain`, or `custom.<key>`): `this` or `from`. A field left
    /// out keeps this record's value, or takes `from`'s where this one has none. Tags are
    /// always the union of both. A unique custom field keeps this record's value (the
    /// other holds its claim).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"email": "from", "custom.segment": "this"}))]
    pub fields: BTreeMap<String, Side>,
}

/// `POST /v1/{contacts,companies}/{id}/unmerge` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeBody {
    /// The record that was merged into this one.
    pub from: Uuid,
}

/// Merges record `body.from` into record `id` (see the module); returns the survivor's
/// row. Guarded by `if_version` on the survivor when given, else by the version the
/// values were chosen from, so a concurrent edit is never overwritten unseen. Needs the
/// update and delete rights (a Member: on records they own). A merge of a record merged
/// into `id` already changes nothing and answers the survivor (so a retry whose answer
/// was lost gets it).
///
/// # Errors
/// 403; 404 for an `id` the workspace does not have; 422 for a `from` it does not have,
/// `from` = `id`, an unknown field name, or more than [`MAX_MOVED`] records to move; 409
/// when either is deleted or already merged, or a contact survivor's personal data was
/// erased; 412 for a stale `if_version`.
pub async fn merge<R: Mergeable>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    body: MergeBody,
) -> Result<R::Row, AppError> {
    caller.require(Action::UpdateRecords)?;
    caller.require(Action::DeleteRecords)?;
    let from = body.from;
    let this = load::<R>(s, caller, id).await?;
    let other = other_record::<R>(s, caller, id, from).await?;
    // Merged already: the answer of the merge (a retry whose first answer was lost).
    if R::merged_into(&other) == Some(id) && !this.deleted() {
        return Ok(this);
    }
    if this.deleted() || other.deleted() {
        return Err(AppError::Conflict(match R::merged_into(&other) {
            Some(into) => format!("{from} is merged into {into} already"),
            None => format!(
                "a deleted {} is not merged: restore it first",
                R::TYPE.noun()
            ),
        }));
    }
    ensure_owner::<R>(s, caller, id).await?;
    ensure_owner::<R>(s, caller, from).await?;
    let before = if_version.unwrap_or_else(|| u64::try_from(this.version()).unwrap_or(0));

    let (mine, theirs) = (
        current::<R>(s, caller, id).await?,
        current::<R>(s, caller, from).await?,
    );
    let patch = chosen::<R>(s, caller, &mine, &theirs, &body.fields).await?;
    let mut moves = R::associations(s, caller, id, from).await?;
    moves.deals = linked(s, caller, "deals", R::LINK, id, from).await?;
    moves.activities = linked(s, caller, "activities", R::LINK, id, from).await?;
    let count = moves.deals.len()
        + moves.activities.len()
        + moves.contacts.len()
        + moves.associations.len();
    if count > MAX_MOVED {
        return Err(AppError::invalid(
            "from",
            format!("more than {MAX_MOVED} linked records to move"),
        ));
    }

    let mut meta = meta.clone();
    meta.reason = Some(format!("merge of {from} into {id}"));
    let meta = &meta;
    let ids = (EntityId(id), EntityId(from));
    let uow = s.commands.unit(meta).await?;
    // The tombstone first: a contact gives up its email, which the survivor may take.
    R::run_in(s, &uow, ids.1, R::merge_into(ids.0).into(), meta).await?;
    let update = Guarded {
        if_version: Some(before),
        command: R::update(patch),
    };
    let updated = R::run_in(s, &uow, ids.0, update, meta).await?;
    R::move_associations(s, &uow, meta, ids, &moves, false).await?;
    swap_links(s, &uow, meta, R::LINK, ids, &moves, false).await?;
    let record = MergeRecord {
        from: ids.1,
        before,
        updated,
        moves,
    };
    R::run_in(s, &uow, ids.0, R::record(record).into(), meta).await?;
    let row = uow.row::<R::Table>(id).await?;
    uow.commit().await?;
    row.ok_or_else(|| AppError::Pending(format!("the record {id} is saved")))
}

/// Undoes the merge of record `from` into record `id` (see the module); returns the
/// survivor's row. Guarded by `if_version` on the survivor when given. Needs the update
/// and delete rights (a Member: on records they own).
///
/// # Errors
/// 403; 404 for an `id` the workspace does not have; 422 for a `from` it does not have;
/// 409 when `from` was not merged into `id` (or was given back already), when the
/// survivor is deleted, or when another contact took a merged contact's email since; 412
/// for a stale `if_version`.
pub async fn unmerge<R: Mergeable>(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    body: UnmergeBody,
) -> Result<R::Row, AppError> {
    caller.require(Action::UpdateRecords)?;
    caller.require(Action::DeleteRecords)?;
    let from = body.from;
    load::<R>(s, caller, id).await?;
    other_record::<R>(s, caller, id, from).await?;
    ensure_owner::<R>(s, caller, id).await?;
    ensure_owner::<R>(s, caller, from).await?;
    let ids = (EntityId(id), EntityId(from));
    let mut meta = meta.clone();
    meta.reason = Some(format!("unmerge of {from} from {id}"));
    let meta = &meta;

    let uow = s.commands.unit(meta).await?;
    let (survivor, version) = uow
        .aggregate::<R::Aggregate>(s.commands.keyring(), StreamId::new(meta.tenant_id, ids.0))
        .await?;
    let record = survivor.merges().merge_of(ids.1).cloned().ok_or_else(|| {
        AppError::Conflict(format!(
            "{from} was not merged into this {}, or was given back already",
            R::TYPE.noun()
        ))
    })?;
    if let Some(expected) = if_version.filter(|v| *v != version) {
        return Err(AppError::PreconditionFailed(format!(
            "the record is at version {version}, not {expected}"
        )));
    }
    // What the records still merged into the survivor hold: a value one of them has is
    // not taken back (it may be what a later merge would have given).
    let mut others = Vec::new();
    for held in survivor.merges().held().filter(|m| m.from != ids.1) {
        others.push(current::<R>(s, caller, held.from.0).await?);
    }
    let patch = given_back::<R>(s, caller, id, (record.before, record.updated), &others).await?;
    let update = Guarded {
        if_version: Some(version),
        command: R::update(patch),
    };
    R::run_in(s, &uow, ids.0, update, meta).await?;
    // The merged record is live again before anything links to it (a contact claims its
    // email back, which the survivor's update may just have released).
    R::run_in(s, &uow, ids.1, R::unmerge().into(), meta).await?;
    R::move_associations(s, &uow, meta, ids, &record.moves, true).await?;
    swap_links(s, &uow, meta, R::LINK, ids, &record.moves, true).await?;
    R::run_in(s, &uow, ids.0, R::undo(ids.1).into(), meta).await?;
    let row = uow.row::<R::Table>(id).await?;
    uow.commit().await?;
    row.ok_or_else(|| AppError::Pending(format!("the record {id} is saved")))
}

/// The swap that moves a link from the merged record to the survivor, or (`back`) from
/// the survivor back to the merged record: an unmerge drops the survivor only where the
/// merge put it (`shared`: it was there before).
fn swap((id, from): (EntityId, EntityId), shared: bool, back: bool) -> Swap {
    if back {
        Swap {
            remove: (!shared).then_some(id),
            add: Some(from),
        }
    } else {
        Swap {
            remove: Some(from),
            add: Some(id),
        }
    }
}

/// Moves the deals' and activities' links (`back`: gives them back, to those still
/// live).
async fn swap_links(
    s: Services<'_>,
    uow: &UnitOfWork,
    meta: &EventMetadata,
    to: LinkTo,
    ids: (EntityId, EntityId),
    moves: &MergeMoves,
    back: bool,
) -> Result<(), AppError> {
    let scope = crm_store::TenantScope::for_command(meta);
    // Every record moved is moved back, deleted ones too (as the merge moved them).
    let live_deals =
        live::<crm_projections::entities::deal::Entity>(s, &scope, &moves.deals, false).await?;
    for moved in &live_deals {
        let command = DealCommand::SwapLink {
            to,
            swap: swap(ids, moved.shared, back),
        };
        s.commands
            .run_in::<Deal, _>(uow, moved.id, command, meta)
            .await?;
    }
    let live_activities =
        live::<crm_projections::entities::activity::Entity>(s, &scope, &moves.activities, false)
            .await?;
    for moved in &live_activities {
        let command = ActivityCommand::SwapLink {
            to,
            swap: swap(ids, moved.shared, back),
        };
        s.commands
            .run_in::<Activity, _>(uow, moved.id, command, meta)
            .await?;
    }
    Ok(())
}

/// The row of `from`, another record of `R` in the caller's workspace than `id`.
async fn other_record<R: Mergeable>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    from: Uuid,
) -> Result<R::Row, AppError> {
    if from == id {
        return Err(AppError::invalid(
            "from",
            format!("a {} is not merged with itself", R::TYPE.noun()),
        ));
    }
    R::find(s, &caller.scope, from).await?.ok_or_else(|| {
        AppError::invalid(
            "from",
            format!("no such {} in this workspace: {from}", R::TYPE.noun()),
        )
    })
}

/// `moved`, or (`only_live`) those of them still live in a read table.
async fn live<E>(
    s: Services<'_>,
    scope: &crm_store::TenantScope,
    moved: &[Moved],
    only_live: bool,
) -> Result<Vec<Moved>, AppError>
where
    E: sea_orm::EntityTrait<
        PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = (Uuid, Uuid)>,
        Model: RecordRow,
    >,
{
    if !only_live || moved.is_empty() {
        return Ok(moved.to_vec());
    }
    let ids = moved.iter().map(|m| m.id.0).collect();
    let live: Vec<Uuid> = crm_projections::queries::rows::<E>(s.db, scope, ids)
        .await?
        .into_iter()
        .filter(|r| !r.deleted())
        .map(|r| r.id())
        .collect();
    Ok(moved
        .iter()
        .filter(|m| live.contains(&m.id.0))
        .copied()
        .collect())
}

/// A record's fields as its history shows them now (personal data opened).
async fn current<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<Map<String, Value>, AppError> {
    state::<R>(
        s,
        caller,
        id,
        At::Time(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    )
    .await
}

/// A record's fields at `at`, with a contact's personal data fields' values in `custom`
/// beside the others.
async fn state<R: Record>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    at: At,
) -> Result<Map<String, Value>, AppError> {
    let past =
        history::state_at(history::Source::primary(s), &caller.scope, R::TYPE, id, at).await?;
    let mut record = past.record;
    let mut custom = record
        .get("custom")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    if let Some(Value::Object(personal)) = record.get("personal_custom") {
        custom.extend(personal.clone());
    }
    record.insert("custom".into(), Value::Object(custom));
    Ok(record)
}

/// Live deals or activities (`table`) of the workspace that name `from` (by `to`'s
/// links), and whether each names `id` too; at most [`MAX_MOVED`] + 1.
async fn linked(
    s: Services<'_>,
    caller: &Caller,
    table: &str,
    to: LinkTo,
    id: Uuid,
    from: Uuid,
) -> Result<Vec<Moved>, AppError> {
    let (names, shared) = match (table, to) {
        ("deals", LinkTo::Company) => ("company_id = $2", "false"),
        (_, LinkTo::Company) => ("company_ids @> ARRAY[$2]::uuid[]", "$3 = ANY(company_ids)"),
        (_, LinkTo::Contact) => ("contact_ids @> ARRAY[$2]::uuid[]", "$3 = ANY(contact_ids)"),
    };
    // Deleted ones too: one restored later must name the survivor, not a tombstone.
    let sql = format!(
        "SELECT id, {shared} AS shared FROM {table}
          WHERE tenant_id = $1 AND {names}
          ORDER BY id LIMIT $4"
    );
    moved_rows(s, caller, &sql, id, from).await
}

/// The `(id, shared)` rows of `sql` (parameters: tenant, `from`, `id`, a limit) as moves.
async fn moved_rows(
    s: Services<'_>,
    caller: &Caller,
    sql: &str,
    id: Uuid,
    from: Uuid,
) -> Result<Vec<Moved>, AppError> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let limit = i64::try_from(MAX_MOVED + 1).unwrap_or(i64::MAX);
    let txn = caller.scope.read(s.db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [
                caller.scope.tenant().0.into(),
                from.into(),
                id.into(),
                limit.into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    rows.iter()
        .map(|row| {
            Ok(Moved {
                id: EntityId(row.try_get("", "id")?),
                shared: row.try_get("", "shared")?,
            })
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(AppError::from)
}

/// A state's tags, as JSON values.
fn tags_of(state: &Map<String, Value>) -> Vec<Value> {
    state
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A state's custom values keyed by field id.
fn values_of(state: &Map<String, Value>) -> Map<String, Value> {
    state
        .get("custom")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// `patch` as `R`'s patch body, its custom values checked as any patch's.
async fn checked<R: Mergeable>(
    s: Services<'_>,
    caller: &Caller,
    patch: Map<String, Value>,
) -> Result<R::Patch, AppError> {
    let mut patch: R::Patch =
        serde_json::from_value(Value::Object(patch)).map_err(AppError::internal)?;
    if let Some((kind, custom)) = R::patch_custom(&mut patch) {
        crate::fields::check(s, caller, kind, custom, false).await?;
    }
    Ok(patch)
}

/// The survivor's patch of a merge: the values `choices` take from `theirs` (see
/// [`MergeBody::fields`]), the union of the tags, checked as any patch.
async fn chosen<R: Mergeable>(
    s: Services<'_>,
    caller: &Caller,
    mine: &Map<String, Value>,
    theirs: &Map<String, Value>,
    choices: &BTreeMap<String, Side>,
) -> Result<R::Patch, AppError> {
    let schema = crate::fields::schema(s, caller).await?;
    let fields: Vec<String> = patch_fields::<R>()
        .into_iter()
        .filter(|f| f != "custom" && f != "tags")
        .collect();
    for name in choices.keys() {
        let known = match name.strip_prefix("custom.") {
            Some(key) => schema.live(R::KIND).any(|f| f.key == key),
            None => fields.contains(name),
        };
        if !known {
            return Err(AppError::invalid(
                "fields",
                format!(
                    "{name}: not a field of a {} (tags are always joined)",
                    R::TYPE.noun()
                ),
            ));
        }
    }
    let side = |name: &str, mine: Option<&Value>| {
        choices.get(name).copied().unwrap_or(match mine {
            None | Some(Value::Null) => Side::From,
            Some(_) => Side::This,
        })
    };
    let mut patch = Map::new();
    for name in &fields {
        let (a, b) = (mine.get(name), theirs.get(name));
        if side(name, a) == Side::From && a.unwrap_or(&Value::Null) != b.unwrap_or(&Value::Null) {
            patch.insert(name.clone(), b.cloned().unwrap_or(Value::Null));
        }
    }
    let mut union = tags_of(mine);
    let before = union.len();
    for tag in tags_of(theirs) {
        if !union.contains(&tag) {
            union.push(tag);
        }
    }
    if union.len() != before {
        patch.insert("tags".into(), Value::Array(union));
    }
    let (my_values, their_values) = (values_of(mine), values_of(theirs));
    let mut custom = Map::new();
    for field in schema.live(R::KIND) {
        let key = field.id.to_string();
        let (a, b) = (my_values.get(&key), their_values.get(&key));
        let name = format!("custom.{}", field.key);
        if field.unique {
            if choices.get(&name) == Some(&Side::From) {
                return Err(AppError::invalid(
                    "fields",
                    format!("{name}: a unique field keeps this record's value"),
                ));
            }
            continue;
        }
        if side(&name, a) == Side::From && a != b {
            custom.insert(key, b.cloned().unwrap_or(Value::Null));
        }
    }
    if !custom.is_empty() {
        patch.insert("custom".into(), Value::Object(custom));
    }
    checked::<R>(s, caller, patch).await
}

/// The survivor's patch of an unmerge: each field the merge changed (between versions
/// `before` and `updated`) and nobody changed since goes back to its value before the
/// merge; tags the merge added go, unless they were there before. A value or tag one of
/// `others` (the records still merged into the survivor) holds stays.
async fn given_back<R: Mergeable>(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    (before, updated): (u64, u64),
    others: &[Map<String, Value>],
) -> Result<R::Patch, AppError> {
    if updated <= before {
        return checked::<R>(s, caller, Map::new()).await;
    }
    let version = |v: u64| At::Version(i64::try_from(v).unwrap_or(i64::MAX));
    let pre = state::<R>(s, caller, id, version(before)).await?;
    let post = state::<R>(s, caller, id, version(updated)).await?;
    let now = current::<R>(s, caller, id).await?;
    let mut patch = Map::new();
    for name in patch_fields::<R>()
        .iter()
        .filter(|f| *f != "custom" && *f != "tags")
    {
        let (a, b, c) = (pre.get(name), post.get(name), now.get(name));
        let held = c.is_some_and(|c| !c.is_null() && others.iter().any(|o| o.get(name) == Some(c)));
        if a != b && c == b && !held {
            patch.insert(name.clone(), a.cloned().unwrap_or(Value::Null));
        }
    }
    let added: Vec<Value> = tags_of(&post)
        .into_iter()
        .filter(|t| !tags_of(&pre).contains(t))
        .filter(|t| !others.iter().any(|o| tags_of(o).contains(t)))
        .collect();
    let kept: Vec<Value> = tags_of(&now)
        .into_iter()
        .filter(|t| !added.contains(t))
        .collect();
    if kept.len() != tags_of(&now).len() {
        patch.insert("tags".into(), Value::Array(kept));
    }
    let (pre_values, post_values, now_values) =
        (values_of(&pre), values_of(&post), values_of(&now));
    let schema = crate::fields::schema(s, caller).await?;
    let mut custom = Map::new();
    for field in schema.live(R::KIND) {
        let key = field.id.to_string();
        let (a, b, c) = (
            pre_values.get(&key),
            post_values.get(&key),
            now_values.get(&key),
        );
        let held = c.is_some_and(|c| {
            !c.is_null() && others.iter().any(|o| values_of(o).get(&key) == Some(c))
        });
        if a != b && c == b && !held {
            custom.insert(key, a.cloned().unwrap_or(Value::Null));
        }
    }
    if !custom.is_empty() {
        patch.insert("custom".into(), Value::Object(custom));
    }
    checked::<R>(s, caller, patch).await
}

impl Mergeable for Contacts {
    type Aggregate = Contact;
    const KIND: RecordKind = RecordKind::Contact;
    const LINK: LinkTo = LinkTo::Contact;

    fn merge_into(into: EntityId) -> ContactCommand {
        ContactCommand::MergeInto { into }
    }
    fn unmerge() -> ContactCommand {
        ContactCommand::Unmerge
    }
    fn record(record: MergeRecord) -> ContactCommand {
        ContactCommand::RecordMerge(record)
    }
    fn undo(from: EntityId) -> ContactCommand {
        ContactCommand::UndoMerge { from }
    }
    fn update(patch: Self::Patch) -> ContactCommand {
        ContactCommand::Update(patch)
    }

    async fn run_in(
        s: Services<'_>,
        uow: &UnitOfWork,
        id: EntityId,
        command: Guarded<ContactCommand>,
        meta: &EventMetadata,
    ) -> Result<u64, AppError> {
        Ok(s.commands.contact_in(uow, id, command, meta).await?.version)
    }

    /// The merged contact's live companies the survivor is not associated with yet.
    async fn associations(
        s: Services<'_>,
        caller: &Caller,
        id: Uuid,
        from: Uuid,
    ) -> Result<MergeMoves, AppError> {
        use crm_projections::queries::contacts::companies_of;
        let theirs = companies_of(s.db, &caller.scope, from).await?;
        let mine = companies_of(s.db, &caller.scope, id).await?;
        let ids = theirs.iter().map(|(c, _)| *c).collect();
        let live: Vec<Uuid> = crm_projections::queries::rows::<
            crm_projections::entities::company::Entity,
        >(s.db, &caller.scope, ids)
        .await?
        .into_iter()
        .filter(|c| !c.deleted)
        .map(|c| c.id)
        .collect();
        Ok(MergeMoves {
            associations: theirs
                .into_iter()
                .filter(|(c, _)| live.contains(c) && !mine.iter().any(|(m, _)| m == c))
                .map(|(c, role)| MovedAssociation {
                    id: EntityId(c),
                    role,
                    shared: false,
                })
                .collect(),
            ..MergeMoves::default()
        })
    }

    /// Associates the survivor with the merged contact's companies (`back`: ends those
    /// associations, where they still are; the merged contact kept its own).
    async fn move_associations(
        s: Services<'_>,
        uow: &UnitOfWork,
        meta: &EventMetadata,
        (id, _): (EntityId, EntityId),
        moves: &MergeMoves,
        back: bool,
    ) -> Result<(), AppError> {
        let linked: Vec<EntityId> = if back {
            let (survivor, _) = uow
                .aggregate::<Contact>(s.commands.keyring(), StreamId::new(meta.tenant_id, id))
                .await?;
            survivor.companies().iter().map(|(c, _)| *c).collect()
        } else {
            Vec::new()
        };
        for moved in &moves.associations {
            let command = if !back {
                ContactCommand::LinkCompany {
                    company_id: moved.id,
                    role: moved.role.clone(),
                }
            } else if linked.contains(&moved.id) {
                ContactCommand::UnlinkCompany {
                    company_id: moved.id,
                }
            } else {
                continue;
            };
            s.commands.contact_in(uow, id, command.into(), meta).await?;
        }
        Ok(())
    }
}

impl Mergeable for Companies {
    type Aggregate = Company;
    const KIND: RecordKind = RecordKind::Company;
    const LINK: LinkTo = LinkTo::Company;

    fn merge_into(into: EntityId) -> CompanyCommand {
        CompanyCommand::MergeInto { into }
    }
    fn unmerge() -> CompanyCommand {
        CompanyCommand::Unmerge
    }
    fn record(record: MergeRecord) -> CompanyCommand {
        CompanyCommand::RecordMerge(record)
    }
    fn undo(from: EntityId) -> CompanyCommand {
        CompanyCommand::UndoMerge { from }
    }
    fn update(patch: Self::Patch) -> CompanyCommand {
        CompanyCommand::Update(patch)
    }

    async fn run_in(
        s: Services<'_>,
        uow: &UnitOfWork,
        id: EntityId,
        command: Guarded<CompanyCommand>,
        meta: &EventMetadata,
    ) -> Result<u64, AppError> {
        Ok(s.commands
            .run_in::<Company, _>(uow, id, command, meta)
            .await?
            .version)
    }

    /// Live contacts whose company is the merged one, and live contacts associated with
    /// it (with their role, and whether they are associated with the survivor too).
    async fn associations(
        s: Services<'_>,
        caller: &Caller,
        id: Uuid,
        from: Uuid,
    ) -> Result<MergeMoves, AppError> {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let contacts = moved_rows(
            s,
            caller,
            "SELECT id, false AS shared FROM contacts
              WHERE tenant_id = $1 AND company_id = $2 AND $3::uuid IS NOT NULL
              ORDER BY id LIMIT $4",
            id,
            from,
        )
        .await?;
        let limit = i64::try_from(MAX_MOVED + 1).unwrap_or(i64::MAX);
        let txn = caller.scope.read(s.db).await?;
        let rows = txn
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT cc.contact_id, cc.role,
                        EXISTS (SELECT FROM contact_companies o
                                 WHERE o.tenant_id = cc.tenant_id AND o.contact_id = cc.contact_id
                                   AND o.company_id = $3) AS shared
                   FROM contact_companies cc
                   JOIN contacts c ON c.tenant_id = cc.tenant_id AND c.id = cc.contact_id
                  WHERE cc.tenant_id = $1 AND cc.company_id = $2 AND NOT c.deleted
                  ORDER BY cc.contact_id LIMIT $4",
                [
                    caller.scope.tenant().0.into(),
                    from.into(),
                    id.into(),
                    limit.into(),
                ],
            ))
            .await?;
        txn.commit().await?;
        let associations = rows
            .iter()
            .map(|row| {
                Ok(MovedAssociation {
                    id: EntityId(row.try_get("", "contact_id")?),
                    role: row.try_get("", "role")?,
                    shared: row.try_get("", "shared")?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()?;
        Ok(MergeMoves {
            contacts,
            associations,
            ..MergeMoves::default()
        })
    }

    /// Contacts' companies and associations to the survivor (`back`: to the merged
    /// company again, for the contacts still live).
    async fn move_associations(
        s: Services<'_>,
        uow: &UnitOfWork,
        meta: &EventMetadata,
        ids: (EntityId, EntityId),
        moves: &MergeMoves,
        back: bool,
    ) -> Result<(), AppError> {
        let (id, from) = ids;
        let scope = crm_store::TenantScope::for_command(meta);
        type Contacts = crm_projections::entities::contact::Entity;
        for moved in live::<Contacts>(s, &scope, &moves.contacts, false).await? {
            let command = ContactCommand::SwapCompany(swap(ids, false, back));
            s.commands
                .contact_in(uow, moved.id, command.into(), meta)
                .await?;
        }
        let associated: Vec<Moved> = moves
            .associations
            .iter()
            .map(|a| Moved {
                id: a.id,
                shared: a.shared,
            })
            .collect();
        let live_contacts: Vec<EntityId> = live::<Contacts>(s, &scope, &associated, back)
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        for moved in moves
            .associations
            .iter()
            .filter(|a| live_contacts.contains(&a.id))
        {
            let (link, unlink) = if back { (from, id) } else { (id, from) };
            // Unlinked first: a contact at its limit of companies can still move.
            if !back || !moved.shared {
                let (contact, _) = uow
                    .aggregate::<Contact>(
                        s.commands.keyring(),
                        StreamId::new(meta.tenant_id, moved.id),
                    )
                    .await?;
                if contact.companies().iter().any(|(c, _)| *c == unlink) {
                    let command = ContactCommand::UnlinkCompany { company_id: unlink };
                    s.commands
                        .contact_in(uow, moved.id, command.into(), meta)
                        .await?;
                }
            }
            if back || !moved.shared {
                let command = ContactCommand::LinkCompany {
                    company_id: link,
                    role: moved.role.clone(),
                };
                s.commands
                    .contact_in(uow, moved.id, command.into(), meta)
                    .await?;
            }
        }
        Ok(())
    }
}
