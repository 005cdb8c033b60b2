//! The changes feed (`GET /v1/events`): a workspace's domain events in commit order, from
//! any point, with no retention limit beyond the event store's own.
//!
//! Order and cursor are the catch-up projector's: `(transaction_id, global_position)`,
//! and only events of transactions older than every transaction still running
//! (`pg_snapshot_xmin`), so an event that commits late can never land behind a cursor
//! already handed out: a walk sees every event once, in commit order. Each event of a
//! record (company, contact, deal, activity, pipeline) comes with its field-level changes
//! and the record's state after it, replayed from its stream like its history (a
//! contact's erased personal data stays out); other events name their stream only.

use std::collections::HashMap;

use base64::Engine as _;
use crm_domain::Action;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::history::{self, At, FieldChange, RecordType};
use crate::records::Services;

/// Most events a page holds; the default is 100.
pub const MAX_LIMIT: u64 = 500;
/// Longest `wait`, in seconds.
pub const MAX_WAIT: u64 = 30;

/// The namespace of feed event ids (UUIDv5 of `<type>/<stream>/<sequence>`, RFC 9562
/// §5.5).
const EVENT_IDS: Uuid = Uuid::from_u128(0x6c0f_6a3e_9a1d_4e0b_8c55_2f4a_1b7e_0d93);

/// What a feed page asks for.
#[derive(Debug, Default, Clone)]
pub struct FeedQuery {
    /// The previous page's `next_cursor`; from the beginning when absent.
    pub after: Option<String>,
    /// Event types (`contact.updated`) or their families (`contact.*`); all when empty.
    pub types: Vec<String>,
    /// Only events of this record type (`company`, `contact`, `deal`, `activity`,
    /// `pipeline`).
    pub entity_type: Option<String>,
    /// Events to scan, 1 to [`MAX_LIMIT`]; default 100.
    pub limit: Option<u64>,
    /// Seconds to wait for a new event after `after` when there is none, up to
    /// [`MAX_WAIT`].
    pub wait: Option<u64>,
}

/// One event of the feed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedEvent {
    /// Stable for the event (UUIDv5 of its aggregate type, stream and sequence): a
    /// receiver's idempotency key.
    pub id: Uuid,
    /// `<entity>.<what>` in snake case, e.g. `contact.updated`, `deal.won`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `company`, `contact`, `deal`, `activity`, `pipeline`, `user`, `workspace`,
    /// `field_schema`.
    pub entity_type: String,
    /// The record's (or stream's) id.
    pub entity_id: Uuid,
    /// The stream's version after the event.
    pub version: i64,
    /// When the command was accepted (RFC 3339).
    pub occurred_at: Option<String>,
    /// User id, API key id or system actor name.
    pub actor: Option<String>,
    /// `user`, `api_key`, `support` or `system`.
    pub actor_type: Option<String>,
    /// The fields the event changed, before and after (records only).
    pub changes: Vec<FieldChange>,
    /// The record after the event (records only).
    #[schema(value_type = Option<Object>)]
    pub state: Option<serde_json::Map<String, serde_json::Value>>,
    /// `"erased"` when the event held personal data erased since (left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub personal_data: Option<&'static str>,
    /// The feed cursor just after this event (the Server-Sent Events `id`); empty when
    /// the event was not read through the feed.
    #[serde(skip)]
    pub cursor: String,
}

/// A page of the feed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    /// The events, in commit order (fewer than `limit` when a `types` filter left some
    /// out).
    pub items: Vec<FeedEvent>,
    /// Where the next page starts; the same cursor when nothing was new.
    pub next_cursor: String,
}

/// A position in commit order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// `transaction_id` (xid8) as decimal text.
    t: String,
    /// `global_position`.
    p: i64,
}

impl Position {
    fn encode(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(self).unwrap_or_default())
    }

    fn decode(text: &str) -> Result<Self, AppError> {
        let bad = || AppError::invalid("after", "not a cursor of this feed");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| bad())?;
        let position: Self = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        // An xid8 is an unsigned 64-bit number.
        if position.t.parse::<u64>().is_err() || position.p < 0 {
            return Err(bad());
        }
        Ok(position)
    }
}

/// A feed cursor's position: `(transaction_id as text, global_position)`.
///
/// # Errors
/// 422 on `field` when it is no cursor of this feed.
pub fn decode_cursor(text: &str, field: &str) -> Result<(String, i64), AppError> {
    Position::decode(text)
        .map(|p| (p.t, p.p))
        .map_err(|_| AppError::invalid(field, "not a cursor of the changes feed"))
}

/// The feed cursor of a position.
pub fn encode_cursor(transaction_id: &str, global_position: i64) -> String {
    Position {
        t: transaction_id.to_owned(),
        p: global_position,
    }
    .encode()
}

/// `<entity>.<what>`: the aggregate type and the event type less its prefix, in snake case
/// (`ContactCompanyLinked` of a `Contact` is `contact.company_linked`).
pub fn type_name(aggregate_type: &str, event_type: &str) -> String {
    let what = event_type
        .strip_prefix(aggregate_type)
        .or_else(|| {
            event_type
                .strip_prefix("Field")
                .filter(|_| aggregate_type == "FieldSchema")
        })
        .filter(|rest| !rest.is_empty())
        .unwrap_or(event_type);
    format!("{}.{}", snake(aggregate_type), snake(what))
}

fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Checks event type filters: each `<entity>.<event>` or `<entity>.*` in lowercase
/// snake case, at most 50.
///
/// # Errors
/// 422 on `types`.
pub fn check_types(types: &[String]) -> Result<(), AppError> {
    for t in types {
        let shape = t.split_once('.').is_some_and(|(e, w)| {
            !e.is_empty()
                && !w.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.' || c == '*')
        });
        if !shape || types.len() > 50 {
            return Err(AppError::invalid(
                "types",
                format!("{t:?}: `<entity>.<event>` or `<entity>.*`, at most 50"),
            ));
        }
    }
    Ok(())
}

/// The stable id of event `sequence` of aggregate `aggregate_type`'s stream
/// `aggregate_id` (UUIDv5 of `<type>/<stream>/<sequence>`: the workspace and its field
/// schema share one stream id): the feed's `id` and a webhook message's `webhook-id`.
pub fn event_id(aggregate_type: &str, aggregate_id: &str, sequence: i64) -> Uuid {
    Uuid::new_v5(
        &EVENT_IDS,
        format!("{aggregate_type}/{aggregate_id}/{sequence}").as_bytes(),
    )
}

/// Whether `kind` is among `types` (exact, or `<entity>.*`); every kind when empty.
pub fn wanted(types: &[String], kind: &str) -> bool {
    types.is_empty()
        || types.iter().any(|t| match t.strip_suffix(".*") {
            Some(entity) => kind.split_once('.').is_some_and(|(e, _)| e == entity),
            None => t == kind,
        })
}

/// One page of the caller's workspace's feed; waits up to `query.wait` seconds for a new
/// event when there is none. Needs the audit right (Owner, Admin, and API keys with it).
///
/// # Errors
/// 403; 422 on `after`, `limit`, `wait`, `entity_type` or `types`; database errors.
pub async fn page(
    s: Services<'_>,
    caller: &Caller,
    query: FeedQuery,
) -> Result<FeedPage, AppError> {
    caller.require(Action::ReadAudit)?;
    let limit = match query.limit {
        None => 100,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(AppError::invalid(
                "limit",
                format!("must be 1 to {MAX_LIMIT}"),
            ))
        }
    };
    let wait = match query.wait {
        None => 0,
        Some(n) if n <= MAX_WAIT => n,
        Some(_) => {
            return Err(AppError::invalid(
                "wait",
                format!("must be 0 to {MAX_WAIT}"),
            ))
        }
    };
    let entity = match query.entity_type.as_deref() {
        None => None,
        Some(noun) => Some(
            RecordType::ALL
                .into_iter()
                .find(|t| t.noun() == noun)
                .ok_or_else(|| {
                    AppError::invalid(
                        "entity_type",
                        "company, contact, deal, activity or pipeline",
                    )
                })?,
        ),
    };
    check_types(&query.types)?;
    let from = match query.after.as_deref() {
        Some(text) => Position::decode(text)?,
        None => Position {
            t: "0".into(),
            p: 0,
        },
    };
    // Waiting is for what comes after a cursor: a first page answers at once.
    let wait = if query.after.is_some() { wait } else { 0 };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(wait);
    loop {
        let (items, last) = scan(s, caller, &from, limit, entity, &query.types).await?;
        let scanned_any = last.is_some();
        if scanned_any || std::time::Instant::now() >= deadline {
            return Ok(FeedPage {
                items,
                next_cursor: last.unwrap_or(from).encode(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}

/// Up to `limit` events after `from` (those `types` keeps, with their changes and
/// states), and the position of the last one scanned.
async fn scan(
    s: Services<'_>,
    caller: &Caller,
    from: &Position,
    limit: u64,
    entity: Option<RecordType>,
    types: &[String],
) -> Result<(Vec<FeedEvent>, Option<Position>), AppError> {
    let txn = caller.scope.read(s.db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT aggregate_type, aggregate_id, sequence, event_type, metadata,
                    transaction_id::text AS tx, global_position
               FROM events
              WHERE tenant_id = $1 AND (transaction_id, global_position) > ($2::xid8, $3)
                AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                AND ($4::text IS NULL OR aggregate_type = $4)
              ORDER BY transaction_id, global_position
              LIMIT $5",
            [
                caller.scope.tenant().0.into(),
                from.t.clone().into(),
                from.p.into(),
                entity.map(|e| e.aggregate_type().to_owned()).into(),
                i64::try_from(limit).unwrap_or(100).into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    let mut last = None;
    let mut picked = Vec::new();
    for row in &rows {
        let aggregate_type: String = row.try_get("", "aggregate_type")?;
        let aggregate_id: String = row.try_get("", "aggregate_id")?;
        let sequence: i64 = row.try_get("", "sequence")?;
        let event_type: String = row.try_get("", "event_type")?;
        let metadata: serde_json::Value = row.try_get("", "metadata")?;
        last = Some(Position {
            t: row.try_get("", "tx")?,
            p: row.try_get("", "global_position")?,
        });
        let kind = type_name(&aggregate_type, &event_type);
        if !wanted(types, &kind) {
            continue;
        }
        let mut event = FeedEvent::bare(kind, &aggregate_type, &aggregate_id, sequence, &metadata);
        event.cursor = last.as_ref().map(Position::encode).unwrap_or_default();
        picked.push(event);
    }
    enrich(s, &caller.scope, &mut picked).await?;
    Ok((picked, last))
}

impl FeedEvent {
    /// The event of aggregate `aggregate_type`'s stream `aggregate_id` at `sequence`, of
    /// type `kind`, with what its metadata says, before [`enrich`] adds a record's changes
    /// and state.
    pub fn bare(
        kind: String,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
        metadata: &serde_json::Value,
    ) -> Self {
        let entity_id = aggregate_id
            .rsplit(':')
            .next()
            .and_then(|id| Uuid::parse_str(id).ok())
            .unwrap_or_default();
        let text = |key: &str| {
            metadata
                .get(key)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        Self {
            id: event_id(aggregate_type, aggregate_id, sequence),
            entity_type: kind.split('.').next().unwrap_or_default().to_owned(),
            kind,
            entity_id,
            version: sequence,
            occurred_at: text("occurred_at"),
            actor: text("actor_id").or_else(|| text("actor")),
            actor_type: text("actor_type"),
            changes: Vec::new(),
            state: None,
            personal_data: None,
            cursor: String::new(),
        }
    }
}

/// Adds to each event of a record (company, contact, deal, activity, pipeline) of
/// `scope`'s tenant its field-level changes and the record's state after it, replayed
/// from its stream (a contact's erased personal data stays out).
///
/// # Errors
/// Database errors.
pub async fn enrich(
    s: Services<'_>,
    scope: &crm_store::TenantScope,
    picked: &mut [FeedEvent],
) -> Result<(), AppError> {
    let mut histories: HashMap<(RecordType, Uuid), HashMap<i64, history::Version>> = HashMap::new();
    for event in picked.iter_mut() {
        let Some(record) = RecordType::ALL
            .into_iter()
            .find(|t| t.noun() == event.entity_type)
        else {
            continue;
        };
        let key = (record, event.entity_id);
        if let std::collections::hash_map::Entry::Vacant(entry) = histories.entry(key) {
            let versions =
                history::versions(history::Source::primary(s), scope, record, event.entity_id)
                    .await?;
            entry.insert(versions.into_iter().map(|v| (v.version, v)).collect());
        }
        if let Some(version) = histories.get(&key).and_then(|h| h.get(&event.version)) {
            event.changes = version.changes.clone();
            event.personal_data = version.personal_data;
        }
        let state = history::state_at(
            history::Source::primary(s),
            scope,
            record,
            event.entity_id,
            At::Version(event.version),
        )
        .await?;
        event.state = Some(state.record);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_entity_dot_event_in_snake_case() {
        assert_eq!(type_name("Contact", "ContactUpdated"), "contact.updated");
        assert_eq!(
            type_name("Contact", "ContactCompanyLinked"),
            "contact.company_linked"
        );
        assert_eq!(type_name("Deal", "DealWon"), "deal.won");
        assert_eq!(
            type_name("Activity", "TaskCompleted"),
            "activity.task_completed"
        );
        assert_eq!(
            type_name("FieldSchema", "FieldDefined"),
            "field_schema.defined"
        );
        assert!(wanted(&["contact.*".into()], "contact.updated"));
        assert!(!wanted(&["contact.*".into()], "company.updated"));
        assert!(wanted(&["deal.won".into()], "deal.won"));
        assert!(wanted(&[], "deal.won"));
    }
}
