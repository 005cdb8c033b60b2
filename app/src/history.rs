//! A record's history and past states, rebuilt from its stream.
//!
//! Every version of a record is the fold of its events up to that version (the same
//! `Aggregate::apply` that the command side uses, so the past is replayed by the rules
//! that wrote it). A version's field-level diff compares the record's state before and
//! after its event; nothing here reads a projection, so a history is exact even while a
//! read model is being rebuilt.
//!
//! Long streams: every replay keeps the state at each 100th version
//! (`record_snapshots`), and a past state starts from the nearest snapshot at or before
//! it, so `?version=` and `?as_of=` read at most 99 events past it. Contacts are never
//! snapshotted (their state is personal data, kept only sealed in their events).

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use crm_domain::activity::Activity;
use crm_domain::company::Company;
use crm_domain::contact::Contact;
use crm_domain::deal::Deal;
use crm_domain::pipeline::Pipeline;
use crm_store::history::{self, StreamEvent};
use crm_store::personal_data::{Keyring, Opened};
use crm_store::snapshots::{self, Bound, Snapshot};
use crm_store::TenantScope;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::AppError;

/// The record types with a history, by their URL segment: `companies`, `contacts`,
/// `deals`, `activities`, `pipelines`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    /// `/v1/companies/{id}`.
    Company,
    /// `/v1/contacts/{id}`.
    Contact,
    /// `/v1/deals/{id}`.
    Deal,
    /// `/v1/activities/{id}`.
    Activity,
    /// `/v1/pipelines/{id}`.
    Pipeline,
}

impl RecordType {
    /// Every record type with a history.
    pub const ALL: [Self; 5] = [
        Self::Company,
        Self::Contact,
        Self::Deal,
        Self::Activity,
        Self::Pipeline,
    ];

    /// Its URL segment (`companies`, …): the inverse of [`Self::from_segment`].
    pub fn segment(self) -> &'static str {
        match self {
            Self::Company => "companies",
            Self::Contact => "contacts",
            Self::Deal => "deals",
            Self::Activity => "activities",
            Self::Pipeline => "pipelines",
        }
    }

    /// Its name in messages (`company`, …).
    pub fn noun(self) -> &'static str {
        match self {
            Self::Company => "company",
            Self::Contact => "contact",
            Self::Deal => "deal",
            Self::Activity => "activity",
            Self::Pipeline => "pipeline",
        }
    }

    /// The type for a URL segment; `None` for any other.
    pub fn from_segment(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.segment() == segment)
    }

    /// Its aggregate type in the event store (`Company`, …).
    pub fn aggregate_type(self) -> &'static str {
        match self {
            Self::Company => Company::TYPE,
            Self::Contact => Contact::TYPE,
            Self::Deal => Deal::TYPE,
            Self::Activity => Activity::TYPE,
            Self::Pipeline => Pipeline::TYPE,
        }
    }
}

/// One field that an event changed: its value before and after (`null` when absent).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// Top-level field name of the record, e.g. `email`.
    pub field: String,
    /// Value before the event.
    pub before: Value,
    /// Value after the event.
    pub after: Value,
}

/// One version of a record: the event that made it, who and where from, and its diff.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Version {
    /// The record's version after the event (1 for the creation).
    pub version: i64,
    /// E.g. `ContactUpdated`.
    pub event_type: String,
    /// User id, API key id or system actor name.
    pub actor: Option<String>,
    /// `user`, `api_key`, `support` or `system`.
    pub actor_type: Option<String>,
    /// The actor's role at the time.
    pub actor_role: Option<String>,
    /// Client address, if known.
    pub ip: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// The import run that caused it, if any.
    pub import_id: Option<String>,
    /// The user on whose request a system actor acted, if any.
    pub initiated_by: Option<String>,
    /// Why, for a recovery action (a revert).
    pub reason: Option<String>,
    /// When the server accepted the command (RFC 3339).
    pub occurred_at: Option<String>,
    /// When the database stored the event.
    pub recorded_at: DateTime<Utc>,
    /// The fields the event changed, in field-name order.
    pub changes: Vec<FieldChange>,
    /// `"erased"` when the event held personal data that was erased since (it is left out
    /// of `changes`), `"unavailable"` when its key is missing here, `"unreadable"` when it
    /// does not decrypt; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub personal_data: Option<&'static str>,
}

/// The record's state at one version, as `{id, version, deleted, ...fields}`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PastState {
    /// The version shown.
    pub version: i64,
    /// When that version was stored.
    pub recorded_at: DateTime<Utc>,
    /// The record's fields at that version.
    pub record: Map<String, Value>,
}

/// Which past state to show: a version number, or the last version stored at or before
/// a time.
#[derive(Debug, Clone, Copy)]
pub enum At {
    /// `?version=N` (1-based).
    Version(i64),
    /// `?as_of=<RFC 3339>`.
    Time(DateTime<Utc>),
}

/// The record's state as an object: the aggregate's serialized state with its `fields`
/// object lifted to the top, bookkeeping (`exists`) dropped, a merge state shown as its
/// `merged_into`, and `id` added.
fn view<A: Aggregate>(id: Uuid, aggregate: &A) -> Result<Map<String, Value>, AppError> {
    let Value::Object(state) = serde_json::to_value(aggregate).map_err(AppError::internal)? else {
        return Ok(Map::new());
    };
    let mut out = Map::new();
    out.insert("id".into(), Value::String(id.to_string()));
    for (key, value) in state {
        match (key.as_str(), value) {
            ("exists", _) => {}
            ("fields", Value::Object(fields)) => out.extend(fields),
            // A merge's bookkeeping shows as the read row does: the survivor of a
            // tombstone (merges into a survivor are in its events).
            ("merge", Value::Object(merge)) => {
                let into = merge.get("merged_into").cloned().unwrap_or(Value::Null);
                out.insert("merged_into".into(), into);
            }
            (_, value) => {
                out.insert(key, value);
            }
        }
    }
    Ok(out)
}

/// The top-level fields that differ between two states, `version` left out.
pub fn diff(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| k.as_str() != "version")
        .filter_map(|k| {
            let b = before.get(k).cloned().unwrap_or(Value::Null);
            let a = after.get(k).cloned().unwrap_or(Value::Null);
            (b != a).then(|| FieldChange {
                field: k.clone(),
                before: b,
                after: a,
            })
        })
        .collect()
}

/// Replays `events` over `start` (a snapshot's state; the empty record when `None`),
/// calling `visit` with each event and the states before and after it, and `keep` with the
/// serialized aggregate after every [`snapshots::EVERY`]th version. Returns the last state.
fn replay<A: Aggregate>(
    id: Uuid,
    start: Option<&Value>,
    events: &[StreamEvent],
    mut visit: impl FnMut(&StreamEvent, &Map<String, Value>, &Map<String, Value>),
    mut keep: impl FnMut(&StreamEvent, Value),
) -> Result<Map<String, Value>, AppError> {
    let (mut aggregate, mut before) = match start {
        Some(state) => {
            let aggregate: A = serde_json::from_value(state.clone()).map_err(AppError::internal)?;
            let before = view(id, &aggregate)?;
            (aggregate, before)
        }
        None => (A::default(), Map::new()),
    };
    for stored in events {
        let event: A::Event =
            serde_json::from_value(stored.payload.clone()).map_err(AppError::internal)?;
        aggregate.apply(event);
        let after = view(id, &aggregate)?;
        visit(stored, &before, &after);
        if stored.version % snapshots::EVERY == 0 {
            keep(
                stored,
                serde_json::to_value(&aggregate).map_err(AppError::internal)?,
            );
        }
        before = after;
    }
    Ok(before)
}

fn replay_any(
    kind: RecordType,
    id: Uuid,
    start: Option<&Value>,
    events: &[StreamEvent],
    visit: impl FnMut(&StreamEvent, &Map<String, Value>, &Map<String, Value>),
    keep: impl FnMut(&StreamEvent, Value),
) -> Result<Map<String, Value>, AppError> {
    match kind {
        RecordType::Company => replay::<Company>(id, start, events, visit, keep),
        RecordType::Contact => replay::<Contact>(id, start, events, visit, keep),
        RecordType::Deal => replay::<Deal>(id, start, events, visit, keep),
        RecordType::Activity => replay::<Activity>(id, start, events, visit, keep),
        RecordType::Pipeline => replay::<Pipeline>(id, start, events, visit, keep),
    }
}

/// Stores the snapshots a replay took (contacts never: their state is personal data). A
/// failure only costs speed, so it is logged, not returned.
async fn keep_snapshots(
    db: &DatabaseConnection,
    scope: &TenantScope,
    kind: RecordType,
    id: Uuid,
    taken: &[Snapshot],
) {
    if kind == RecordType::Contact {
        return;
    }
    if let Err(err) = snapshots::save(db, scope, kind.aggregate_type(), id, taken).await {
        tracing::warn!(error = %err, %id, "snapshots not stored");
    }
}

fn snapshot_of(e: &StreamEvent, state: Value) -> Snapshot {
    Snapshot {
        version: e.version,
        occurred_at: accepted_at(e),
        recorded_at: e.recorded_at,
        state,
    }
}

async fn load(
    db: &DatabaseConnection,
    keyring: &Keyring,
    scope: &TenantScope,
    kind: RecordType,
    id: Uuid,
) -> Result<Vec<StreamEvent>, AppError> {
    let events = history::stream(db, keyring, scope, kind.aggregate_type(), id, 0, None)
        .await
        .map_err(AppError::internal)?;
    if events.is_empty() {
        return Err(AppError::NotFound);
    }
    Ok(events)
}

/// When the event's command was accepted: metadata `occurred_at`, or the store time for
/// an event without one.
fn accepted_at(e: &StreamEvent) -> DateTime<Utc> {
    e.occurred_at
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(e.recorded_at, |t| t.with_timezone(&Utc))
}

/// Where a history read runs: the connection it reads through (the primary, or a hot
/// standby: `crate::replica`), the one the snapshots its replay takes are stored through
/// (always the primary's `crm_app` pool: a standby is read-only), and the key ring that
/// opens contacts' personal data.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// Reads the events and snapshots.
    pub read: &'a DatabaseConnection,
    /// Stores new snapshots.
    pub keep: &'a DatabaseConnection,
    /// Opens personal data.
    pub keyring: &'a Keyring,
}

impl<'a> Source<'a> {
    /// Reading and keeping through the use cases' own pool (the primary).
    pub fn primary(s: crate::records::Services<'a>) -> Self {
        Self {
            read: s.db,
            keep: s.db,
            keyring: s.commands.keyring(),
        }
    }
}

/// Every version of the record, oldest first, each with its field-level diff, read and
/// its snapshots kept as `src` says.
///
/// # Errors
/// 404 when the workspace has no such record; 500 for an event that no longer decodes.
pub async fn versions(
    src: Source<'_>,
    scope: &TenantScope,
    kind: RecordType,
    id: Uuid,
) -> Result<Vec<Version>, AppError> {
    let events = load(src.read, src.keyring, scope, kind, id).await?;
    let mut out = Vec::with_capacity(events.len());
    let mut taken = Vec::new();
    let visit = |e: &StreamEvent, before: &Map<String, Value>, after: &Map<String, Value>| {
        out.push(Version {
            version: e.version,
            event_type: e.event_type.clone(),
            actor: e.actor.clone(),
            actor_type: e.actor_type.clone(),
            actor_role: e.actor_role.clone(),
            ip: e.ip.clone(),
            request_id: e.request_id.clone(),
            import_id: e.import_id.clone(),
            initiated_by: e.initiated_by.clone(),
            reason: e.reason.clone(),
            occurred_at: e.occurred_at.clone(),
            recorded_at: e.recorded_at,
            changes: diff(before, after),
            personal_data: match e.personal_data {
                Opened::Erased => Some("erased"),
                Opened::Unavailable => Some("unavailable"),
                Opened::Unreadable => Some("unreadable"),
                Opened::Plain | Opened::Revealed => None,
            },
        });
    };
    replay_any(kind, id, None, &events, visit, |e, state| {
        taken.push(snapshot_of(e, state));
    })?;
    keep_snapshots(src.keep, scope, kind, id, &taken).await;
    Ok(out)
}

/// The record as it was at `at`: replayed up to that version, or up to the last event
/// whose command was accepted (`occurred_at`) at or before that time; read and its
/// snapshots kept as `src` says.
///
/// # Errors
/// 404 when the workspace has no such record, or it did not exist yet at `at`; 422 for a
/// version beyond the record's latest (`version`).
pub async fn state_at(
    src: Source<'_>,
    scope: &TenantScope,
    kind: RecordType,
    id: Uuid,
    at: At,
) -> Result<PastState, AppError> {
    let (db, keyring) = (src.read, src.keyring);
    let snapshot = match (kind, at) {
        (RecordType::Contact, _) => None,
        (_, At::Version(n)) => {
            snapshots::nearest(db, scope, kind.aggregate_type(), id, Bound::Version(n)).await?
        }
        (_, At::Time(t)) => {
            snapshots::nearest(db, scope, kind.aggregate_type(), id, Bound::Time(t)).await?
        }
    };
    if matches!(at, At::Version(n) if n < 1) {
        let latest = history::latest_version(db, scope, kind.aggregate_type(), id).await?;
        if latest == 0 {
            return Err(AppError::NotFound);
        }
        return Err(AppError::invalid(
            "version",
            format!("must be 1 to {latest}, the record's latest version"),
        ));
    }
    let after = snapshot.as_ref().map_or(0, |s| s.version);
    let until = match at {
        At::Version(n) => Some(n.max(after)),
        At::Time(_) => None,
    };
    let mut events = history::stream(db, keyring, scope, kind.aggregate_type(), id, after, until)
        .await
        .map_err(AppError::internal)?;
    if snapshot.is_none() && events.is_empty() {
        return Err(AppError::NotFound);
    }
    match at {
        At::Version(n) if n < 1 || n > after + events.len() as i64 => {
            let latest = history::latest_version(db, scope, kind.aggregate_type(), id).await?;
            return Err(AppError::invalid(
                "version",
                format!("must be 1 to {latest}, the record's latest version"),
            ));
        }
        At::Version(_) => {}
        // The moment a command was accepted (`occurred_at`), not when its row was stored:
        // a restored workspace keeps the first and not the second.
        At::Time(t) => events.retain(|e| accepted_at(e) <= t),
    }
    let (version, recorded_at) = match (events.last(), &snapshot) {
        (Some(last), _) => (last.version, last.recorded_at),
        (None, Some(s)) => (s.version, s.recorded_at),
        (None, None) => return Err(AppError::NotFound),
    };
    let mut taken = Vec::new();
    let replayed = replay_any(
        kind,
        id,
        snapshot.as_ref().map(|s| &s.state),
        &events,
        |_, _, _| {},
        |e, state| taken.push(snapshot_of(e, state)),
    );
    let record = match replayed {
        Ok(record) => record,
        // A snapshot that no longer fits the aggregate (its format was not bumped): replay
        // from the first event instead, as if there were none.
        Err(err) if snapshot.is_some() => {
            tracing::warn!(error = %err, %id, "snapshot unusable; replaying from the start");
            let mut full = history::stream(db, keyring, scope, kind.aggregate_type(), id, 0, until)
                .await
                .map_err(AppError::internal)?;
            if let At::Time(t) = at {
                full.retain(|e| accepted_at(e) <= t);
            }
            taken.clear();
            replay_any(
                kind,
                id,
                None,
                &full,
                |_, _, _| {},
                |e, state| {
                    taken.push(snapshot_of(e, state));
                },
            )?
        }
        Err(err) => return Err(err),
    };
    keep_snapshots(src.keep, scope, kind, id, &taken).await;
    Ok(PastState {
        version,
        recorded_at,
        record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test objects are objects"),
        }
    }

    #[test]
    fn diff_names_changed_added_and_removed_fields_but_not_the_version() {
        let before = obj(json!({"version": 1, "name": "Acme", "phone": "1", "gone": true}));
        let after = obj(json!({"version": 2, "name": "Acme Ltd", "phone": "1", "new": 5}));
        let changes = diff(&before, &after);
        let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["gone", "name", "new"]);
        assert_eq!(changes[1].before, json!("Acme"));
        assert_eq!(changes[1].after, json!("Acme Ltd"));
        assert_eq!(changes[0].after, Value::Null);
        assert_eq!(changes[2].before, Value::Null);
    }

    #[test]
    fn segments_map_to_record_types() {
        assert_eq!(RecordType::from_segment("deals"), Some(RecordType::Deal));
        assert_eq!(RecordType::from_segment("users"), None);
    }
}
