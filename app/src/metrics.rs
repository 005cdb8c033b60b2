//! The service's own metrics, recorded through the `metrics` facade: this crate names and
//! counts, the server installs the Prometheus recorder and serves `GET /metrics`
//! (`crm_api::metrics`). With no recorder installed (the command line, most tests) every
//! call here is a no-op. `docs/operations.md` lists each metric with its meaning and a
//! suggested alert; the names follow Prometheus' conventions (a `crm_` prefix, base units,
//! `_total` on counters).
//!
//! [`observe_backlogs`] reads what only the database knows (projector lag, webhook
//! backlog) when a scrape asks for it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

/// A request refused by a rate limit; `limit` is `login_ip`, `login_account` or
/// `workspace`.
pub fn rate_limited(limit: &'static str) {
    metrics::counter!("crm_rate_limit_rejections_total", "limit" => limit).increment(1);
}

/// A sign-in refused: `reason` is `unknown_account` (no such active account),
/// `wrong_password` or `second_factor`.
pub fn sign_in_failed(reason: &'static str) {
    metrics::counter!("crm_sign_in_failures_total", "reason" => reason).increment(1);
}

/// Password hashes waiting for a permit (`delta` +1 when one starts waiting, -1 when it
/// stops).
pub fn hashes_waiting(delta: f64) {
    metrics::gauge!("crm_password_hashes_waiting").increment(delta);
}

/// Password hashes running now (`delta` as for [`hashes_waiting`]).
pub fn hashes_running(delta: f64) {
    metrics::gauge!("crm_password_hashes_running").increment(delta);
}

/// A sign-in answered 503 because no hashing permit came in time.
pub fn hash_refused() {
    metrics::counter!("crm_password_hashes_refused_total").increment(1);
}

/// One webhook delivery attempt: `outcome` is `delivered` or `failed` (a retry follows,
/// or the message failed for good).
pub fn webhook_attempt(outcome: &'static str) {
    metrics::counter!("crm_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// An endpoint turned off by the worker (410 Gone, or failing for five days).
pub fn webhook_endpoint_disabled() {
    metrics::counter!("crm_webhook_endpoints_disabled_total").increment(1);
}

/// The most events [`observe_backlogs`] counts behind a checkpoint (a scrape stays cheap
/// however far behind a reader is).
pub const LAG_COUNT_CAP: i64 = 100_000;

/// Sets the gauges only the database can answer, through `db` (a role that reads every
/// workspace): for each reader of the event log (`read_models`, the catch-up projector;
/// `webhooks`, the dispatcher) the events past its checkpoint (at most
/// [`LAG_COUNT_CAP`]) and the age in seconds of the oldest; and the webhook messages
/// waiting to be sent, by whether their endpoint is enabled (a disabled endpoint's wait
/// until it is turned on again).
///
/// # Errors
/// The database's.
pub async fn observe_backlogs<C: ConnectionTrait>(db: &C) -> Result<(), DbErr> {
    for reader in ["read_models", "webhooks"] {
        let row = db
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) AS events,
                        coalesce(extract(epoch FROM now() - min(recorded_at)), 0)::float8 AS seconds
                   FROM (SELECT e.recorded_at
                           FROM events e, projector_checkpoints c
                          WHERE c.name = $1
                            AND (e.transaction_id, e.global_position)
                                > (c.last_transaction_id, c.last_position)
                          ORDER BY e.transaction_id, e.global_position
                          LIMIT $2) behind",
                [reader.into(), LAG_COUNT_CAP.into()],
            ))
            .await?;
        let (events, seconds) = match row {
            Some(r) => (
                r.try_get::<i64>("", "events")?,
                r.try_get::<f64>("", "seconds")?,
            ),
            None => (0, 0.0),
        };
        metrics::gauge!("crm_event_reader_lag_events", "reader" => reader).set(events as f64);
        metrics::gauge!("crm_event_reader_lag_seconds", "reader" => reader).set(seconds);
    }
    let rows = db
        .query_all(Statement::from_string(
            DbBackend::Postgres,
            "SELECT en.enabled,
                    (SELECT count(*) FROM webhook_messages m
                       JOIN webhook_endpoints e ON e.tenant_id = m.tenant_id AND e.id = m.endpoint_id
                      WHERE m.status = 'pending' AND e.enabled = en.enabled AND NOT e.deleted) AS n
               FROM (VALUES (true), (false)) AS en(enabled)",
        ))
        .await?;
    for row in rows {
        let enabled: bool = row.try_get("", "enabled")?;
        let n: i64 = row.try_get("", "n")?;
        let endpoint = if enabled { "enabled" } else { "disabled" };
        metrics::gauge!("crm_webhook_pending_messages", "endpoint" => endpoint).set(n as f64);
    }
    Ok(())
}
