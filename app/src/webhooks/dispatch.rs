//! Makes webhook messages from the event log: one per event and enabled endpoint whose
//! filter takes it, for endpoints made before the event was recorded.
//!
//! The dispatcher reads `events` as the catch-up projector does (ARCHITECTURE.md,
//! invariant 5): in `(transaction_id, global_position)` order, only transactions older
//! than every running one, from its checkpoint (`webhooks` in `projector_checkpoints`),
//! and moves the checkpoint in the transaction that makes the messages, under a
//! transaction-level advisory lock: several server processes may run it, one at a time
//! does the work, and nothing committed is skipped or made twice.

use chrono::{DateTime, Utc};
use crm_projections::catchup::{load_checkpoint, save_checkpoint, Position};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use uuid::Uuid;

use crate::feed;

/// The dispatcher's checkpoint name.
pub const CHECKPOINT: &str = "webhooks";

/// Messages to queue, column by column.
#[derive(Debug, Default)]
pub struct Batch {
    /// `webhook-id`s (the feed's event ids).
    pub ids: Vec<Uuid>,
    /// Event types (`contact.updated`).
    pub kinds: Vec<String>,
    /// The events' aggregate types.
    pub aggregate_types: Vec<String>,
    /// The events' streams.
    pub streams: Vec<String>,
    /// The events' sequences.
    pub sequences: Vec<i64>,
}

impl Batch {
    /// Adds the message of event `sequence` of `aggregate_type`'s stream `stream`.
    pub fn push(&mut self, kind: String, aggregate_type: &str, stream: &str, sequence: i64) {
        self.ids
            .push(feed::event_id(aggregate_type, stream, sequence));
        self.kinds.push(kind);
        self.aggregate_types.push(aggregate_type.to_owned());
        self.streams.push(stream.to_owned());
        self.sequences.push(sequence);
    }
}

/// Queues `batch`'s messages for `endpoint` of `tenant` in order, due at `now`; a
/// message made already is queued again with a new round of retries (a replay). Returns
/// how many were queued.
///
/// # Errors
/// Database errors.
pub async fn enqueue<C: ConnectionTrait>(
    conn: &C,
    tenant: Uuid,
    endpoint: Uuid,
    batch: Batch,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let n = batch.ids.len();
    insert(conn, vec![tenant; n], vec![endpoint; n], batch, now, true).await
}

/// Inserts messages; `requeue` turns a conflict into a new round, else it is skipped.
/// The ordinals follow the arrays' order (a function scan yields them in order).
async fn insert<C: ConnectionTrait>(
    conn: &C,
    tenants: Vec<Uuid>,
    endpoints: Vec<Uuid>,
    batch: Batch,
    now: DateTime<Utc>,
    requeue: bool,
) -> Result<u64, DbErr> {
    if batch.ids.is_empty() {
        return Ok(0);
    }
    let conflict = if requeue {
        "DO UPDATE SET status = 'pending', next_attempt_at = EXCLUDED.next_attempt_at,
                       round_start = webhook_messages.attempts, lease_until = NULL, lease_owner = NULL"
    } else {
        "DO NOTHING"
    };
    let done = conn
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "INSERT INTO webhook_messages (tenant_id, endpoint_id, id, ordinal, event_type,
                        aggregate_type, aggregate_id, sequence, next_attempt_at, created_at)
                 SELECT u.t, u.e, u.id, nextval('webhook_message_order'), u.kind, u.agg, u.stream,
                        u.seq, $7, $7
                   FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                               $6::bigint[], $8::text[])
                        AS u(t, e, id, kind, stream, seq, agg)
                 ON CONFLICT (tenant_id, endpoint_id, id) {conflict}"
            ),
            [
                tenants.into(),
                endpoints.into(),
                batch.ids.into(),
                batch.kinds.into(),
                batch.streams.into(),
                batch.sequences.into(),
                now.into(),
                batch.aggregate_types.into(),
            ],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// An enabled endpoint: its id, filter and when it was made.
type Target = (Uuid, Vec<String>, DateTime<Utc>);

/// What one dispatcher batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// Events read past the checkpoint.
    pub read: u64,
    /// Messages made.
    pub queued: u64,
    /// Another process held the lock.
    pub busy: bool,
}

/// Makes the messages of up to `limit` events past the checkpoint, through `db` (the
/// `crm_projector` role, which sees every workspace), due at `now`.
///
/// # Errors
/// Database errors; the batch is then rolled back whole.
pub async fn run_once(
    db: &DatabaseConnection,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Dispatched, DbErr> {
    let txn = db.begin().await?;
    let locked = txn
        .query_one(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock(hashtext('crm-webhooks:dispatch')) AS locked",
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "locked"))
        .transpose()?
        .unwrap_or(false);
    if !locked {
        return Ok(Dispatched {
            busy: true,
            ..Dispatched::default()
        });
    }
    let from = load_checkpoint(&txn, CHECKPOINT).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT tenant_id, aggregate_type, aggregate_id, sequence, event_type, recorded_at,
                    transaction_id::text AS tx, global_position
               FROM events
              WHERE (transaction_id, global_position) > ($1::xid8, $2)
                AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              ORDER BY transaction_id, global_position
              LIMIT $3",
            [
                from.transaction_id.clone().into(),
                from.global_position.into(),
                i64::try_from(limit).unwrap_or(500).into(),
            ],
        ))
        .await?;
    let Some(last) = rows.last() else {
        txn.commit().await?;
        return Ok(Dispatched::default());
    };
    let last = Position {
        transaction_id: last.try_get("", "tx")?,
        global_position: last.try_get("", "global_position")?,
    };
    let mut tenants: Vec<Uuid> = rows
        .iter()
        .filter_map(|r| r.try_get::<Uuid>("", "tenant_id").ok())
        .collect();
    tenants.sort_unstable();
    tenants.dedup();
    let endpoints = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT tenant_id, id, event_types, created_at FROM webhook_endpoints
              WHERE tenant_id = ANY($1) AND enabled AND NOT deleted",
            [tenants.into()],
        ))
        .await?;
    let mut by_tenant: std::collections::HashMap<Uuid, Vec<Target>> =
        std::collections::HashMap::new();
    for e in &endpoints {
        by_tenant
            .entry(e.try_get("", "tenant_id")?)
            .or_default()
            .push((
                e.try_get("", "id")?,
                e.try_get("", "event_types")?,
                e.try_get("", "created_at")?,
            ));
    }
    let (mut ts, mut es) = (Vec::new(), Vec::new());
    let mut batch = Batch::default();
    if !by_tenant.is_empty() {
        for row in &rows {
            let tenant: Uuid = row.try_get("", "tenant_id")?;
            let Some(targets) = by_tenant.get(&tenant) else {
                continue;
            };
            let aggregate_type: String = row.try_get("", "aggregate_type")?;
            let aggregate_id: String = row.try_get("", "aggregate_id")?;
            let sequence: i64 = row.try_get("", "sequence")?;
            let event_type: String = row.try_get("", "event_type")?;
            let recorded_at: DateTime<Utc> = row.try_get("", "recorded_at")?;
            let kind = feed::type_name(&aggregate_type, &event_type);
            for (endpoint, types, created_at) in targets {
                if *created_at <= recorded_at && feed::wanted(types, &kind) {
                    ts.push(tenant);
                    es.push(*endpoint);
                    batch.push(kind.clone(), &aggregate_type, &aggregate_id, sequence);
                }
            }
        }
    }
    let queued = insert(&txn, ts, es, batch, now, false).await?;
    save_checkpoint(&txn, CHECKPOINT, &last).await?;
    txn.commit().await?;
    Ok(Dispatched {
        read: rows.len() as u64,
        queued,
        busy: false,
    })
}
