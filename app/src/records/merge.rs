//! Merging two contacts into one, and undoing it (`POST /v1/contacts/{id}/merge`,
//! `POST /v1/contacts/{id}/unmerge`).
//!
//! A merge is one unit of work, so all of it commits or none: the merged contact becomes
//! a tombstone (`ContactMergedInto`, deleted, naming its survivor, its email released);
//! the survivor takes the values chosen field by field (one `ContactUpdated`), the
//! merged contact's company associations, and its tags; every live deal and activity
//! that named the merged contact names the survivor instead (each by its own event);
//! and the survivor records what moved (`ContactMerged`). The trail and both histories
//! show each step, with `merge of <id> into <id>` as the reason.
//!
//! An unmerge undoes exactly that, by new events, in one unit of work: each value the
//! merge gave the survivor goes back to what the survivor had before, unless it was
//! changed since (later edits stay); the associations and links the merge added go back
//! to the merged contact; the merged contact comes back as it was, with its email.

use std::collections::BTreeMap;

use crm_domain::activity::ActivityCommand;
use crm_domain::contact::{Contact, ContactCommand, ContactPatch};
use crm_domain::deal::DealCommand;
use crm_domain::fields::RecordKind;
use crm_domain::merge::{LinkTo, MergeMoves, Moved, Swap};
use crm_domain::{Action, EntityId, EventMetadata, Guarded, StreamId};
use crm_projections::entities::contact::Model;
use crm_projections::entities::{company, contact, RecordRow};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::contacts::Contacts;
use super::{ensure_owner, load, patch_fields, Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::{self, At, RecordType};

/// Most deals and activities one merge moves (each is an event in the merge's one
/// transaction); a contact with more is refused (422) rather than held in a long
/// transaction.
pub const MAX_MOVED: usize = 1_000;

/// Which contact's value a field keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The survivor's (the contact the request names).
    This,
    /// The merged contact's (`from`).
    From,
}

/// `POST /v1/contacts/{id}/merge` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact merged into this one; it becomes a tombstone (deleted, with
    /// `merged_into` set).
    pub from: Uuid,
    /// Which contact's value each field keeps, by field name (`first_name`,
    /// `last_name`, `email`, `phone`, `job_title`, `company_id`, or `custom.<key>`):
    /// `this` or `from`. A field left out keeps this contact's value, or takes `from`'s
    /// where this one has none. Tags are always the union of both. A unique custom field
    /// keeps this contact's value (the other still holds its claim until the merge).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"email": "from", "custom.segment": "this"}))]
    pub fields: BTreeMap<String, Side>,
}

/// `POST /v1/contacts/{id}/unmerge` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmergeBody {
    /// The contact that was merged into this one.
    pub from: Uuid,
}

/// Merges contact `body.from` into contact `id` (see the module); returns the survivor's
/// row. Guarded by `if_version` on the survivor when given, else by the version the
/// values were chosen from, so a concurrent edit is never overwritten unseen. Needs the
/// update and delete rights (a Member: on contacts they own).
///
/// # Errors
/// 403; 404 for an `id` the workspace does not have; 422 for a `from` it does not have,
/// `from` = `id`, an unknown field name, or more than [`MAX_MOVED`] linked records; 409
/// when either is deleted or already merged, or the survivor's personal data was erased;
/// 412 for a stale `if_version`.
pub async fn merge(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    body: MergeBody,
) -> Result<Model, AppError> {
    caller.require(Action::UpdateRecords)?;
    caller.require(Action::DeleteRecords)?;
    let from = body.from;
    let this = load::<Contacts>(s, caller, id).await?;
    let other = other_contact(s, caller, id, from).await?;
    if this.deleted || other.deleted {
        return Err(AppError::Conflict(match other.merged_into {
            Some(into) => format!("{from} is merged into {into} already"),
            None => "a deleted contact is not merged: restore it first".into(),
        }));
    }
    ensure_owner::<Contacts>(s, caller, id).await?;
    ensure_owner::<Contacts>(s, caller, from).await?;
    let before = if_version.unwrap_or_else(|| u64::try_from(this.version).unwrap_or(0));

    let state = |id| current_state(s, caller, id);
    let (mine, theirs) = (state(id).await?, state(from).await?);
    let patch = chosen(s, caller, &mine, &theirs, &body.fields).await?;

    let deals = linked(s, caller, "deals", id, from).await?;
    let activities = linked(s, caller, "activities", id, from).await?;
    if deals.len() + activities.len() > MAX_MOVED {
        return Err(AppError::invalid(
            "from",
            format!("the contact has more than {MAX_MOVED} deals and activities to move"),
        ));
    }
    let theirs_companies =
        crm_projections::queries::contacts::companies_of(s.db, &caller.scope, from).await?;
    let mine_companies =
        crm_projections::queries::contacts::companies_of(s.db, &caller.scope, id).await?;
    let live_companies: Vec<Uuid> = crm_projections::queries::rows::<company::Entity>(
        s.db,
        &caller.scope,
        theirs_companies.iter().map(|(c, _)| *c).collect(),
    )
    .await?
    .into_iter()
    .filter(|c| !c.deleted)
    .map(|c| c.id)
    .collect();
    let new_companies: Vec<(Uuid, Option<String>)> = theirs_companies
        .into_iter()
        .filter(|(c, _)| live_companies.contains(c) && !mine_companies.iter().any(|(m, _)| m == c))
        .collect();

    let mut meta = meta.clone();
    meta.reason = Some(format!("merge of {from} into {id}"));
    let meta = &meta;
    let (this_id, from_id) = (EntityId(id), EntityId(from));
    let uow = s.commands.unit(meta).await?;
    // The tombstone first: it gives up its email, which the survivor may take.
    let tombstone = ContactCommand::MergeInto { into: this_id };
    s.commands
        .contact_in(&uow, from_id, Guarded::from(tombstone), meta)
        .await?;
    let updated = s
        .commands
        .contact_in(
            &uow,
            this_id,
            Guarded {
                if_version: Some(before),
                command: ContactCommand::Update(patch),
            },
            meta,
        )
        .await?
        .version;
    for (company, role) in &new_companies {
        let link = ContactCommand::LinkCompany {
            company_id: EntityId(*company),
            role: role.clone(),
        };
        s.commands
            .contact_in(&uow, this_id, Guarded::from(link), meta)
            .await?;
    }
    let swap = Swap {
        remove: Some(from_id),
        add: Some(this_id),
    };
    for moved in &deals {
        let command = DealCommand::SwapLink {
            to: LinkTo::Contact,
            swap,
        };
        s.commands
            .run_in::<crm_domain::deal::Deal, _>(&uow, moved.id, command, meta)
            .await?;
    }
    for moved in &activities {
        let command = ActivityCommand::SwapLink {
            to: LinkTo::Contact,
            swap,
        };
        s.commands
            .run_in::<crm_domain::activity::Activity, _>(&uow, moved.id, command, meta)
            .await?;
    }
    let record = ContactCommand::RecordMerge {
        from: from_id,
        before,
        updated,
        moves: MergeMoves {
            deals,
            activities,
            companies: new_companies.iter().map(|(c, _)| EntityId(*c)).collect(),
        },
    };
    s.commands
        .contact_in(&uow, this_id, Guarded::from(record), meta)
        .await?;
    let row = uow.row::<contact::Entity>(id).await?;
    uow.commit().await?;
    row.ok_or_else(|| AppError::Pending(format!("the contact {id} is saved")))
}

/// Undoes the merge of contact `from` into contact `id` (see the module); returns the
/// survivor's row. Guarded by `if_version` on the survivor when given. Needs the update
/// and delete rights (a Member: on contacts they own).
///
/// # Errors
/// 403; 404 for an `id` the workspace does not have; 422 for a `from` it does not have;
/// 409 when `from` was not merged into `id` (or was given back already), when the
/// survivor is deleted, or when another contact took the merged contact's email since;
/// 412 for a stale `if_version`.
pub async fn unmerge(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    body: UnmergeBody,
) -> Result<Model, AppError> {
    caller.require(Action::UpdateRecords)?;
    caller.require(Action::DeleteRecords)?;
    let from = body.from;
    load::<Contacts>(s, caller, id).await?;
    other_contact(s, caller, id, from).await?;
    ensure_owner::<Contacts>(s, caller, id).await?;
    ensure_owner::<Contacts>(s, caller, from).await?;
    let (this_id, from_id) = (EntityId(id), EntityId(from));
    let mut meta = meta.clone();
    meta.reason = Some(format!("unmerge of {from} from {id}"));
    let meta = &meta;

    let uow = s.commands.unit(meta).await?;
    let (survivor, version) = uow
        .aggregate::<Contact>(s.commands.keyring(), StreamId::new(meta.tenant_id, this_id))
        .await?;
    let record = survivor.merge_of(from_id).cloned().ok_or_else(|| {
        AppError::Conflict(format!(
            "{from} was not merged into this contact, or was given back already"
        ))
    })?;
    if let Some(expected) = if_version.filter(|v| *v != version) {
        return Err(AppError::PreconditionFailed(format!(
            "the contact is at version {version}, not {expected}"
        )));
    }
    let patch = given_back(s, caller, id, record.before, record.updated).await?;
    s.commands
        .contact_in(
            &uow,
            this_id,
            Guarded {
                if_version: Some(version),
                command: ContactCommand::Update(patch),
            },
            meta,
        )
        .await?;
    for company in &record.moves.companies {
        if survivor.companies().iter().any(|(c, _)| c == company) {
            let unlink = ContactCommand::UnlinkCompany {
                company_id: *company,
            };
            s.commands
                .contact_in(&uow, this_id, Guarded::from(unlink), meta)
                .await?;
        }
    }
    let back = |moved: &Moved| Swap {
        remove: (!moved.shared).then_some(this_id),
        add: Some(from_id),
    };
    let ids = |moved: &[Moved]| moved.iter().map(|m| m.id.0).collect::<Vec<_>>();
    let live_deals =
        live::<crm_projections::entities::deal::Entity>(s, caller, ids(&record.moves.deals))
            .await?;
    for moved in record
        .moves
        .deals
        .iter()
        .filter(|m| live_deals.contains(&m.id.0))
    {
        let command = DealCommand::SwapLink {
            to: LinkTo::Contact,
            swap: back(moved),
        };
        s.commands
            .run_in::<crm_domain::deal::Deal, _>(&uow, moved.id, command, meta)
            .await?;
    }
    let live_activities = live::<crm_projections::entities::activity::Entity>(
        s,
        caller,
        ids(&record.moves.activities),
    )
    .await?;
    for moved in record
        .moves
        .activities
        .iter()
        .filter(|m| live_activities.contains(&m.id.0))
    {
        let command = ActivityCommand::SwapLink {
            to: LinkTo::Contact,
            swap: back(moved),
        };
        s.commands
            .run_in::<crm_domain::activity::Activity, _>(&uow, moved.id, command, meta)
            .await?;
    }
    s.commands
        .contact_in(&uow, from_id, Guarded::from(ContactCommand::Unmerge), meta)
        .await?;
    s.commands
        .contact_in(
            &uow,
            this_id,
            Guarded::from(ContactCommand::UndoMerge { from: from_id }),
            meta,
        )
        .await?;
    let row = uow.row::<contact::Entity>(id).await?;
    uow.commit().await?;
    row.ok_or_else(|| AppError::Pending(format!("the contact {id} is saved")))
}

/// The row of `from`, another contact of the caller's workspace than `id`.
async fn other_contact(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    from: Uuid,
) -> Result<Model, AppError> {
    if from == id {
        return Err(AppError::invalid(
            "from",
            "a contact is not merged with itself",
        ));
    }
    Contacts::find(s, &caller.scope, from)
        .await?
        .ok_or_else(|| {
            AppError::invalid("from", format!("no such contact in this workspace: {from}"))
        })
}

/// The live ones among `ids` of a read table.
async fn live<E>(s: Services<'_>, caller: &Caller, ids: Vec<Uuid>) -> Result<Vec<Uuid>, AppError>
where
    E: sea_orm::EntityTrait<
        PrimaryKey: sea_orm::PrimaryKeyTrait<ValueType = (Uuid, Uuid)>,
        Model: RecordRow,
    >,
{
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(
        crm_projections::queries::rows::<E>(s.db, &caller.scope, ids)
            .await?
            .into_iter()
            .filter(|r| !r.deleted())
            .map(|r| r.id())
            .collect(),
    )
}

/// A contact's current fields as its history shows them (personal data opened), with
/// its personal data fields' values in `custom` beside the others.
async fn current_state(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
) -> Result<Map<String, Value>, AppError> {
    state(
        s,
        caller,
        id,
        At::Time(chrono::DateTime::<chrono::Utc>::MAX_UTC),
    )
    .await
}

async fn state(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    at: At,
) -> Result<Map<String, Value>, AppError> {
    let past = history::state_at(
        s.db,
        s.commands.keyring(),
        &caller.scope,
        RecordType::Contact,
        id,
        at,
    )
    .await?;
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

/// Deals or activities (`table`) of the workspace, live, that name contact `from`, and
/// whether each names `id` too. At most [`MAX_MOVED`] + 1.
async fn linked(
    s: Services<'_>,
    caller: &Caller,
    table: &str,
    id: Uuid,
    from: Uuid,
) -> Result<Vec<Moved>, AppError> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let sql = format!(
        "SELECT id, $3 = ANY(contact_ids) AS shared FROM {table}
          WHERE tenant_id = $1 AND NOT deleted AND contact_ids @> ARRAY[$2]::uuid[]
          ORDER BY id LIMIT $4"
    );
    let limit = i64::try_from(MAX_MOVED + 1).unwrap_or(i64::MAX);
    let txn = caller.scope.read(s.db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            &sql,
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

/// The survivor's patch of a merge: the values `choices` take from `theirs` (see
/// [`MergeBody::fields`]), the union of the tags, checked as any patch.
async fn chosen(
    s: Services<'_>,
    caller: &Caller,
    mine: &Map<String, Value>,
    theirs: &Map<String, Value>,
    choices: &BTreeMap<String, Side>,
) -> Result<ContactPatch, AppError> {
    let schema = crate::fields::schema(s, caller).await?;
    let fields = patch_fields::<Contacts>();
    for name in choices.keys() {
        let known = match name.strip_prefix("custom.") {
            Some(key) => schema.live(RecordKind::Contact).any(|f| f.key == key),
            None => fields.iter().any(|f| f == name) && name != "custom" && name != "tags",
        };
        if !known {
            return Err(AppError::invalid(
                "fields",
                format!("{name}: not a contact field (tags are always joined)"),
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
    for name in fields.iter().filter(|f| *f != "custom" && *f != "tags") {
        let (a, b) = (mine.get(name), theirs.get(name));
        if side(name, a) == Side::From && a.unwrap_or(&Value::Null) != b.unwrap_or(&Value::Null) {
            patch.insert(name.clone(), b.cloned().unwrap_or(Value::Null));
        }
    }
    let tags = |state: &Map<String, Value>| -> Vec<Value> {
        state
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut union = tags(mine);
    let before = union.len();
    for tag in tags(theirs) {
        if !union.contains(&tag) {
            union.push(tag);
        }
    }
    if union.len() != before {
        patch.insert("tags".into(), Value::Array(union));
    }
    let values = |state: &Map<String, Value>| {
        state
            .get("custom")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (my_values, their_values) = (values(mine), values(theirs));
    let mut custom = Map::new();
    for field in schema.live(RecordKind::Contact) {
        let key = field.id.to_string();
        let (a, b) = (my_values.get(&key), their_values.get(&key));
        let name = format!("custom.{}", field.key);
        let takes = side(&name, a) == Side::From;
        if field.unique {
            if choices.get(&name) == Some(&Side::From) {
                return Err(AppError::invalid(
                    "fields",
                    format!("{name}: a unique field keeps this contact's value"),
                ));
            }
            continue;
        }
        if takes && a != b {
            custom.insert(key, b.cloned().unwrap_or(Value::Null));
        }
    }
    if !custom.is_empty() {
        patch.insert("custom".into(), Value::Object(custom));
    }
    let mut patch: ContactPatch =
        serde_json::from_value(Value::Object(patch)).map_err(AppError::internal)?;
    crate::fields::check(s, caller, RecordKind::Contact, &mut patch.custom, false).await?;
    Ok(patch)
}

/// The survivor's patch of an unmerge: each field the merge changed (between versions
/// `before` and `updated`) and nobody changed since goes back to its value before the
/// merge; tags the merge added go, unless they were there before.
async fn given_back(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    before: u64,
    updated: u64,
) -> Result<ContactPatch, AppError> {
    if updated <= before {
        return Ok(ContactPatch::default());
    }
    let version = |v: u64| At::Version(i64::try_from(v).unwrap_or(i64::MAX));
    let pre = state(s, caller, id, version(before)).await?;
    let post = state(s, caller, id, version(updated)).await?;
    let now = current_state(s, caller, id).await?;
    let mut patch = Map::new();
    for name in patch_fields::<Contacts>()
        .iter()
        .filter(|f| *f != "custom" && *f != "tags")
    {
        let (a, b, c) = (pre.get(name), post.get(name), now.get(name));
        if a != b && c == b {
            patch.insert(name.clone(), a.cloned().unwrap_or(Value::Null));
        }
    }
    let tags = |state: &Map<String, Value>| -> Vec<Value> {
        state
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let added: Vec<Value> = tags(&post)
        .into_iter()
        .filter(|t| !tags(&pre).contains(t))
        .collect();
    let kept: Vec<Value> = tags(&now)
        .into_iter()
        .filter(|t| !added.contains(t))
        .collect();
    if kept.len() != tags(&now).len() {
        patch.insert("tags".into(), Value::Array(kept));
    }
    let values = |state: &Map<String, Value>| {
        state
            .get("custom")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let (pre_values, post_values, now_values) = (values(&pre), values(&post), values(&now));
    let schema = crate::fields::schema(s, caller).await?;
    let mut custom = Map::new();
    for field in schema.live(RecordKind::Contact) {
        let key = field.id.to_string();
        let (a, b, c) = (
            pre_values.get(&key),
            post_values.get(&key),
            now_values.get(&key),
        );
        if a != b && c == b {
            custom.insert(key, a.cloned().unwrap_or(Value::Null));
        }
    }
    if !custom.is_empty() {
        patch.insert("custom".into(), Value::Object(custom));
    }
    let mut patch: ContactPatch =
        serde_json::from_value(Value::Object(patch)).map_err(AppError::internal)?;
    crate::fields::check(s, caller, RecordKind::Contact, &mut patch.custom, false).await?;
    Ok(patch)
}
