//! Sends due webhook messages. Each server process runs a worker; a worker takes
//! messages by lease (`lease_until`, a minute), so two processes never send one message
//! at the same time, and a process that dies mid-delivery only delays it until the lease
//! runs out: the message is then sent again with the same `webhook-id` (at least once).
//!
//! Per endpoint, messages go in event order: only the oldest pending message of an
//! endpoint is due, so a message waiting for a retry holds back the ones after it until
//! it is delivered or has spent its retries; an endpoint that opted out (`ordered:
//! false`) has every pending message due at once. A request has 15 s; a 2xx answer is a
//! success; no redirect is followed; at most 1 KiB of the answer is read and kept. A 410
//! answer turns the endpoint off, and so does a failure five days after the first failure
//! since the last success; the workspace's trail and the endpoint say why.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use crm_domain::workspace::{WebhookChange, Workspace, WorkspaceCommand};
use crm_domain::{EntityId, EventMetadata, Guarded, TenantId};
use crm_store::TenantScope;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};
use uuid::Uuid;

use super::{schedule, signing, Webhooks};
use crate::clock::Clock;
use crate::commands::Commands;
use crate::error::AppError;
use crate::feed::{self, FeedEvent};
use crate::records::Services;

/// How long a request may take.
pub const TIMEOUT: StdDuration = StdDuration::from_secs(15);
/// How long a taken message is the taker's.
pub const LEASE: Duration = Duration::seconds(60);
/// Bytes of an answer kept in the log.
pub const RESPONSE_CAP: usize = 1024;
/// How long an endpoint may fail before it is turned off.
pub const FAILING_LIMIT: Duration = Duration::days(5);
/// The system actor of the worker's events.
pub const ACTOR: &str = "webhooks";

/// A server process's webhook worker.
#[derive(Clone)]
pub struct Worker {
    /// `crm_projector`: messages of every workspace.
    pub projector: DatabaseConnection,
    /// `crm_app`: renders events under the message's workspace scope.
    pub app: DatabaseConnection,
    /// Appends the trail's record when the worker turns an endpoint off.
    pub commands: Commands,
    /// Secrets and destinations.
    pub hooks: Webhooks,
    /// Due times and leases follow it (tests move it).
    pub clock: Arc<dyn Clock>,
    /// Messages sent at once.
    pub concurrency: u64,
    owner: Uuid,
    client: reqwest::Client,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// A message taken for delivery.
#[derive(Debug, Clone)]
struct Taken {
    tenant: Uuid,
    endpoint: Uuid,
    id: Uuid,
    event_type: String,
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    sequence: Option<i64>,
    test_body: Option<serde_json::Value>,
    attempts: i32,
    round_start: i32,
}

/// How one attempt ended.
#[derive(Debug, Clone, Default)]
struct Outcome {
    status: Option<u16>,
    error: Option<String>,
    response: Option<String>,
    retry_after: Option<Duration>,
    millis: i32,
}

impl Outcome {
    fn failed(error: impl Into<String>) -> Self {
        Self {
            error: Some(error.into()),
            ..Self::default()
        }
    }

    fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Worker {
    /// A worker with its own lease owner id and an HTTP client that resolves through
    /// the destinations' guard, follows no redirect and uses no proxy.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(
        projector: DatabaseConnection,
        app: DatabaseConnection,
        commands: Commands,
        hooks: Webhooks,
        clock: Arc<dyn Clock>,
        concurrency: u64,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(hooks.destinations.resolver())
            .user_agent(concat!("crm-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            projector,
            app,
            commands,
            hooks,
            clock,
            concurrency: concurrency.max(1),
            owner: Uuid::now_v7(),
            client,
        })
    }

    /// Dispatches new events and sends what is due until `shutdown` resolves, pausing
    /// `idle` when there was nothing to do. Errors are logged and retried.
    pub async fn run(self, idle: StdDuration, shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut shutdown = shutdown;
        loop {
            let busy = match self.run_once().await {
                Ok(n) => n > 0,
                Err(err) => {
                    tracing::error!(error = %err, "webhook worker round failed");
                    false
                }
            };
            let pause = if busy { StdDuration::ZERO } else { idle };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => return,
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// One round: a dispatcher batch, then the due messages taken and sent. Returns how
    /// much was done (events read plus messages sent).
    ///
    /// # Errors
    /// Database errors.
    pub async fn run_once(&self) -> Result<u64, AppError> {
        let dispatched = super::dispatch::run_once(&self.projector, 500, self.clock.now()).await?;
        let taken = self.take().await?;
        let sent = taken.len() as u64;
        futures::future::join_all(taken.into_iter().map(|m| self.deliver(m))).await;
        Ok(dispatched.read + sent)
    }

    /// Leases the due head message of up to `concurrency` endpoints.
    async fn take(&self) -> Result<Vec<Taken>, AppError> {
        let now = self.clock.now();
        let rows = self
            .projector
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE webhook_messages m
                    SET lease_until = $1::timestamptz + $4 * interval '1 second', lease_owner = $2
                   FROM (SELECT h.tenant_id, h.endpoint_id, h.id
                           FROM (SELECT DISTINCT ON (m.tenant_id, m.endpoint_id,
                                                     CASE WHEN e.ordered THEN NULL ELSE m.id END)
                                        m.tenant_id, m.endpoint_id, m.id, m.next_attempt_at,
                                        m.lease_until
                                   FROM webhook_messages m
                                   JOIN webhook_endpoints e
                                     ON e.tenant_id = m.tenant_id AND e.id = m.endpoint_id
                                  WHERE m.status = 'pending' AND e.enabled AND NOT e.deleted
                                  ORDER BY m.tenant_id, m.endpoint_id,
                                           CASE WHEN e.ordered THEN NULL ELSE m.id END, m.ordinal) h
                          WHERE h.next_attempt_at <= $1
                            AND (h.lease_until IS NULL OR h.lease_until < $1)
                          LIMIT $3) pick
                  WHERE m.tenant_id = pick.tenant_id AND m.endpoint_id = pick.endpoint_id
                    AND m.id = pick.id AND m.status = 'pending'
                    AND (m.lease_until IS NULL OR m.lease_until < $1)
              RETURNING m.tenant_id, m.endpoint_id, m.id, m.event_type, m.aggregate_type,
                        m.aggregate_id, m.sequence,
                        m.test_body, m.attempts, m.round_start",
                [
                    now.into(),
                    self.owner.into(),
                    i64::try_from(self.concurrency).unwrap_or(8).into(),
                    LEASE.num_seconds().into(),
                ],
            ))
            .await?;
        rows.iter()
            .map(|r: &QueryResult| {
                Ok(Taken {
                    tenant: r.try_get("", "tenant_id")?,
                    endpoint: r.try_get("", "endpoint_id")?,
                    id: r.try_get("", "id")?,
                    event_type: r.try_get("", "event_type")?,
                    aggregate_type: r.try_get("", "aggregate_type")?,
                    aggregate_id: r.try_get("", "aggregate_id")?,
                    sequence: r.try_get("", "sequence")?,
                    test_body: r.try_get("", "test_body")?,
                    attempts: r.try_get("", "attempts")?,
                    round_start: r.try_get("", "round_start")?,
                })
            })
            .collect::<Result<_, sea_orm::DbErr>>()
            .map_err(AppError::from)
    }

    /// Sends one message and records the attempt; errors are logged (the lease then
    /// runs out and the message is taken again).
    async fn deliver(&self, message: Taken) {
        let started = self.clock.now();
        let outcome = match self.attempt(&message).await {
            Ok(outcome) => outcome,
            Err(err) => Outcome::failed(format!("not sent: {err}")),
        };
        if let Err(err) = self.record(&message, started, outcome).await {
            tracing::error!(error = %err, message = %message.id, "recording a webhook attempt failed");
        }
    }

    /// Builds, signs and sends the message.
    async fn attempt(&self, message: &Taken) -> Result<Outcome, AppError> {
        let row = self
            .projector
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT url, secret, secret_nonce, previous_secret, previous_nonce, previous_until
                   FROM webhook_endpoints WHERE tenant_id = $1 AND id = $2",
                [message.tenant.into(), message.endpoint.into()],
            ))
            .await?
            .ok_or(AppError::NotFound)?;
        let url: String = row.try_get("", "url")?;
        let mut secrets = vec![self.hooks.secrets.open(
            message.tenant,
            message.endpoint,
            &row.try_get::<Vec<u8>>("", "secret")?,
            &row.try_get::<Vec<u8>>("", "secret_nonce")?,
        )?];
        let previous: Option<Vec<u8>> = row.try_get("", "previous_secret")?;
        let previous_nonce: Option<Vec<u8>> = row.try_get("", "previous_nonce")?;
        let until: Option<DateTime<Utc>> = row.try_get("", "previous_until")?;
        if let (Some(p), Some(n), Some(until)) = (previous, previous_nonce, until) {
            if until > self.clock.now() {
                secrets.push(
                    self.hooks
                        .secrets
                        .open(message.tenant, message.endpoint, &p, &n)?,
                );
            }
        }
        let body = self.body(message).await?;
        let Ok(url) = self.hooks.destinations.check_url(&url) else {
            return Ok(Outcome::failed("the URL is no longer allowed"));
        };
        if let Some(ip) = super::destinations::literal(&url) {
            if let Err(why) = self
                .hooks
                .destinations
                .check_ip(url.host_str().unwrap_or_default(), ip)
            {
                return Ok(Outcome::failed(why));
            }
        }
        let id = message.id.to_string();
        // Receivers compare it with their own clocks (replay protection): real time.
        let timestamp = Utc::now().timestamp();
        let signature = signing::header(&secrets, &id, timestamp, &body);
        let clock = std::time::Instant::now();
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        let mut outcome = match sent {
            Err(err) => Outcome::failed(describe(&err)),
            Ok(mut response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| schedule::retry_after(v, Utc::now()));
                let mut kept = Vec::new();
                while kept.len() < RESPONSE_CAP {
                    match response.chunk().await {
                        Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                kept.truncate(RESPONSE_CAP);
                Outcome {
                    status: Some(status),
                    error: None,
                    response: Some(String::from_utf8_lossy(&kept).replace('\0', "")),
                    retry_after: retry_after.filter(|_| schedule::honours_retry_after(status)),
                    millis: 0,
                }
            }
        };
        outcome.millis = i32::try_from(clock.elapsed().as_millis()).unwrap_or(i32::MAX);
        Ok(outcome)
    }

    /// The message's body: `{"type", "timestamp", "data"}` (the Standard Webhooks
    /// payload shape), `data` being the changes feed's event, rendered now so personal
    /// data erased since the event is left out.
    async fn body(&self, message: &Taken) -> Result<Vec<u8>, AppError> {
        if let Some(body) = &message.test_body {
            return Ok(serde_json::to_vec(body).unwrap_or_default());
        }
        let (Some(aggregate_type), Some(aggregate_id), Some(sequence)) = (
            &message.aggregate_type,
            &message.aggregate_id,
            message.sequence,
        ) else {
            return Err(AppError::Internal("a message without its event".into()));
        };
        // The worker serves this message's workspace only, named by the message row.
        let scope = TenantScope::for_system(TenantId(message.tenant));
        let txn = scope.read(&self.app).await?;
        let row = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT metadata FROM events
                  WHERE tenant_id = $1 AND aggregate_id = $2 AND sequence = $3",
                [
                    message.tenant.into(),
                    aggregate_id.clone().into(),
                    sequence.into(),
                ],
            ))
            .await?;
        txn.commit().await?;
        let metadata: serde_json::Value = row
            .ok_or_else(|| AppError::Internal("the message's event is gone".into()))?
            .try_get("", "metadata")?;
        let mut event = [FeedEvent::bare(
            message.event_type.clone(),
            aggregate_type,
            aggregate_id,
            sequence,
            &metadata,
        )];
        let services = Services {
            db: &self.app,
            commands: &self.commands,
        };
        feed::enrich(services, &scope, &mut event).await?;
        let [event] = event;
        let body = serde_json::json!({
            "type": event.kind,
            "timestamp": event.occurred_at,
            "data": event,
        });
        Ok(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Logs the attempt and moves the message on: delivered, due again, or failed; turns
    /// the endpoint off on 410 or after five days of failures.
    async fn record(
        &self,
        message: &Taken,
        started: DateTime<Utc>,
        outcome: Outcome,
    ) -> Result<(), AppError> {
        let now = self.clock.now();
        let attempt = message.attempts + 1;
        let success = outcome.succeeded();
        let next = if success {
            None
        } else {
            let in_round = u32::try_from(attempt - message.round_start).unwrap_or(u32::MAX);
            let jitter = rand::random::<f64>() * 2.0 - 1.0;
            schedule::next_wait(in_round, outcome.retry_after, jitter).map(|w| now + w)
        };
        let status = match (success, next) {
            (true, _) => "delivered",
            (false, Some(_)) => "pending",
            (false, None) => "failed",
        };
        let txn = sea_orm::TransactionTrait::begin(&self.projector).await?;
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO webhook_attempts (tenant_id, endpoint_id, message_id, attempt, started_at,
                    duration_ms, status, error, response, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT DO NOTHING",
            [
                message.tenant.into(),
                message.endpoint.into(),
                message.id.into(),
                attempt.into(),
                started.into(),
                outcome.millis.into(),
                outcome.status.map(i32::from).into(),
                outcome.error.clone().into(),
                outcome.response.clone().into(),
                next.into(),
            ],
        ))
        .await?;
        txn.execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE webhook_messages
                SET status = $5, attempts = $4, next_attempt_at = coalesce($6, next_attempt_at),
                    delivered_at = CASE WHEN $5 = 'delivered' THEN $7 ELSE delivered_at END,
                    lease_until = NULL, lease_owner = NULL
              WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3 AND lease_owner = $8",
            [
                message.tenant.into(),
                message.endpoint.into(),
                message.id.into(),
                attempt.into(),
                status.into(),
                next.into(),
                now.into(),
                self.owner.into(),
            ],
        ))
        .await?;
        let failing_since: Option<DateTime<Utc>> = txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE webhook_endpoints
                    SET failing_since = CASE WHEN $3 THEN NULL ELSE coalesce(failing_since, $4) END
                  WHERE tenant_id = $1 AND id = $2
              RETURNING failing_since",
                [
                    message.tenant.into(),
                    message.endpoint.into(),
                    success.into(),
                    now.into(),
                ],
            ))
            .await?
            .map(|r| r.try_get("", "failing_since"))
            .transpose()?
            .flatten();
        txn.commit().await?;
        crate::metrics::webhook_attempt(if success { "delivered" } else { "failed" });
        let reason = if outcome.status == Some(410) {
            Some("the receiver answered 410 Gone".to_owned())
        } else {
            failing_since
                .filter(|since| !success && now - *since >= FAILING_LIMIT)
                .map(|since| format!("every delivery failed since {}", since.to_rfc3339()))
        };
        if let Some(reason) = reason {
            self.disable(message.tenant, message.endpoint, reason)
                .await?;
            crate::metrics::webhook_endpoint_disabled();
        }
        Ok(())
    }

    /// Turns an endpoint off with `reason`, and records it in the workspace's trail.
    async fn disable(&self, tenant: Uuid, endpoint: Uuid, reason: String) -> Result<(), AppError> {
        let meta = EventMetadata::for_system(TenantId(tenant), ACTOR);
        crate::unit_of_work::again(|| async {
            let uow = self.commands.unit(&meta).await?;
            let flipped = uow
                .connection()
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "UPDATE webhook_endpoints SET enabled = false, disabled_reason = $3, updated_at = now()
                      WHERE tenant_id = $1 AND id = $2 AND enabled",
                    [tenant.into(), endpoint.into(), reason.clone().into()],
                ))
                .await?
                .rows_affected();
            if flipped == 0 {
                return uow.rollback().await;
            }
            let command = WorkspaceCommand::RecordWebhookChange {
                endpoint_id: EntityId(endpoint),
                change: WebhookChange::Disabled {
                    reason: reason.clone(),
                },
            };
            self.commands
                .run_in::<Workspace, _>(&uow, EntityId(tenant), Guarded::from(command), &meta)
                .await?;
            tracing::warn!(%tenant, %endpoint, %reason, "webhook endpoint turned off");
            uow.commit().await
        })
        .await
    }
}

/// A transport failure in a sentence (its causes joined), with no secret in it.
fn describe(err: &reqwest::Error) -> String {
    let mut text = if err.is_timeout() {
        "timed out after 15 s".to_owned()
    } else if err.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}
