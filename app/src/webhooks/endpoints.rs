//! The use cases behind `/v1/webhooks` (Owner, Admin, and API keys with their role).
//! Every change of an endpoint is a workspace event in the trail, committed with the
//! endpoint's row in one unit of work; the signing secret is shown once, at creation and
//! at rotation, and stored sealed.

use chrono::{DateTime, Utc};
use crm_domain::workspace::{WebhookChange, Workspace, WorkspaceCommand};
use crm_domain::{Action, EntityId, EventMetadata, Guarded};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{signing, Webhooks, MAX_ENDPOINTS, ROTATION_OVERLAP};
use crate::caller::Caller;
use crate::error::AppError;
use crate::feed;
use crate::records::Services;
use crate::unit_of_work::{again, UnitOfWork};

/// Longest description, in characters.
const DESCRIPTION_MAX: usize = 500;

/// Most events one replay queues.
pub const MAX_REPLAY: i64 = 10_000;

/// `POST /v1/webhooks` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"url": "https://hooks.example.com/crm", "description": "Deals to the data warehouse", "event_types": ["deal.*", "contact.updated"]}))]
pub struct NewEndpointInput {
    /// `https://…` (`http://` only to a host in `webhooks.allow_hosts`), at most 2,048
    /// characters; never a private, loopback or link-local address unless allowed.
    pub url: String,
    /// What it is for, at most 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Event types (`contact.updated`) or families (`contact.*`) to send, at most 50;
    /// all when empty or absent.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// `true` (the default): messages go one at a time in event order, a message waiting
    /// for a retry holding back the later ones; `false`: in parallel, in no set order.
    #[serde(default)]
    pub ordered: Option<bool>,
}

/// `PATCH /v1/webhooks/{id}` body; absent fields stay.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    /// As at creation.
    pub url: Option<String>,
    /// As at creation.
    pub description: Option<String>,
    /// As at creation.
    pub event_types: Option<Vec<String>>,
    /// Turn it on (clears a disabling by the server) or off.
    pub enabled: Option<bool>,
    /// As at creation.
    pub ordered: Option<bool>,
}

/// A webhook endpoint, never with its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// Its id.
    pub id: Uuid,
    /// Where messages go.
    pub url: String,
    /// What it is for.
    pub description: String,
    /// Types or families sent; empty for all.
    pub event_types: Vec<String>,
    /// Whether messages are sent.
    pub enabled: bool,
    /// Whether messages go one at a time in event order (else in parallel).
    pub ordered: bool,
    /// Why the server turned it off (410 Gone from the receiver, or five days of
    /// failures); null when on or turned off by a person.
    pub disabled_reason: Option<String>,
    /// The first failed attempt since the last success; null when healthy.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the secret before the last rotation still signs.
    pub previous_secret_valid_until: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new endpoint with its signing secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewEndpoint {
    /// The endpoint.
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// `whsec_<base64 of 32 random bytes>`: verify `webhook-signature` with it
    /// (Standard Webhooks). Stored sealed; it cannot be shown again.
    pub secret: String,
}

/// A rotated secret (shown this once).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The new secret, `whsec_…`.
    pub secret: String,
    /// Until then messages carry a signature by the old secret too.
    pub previous_secret_valid_until: DateTime<Utc>,
}

const ENDPOINT_COLUMNS: &str = "id, url, description, event_types, enabled, ordered, disabled_reason, failing_since, \
     CASE WHEN previous_until > now() THEN previous_until END AS previous_until, created_at, updated_at";

fn endpoint_of(row: &QueryResult) -> Result<Endpoint, sea_orm::DbErr> {
    Ok(Endpoint {
        id: row.try_get("", "id")?,
        url: row.try_get("", "url")?,
        description: row.try_get("", "description")?,
        event_types: row.try_get("", "event_types")?,
        enabled: row.try_get("", "enabled")?,
        ordered: row.try_get("", "ordered")?,
        disabled_reason: row.try_get("", "disabled_reason")?,
        failing_since: row.try_get("", "failing_since")?,
        previous_secret_valid_until: row.try_get("", "previous_until")?,
        created_at: row.try_get("", "created_at")?,
        updated_at: row.try_get("", "updated_at")?,
    })
}

fn check_description(text: Option<String>) -> Result<String, AppError> {
    let text = text.unwrap_or_default().trim().to_owned();
    if text.chars().count() > DESCRIPTION_MAX || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            "description",
            format!("at most {DESCRIPTION_MAX} characters, no control characters"),
        ));
    }
    Ok(text)
}

fn check_types(types: Option<Vec<String>>) -> Result<Vec<String>, AppError> {
    let types = types.unwrap_or_default();
    feed::check_types(&types).map_err(|_| {
        AppError::invalid(
            "event_types",
            "each `<entity>.<event>` (contact.updated) or `<entity>.*`, at most 50",
        )
    })?;
    Ok(types)
}

fn check_url(hooks: &Webhooks, url: &str) -> Result<String, AppError> {
    hooks
        .destinations
        .check_url(url)
        .map(|u| u.to_string())
        .map_err(|why| AppError::invalid("url", why))
}

/// Appends the trail's record of `change` in `uow`.
async fn record(
    s: Services<'_>,
    uow: &UnitOfWork,
    meta: &EventMetadata,
    endpoint: Uuid,
    change: WebhookChange,
) -> Result<(), AppError> {
    let command = WorkspaceCommand::RecordWebhookChange {
        endpoint_id: EntityId(endpoint),
        change,
    };
    s.commands
        .run_in::<Workspace, _>(
            uow,
            EntityId(meta.tenant_id.0),
            Guarded::from(command),
            meta,
        )
        .await
        .map(drop)
}

/// Makes an endpoint with a new secret; returns it with the secret (shown this once).
///
/// # Errors
/// 403; 422 on `url`, `description`, `event_types`; 409 beyond [`MAX_ENDPOINTS`].
pub async fn create(
    s: Services<'_>,
    hooks: &Webhooks,
    caller: &Caller,
    meta: &EventMetadata,
    body: NewEndpointInput,
) -> Result<NewEndpoint, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let url = check_url(hooks, &body.url)?;
    let description = check_description(body.description)?;
    let event_types = check_types(body.event_types)?;
    let ordered = body.ordered.unwrap_or(true);
    let id = Uuid::now_v7();
    let secret = signing::new_secret();
    let (sealed, nonce) = hooks.secrets.seal(caller.tenant.0, id, &secret)?;
    let endpoint = again(|| async {
        let uow = s.commands.unit(meta).await?;
        let count = uow
            .connection()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT count(*) AS n FROM webhook_endpoints WHERE tenant_id = $1 AND NOT deleted",
                [caller.tenant.0.into()],
            ))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if count >= i64::try_from(MAX_ENDPOINTS).unwrap_or(i64::MAX) {
            return Err(AppError::Conflict(format!(
                "a workspace has at most {MAX_ENDPOINTS} webhook endpoints"
            )));
        }
        let row = uow
            .connection()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "INSERT INTO webhook_endpoints (tenant_id, id, url, description, event_types,
                            secret, secret_nonce, ordered, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), now())
                     RETURNING {ENDPOINT_COLUMNS}"
                ),
                [
                    caller.tenant.0.into(),
                    id.into(),
                    url.clone().into(),
                    description.clone().into(),
                    event_types.clone().into(),
                    sealed.clone().into(),
                    nonce.clone().into(),
                    ordered.into(),
                ],
            ))
            .await?
            .ok_or_else(|| AppError::Internal("no endpoint row returned".into()))?;
        let endpoint = endpoint_of(&row)?;
        let change = WebhookChange::Created {
            url: url.clone(),
            description: description.clone(),
            event_types: event_types.clone(),
            ordered,
        };
        record(s, &uow, meta, id, change).await?;
        uow.commit().await?;
        Ok(endpoint)
    })
    .await?;
    Ok(NewEndpoint {
        endpoint,
        secret: signing::encode_secret(&secret),
    })
}

/// The workspace's endpoints, oldest first.
///
/// # Errors
/// 403; database errors.
pub async fn list(s: Services<'_>, caller: &Caller) -> Result<Vec<Endpoint>, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let txn = caller.scope.read(s.db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                  WHERE tenant_id = $1 AND NOT deleted ORDER BY id"
            ),
            [caller.tenant.0.into()],
        ))
        .await?;
    txn.commit().await?;
    Ok(rows.iter().map(endpoint_of).collect::<Result<_, _>>()?)
}

/// One endpoint of the workspace.
///
/// # Errors
/// 403; 404 (another workspace's, deleted, or none).
pub async fn get(s: Services<'_>, caller: &Caller, id: Uuid) -> Result<Endpoint, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let txn = caller.scope.read(s.db).await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                  WHERE tenant_id = $1 AND id = $2 AND NOT deleted"
            ),
            [caller.tenant.0.into(), id.into()],
        ))
        .await?;
    txn.commit().await?;
    row.map(|r| endpoint_of(&r))
        .transpose()?
        .ok_or(AppError::NotFound)
}

/// The endpoint's row locked in `uow`, or 404.
async fn lock(uow: &UnitOfWork, id: Uuid) -> Result<Endpoint, AppError> {
    let row = uow
        .connection()
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                  WHERE tenant_id = $1 AND id = $2 AND NOT deleted FOR UPDATE"
            ),
            [uow.tenant().0.into(), id.into()],
        ))
        .await?;
    row.map(|r| endpoint_of(&r))
        .transpose()?
        .ok_or(AppError::NotFound)
}

/// Changes an endpoint's URL, description, filter or state; turning it on clears the
/// server's disabling and its failure streak. A patch that changes nothing appends no
/// event.
///
/// # Errors
/// 403; 404; 422 as at creation.
pub async fn update(
    s: Services<'_>,
    hooks: &Webhooks,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<Endpoint, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let url = patch
        .url
        .as_deref()
        .map(|u| check_url(hooks, u))
        .transpose()?;
    let description = patch
        .description
        .map(|d| check_description(Some(d)))
        .transpose()?;
    let event_types = patch
        .event_types
        .map(|t| check_types(Some(t)))
        .transpose()?;
    again(|| async {
        let uow = s.commands.unit(meta).await?;
        let before = lock(&uow, id).await?;
        let url = url.clone().filter(|u| *u != before.url);
        let description = description.clone().filter(|d| *d != before.description);
        let event_types = event_types.clone().filter(|t| *t != before.event_types);
        let enabled = patch.enabled.filter(|e| *e != before.enabled);
        let ordered = patch.ordered.filter(|o| *o != before.ordered);
        if url.is_none()
            && description.is_none()
            && event_types.is_none()
            && enabled.is_none()
            && ordered.is_none()
        {
            uow.commit().await?;
            return Ok(before);
        }
        let row = uow
            .connection()
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!(
                    "UPDATE webhook_endpoints
                        SET url = coalesce($3, url), description = coalesce($4, description),
                            event_types = coalesce($5, event_types), enabled = coalesce($6, enabled),
                            disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason END,
                            failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
                            ordered = coalesce($7, ordered), updated_at = now()
                      WHERE tenant_id = $1 AND id = $2
                  RETURNING {ENDPOINT_COLUMNS}"
                ),
                [
                    uow.tenant().0.into(),
                    id.into(),
                    url.clone().into(),
                    description.clone().into(),
                    event_types.clone().into(),
                    enabled.into(),
                    ordered.into(),
                ],
            ))
            .await?
            .ok_or(AppError::NotFound)?;
        let after = endpoint_of(&row)?;
        let change = WebhookChange::Updated {
            url,
            description,
            event_types,
            enabled,
            ordered,
        };
        record(s, &uow, meta, id, change).await?;
        uow.commit().await?;
        Ok(after)
    })
    .await
}

/// Deletes an endpoint: nothing more is sent to it, and its log goes with it.
///
/// # Errors
/// 403; 404.
pub async fn delete(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
) -> Result<(), AppError> {
    caller.require(Action::ManageWebhooks)?;
    again(|| async {
        let uow = s.commands.unit(meta).await?;
        lock(&uow, id).await?;
        uow.connection()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE webhook_endpoints SET deleted = true, enabled = false, updated_at = now()
                  WHERE tenant_id = $1 AND id = $2",
                [uow.tenant().0.into(), id.into()],
            ))
            .await?;
        record(s, &uow, meta, id, WebhookChange::Deleted).await?;
        uow.commit().await
    })
    .await
}

/// Replaces the signing secret; the old one keeps signing for [`ROTATION_OVERLAP`]
/// (messages carry both signatures), so receivers can switch without losing a message.
///
/// # Errors
/// 403; 404.
pub async fn rotate(
    s: Services<'_>,
    hooks: &Webhooks,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<RotatedSecret, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let secret = signing::new_secret();
    let (sealed, nonce) = hooks.secrets.seal(caller.tenant.0, id, &secret)?;
    let until = now + ROTATION_OVERLAP;
    again(|| async {
        let uow = s.commands.unit(meta).await?;
        lock(&uow, id).await?;
        uow.connection()
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE webhook_endpoints
                    SET previous_secret = secret, previous_nonce = secret_nonce, previous_until = $5,
                        secret = $3, secret_nonce = $4, updated_at = now()
                  WHERE tenant_id = $1 AND id = $2",
                [
                    uow.tenant().0.into(),
                    id.into(),
                    sealed.clone().into(),
                    nonce.clone().into(),
                    until.into(),
                ],
            ))
            .await?;
        record(s, &uow, meta, id, WebhookChange::SecretRotated).await?;
        uow.commit().await
    })
    .await?;
    Ok(RotatedSecret {
        secret: signing::encode_secret(&secret),
        previous_secret_valid_until: until,
    })
}

/// A message to an endpoint, as its delivery log shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    /// The `webhook-id` header: the changes feed's event id, or a random id for a test.
    pub id: Uuid,
    /// `contact.updated`, … or `webhook.test`.
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (every retry spent).
    pub status: String,
    /// Attempts made, all rounds together (the detail lists them as `attempts`).
    pub attempt_count: i32,
    /// When it is next tried (pending only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When a receiver took it (2xx).
    pub delivered_at: Option<DateTime<Utc>>,
    /// Opaque position for `before` (newest first).
    pub cursor: String,
}

/// One attempt to deliver a message.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: i32,
    /// When the request started.
    pub started_at: DateTime<Utc>,
    /// Milliseconds until the answer or the failure.
    pub duration_ms: i32,
    /// The receiver's HTTP status; null when none came.
    pub status: Option<i32>,
    /// Why it failed without a status (timeout, refused address, connection).
    pub error: Option<String>,
    /// The first 1 KiB of the answer.
    pub response: Option<String>,
    /// The retry this attempt scheduled; null after a success or the last retry.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A message with its attempts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageDetail {
    /// The message.
    #[serde(flatten)]
    pub message: Message,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
}

/// A page of an endpoint's delivery log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    /// Newest first.
    pub items: Vec<Message>,
    /// `before` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

const MESSAGE_COLUMNS: &str =
    "id, event_type, status, attempts, CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, created_at, delivered_at, ordinal";

fn message_of(row: &QueryResult) -> Result<Message, sea_orm::DbErr> {
    let ordinal: i64 = row.try_get("", "ordinal")?;
    Ok(Message {
        id: row.try_get("", "id")?,
        event_type: row.try_get("", "event_type")?,
        status: row.try_get("", "status")?,
        attempt_count: row.try_get("", "attempts")?,
        next_attempt_at: row.try_get("", "next_attempt_at")?,
        created_at: row.try_get("", "created_at")?,
        delivered_at: row.try_get("", "delivered_at")?,
        cursor: ordinal.to_string(),
    })
}

/// `GET /v1/webhooks/{id}/messages` query.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    /// Only `pending`, `delivered` or `failed` ones.
    pub status: Option<String>,
    /// A previous page's `next_cursor`.
    pub before: Option<String>,
    /// 1 to 100; default 50.
    pub limit: Option<u64>,
}

/// An endpoint's messages, newest first.
///
/// # Errors
/// 403; 404; 422 on `status`, `before`, `limit`.
pub async fn messages(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    query: MessageQuery,
) -> Result<MessagePage, AppError> {
    get(s, caller, id).await?;
    let limit = match query.limit {
        None => 50,
        Some(n @ 1..=100) => n as i64,
        Some(_) => return Err(AppError::invalid("limit", "must be 1 to 100")),
    };
    if let Some(status) = query.status.as_deref() {
        if !["pending", "delivered", "failed"].contains(&status) {
            return Err(AppError::invalid("status", "pending, delivered or failed"));
        }
    }
    let before = match query.before.as_deref() {
        None => i64::MAX,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| AppError::invalid("before", "not a cursor of this log"))?,
    };
    let txn = caller.scope.read(s.db).await?;
    let rows = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM webhook_messages
                  WHERE tenant_id = $1 AND endpoint_id = $2 AND ordinal < $3
                    AND ($4::text IS NULL OR status = $4)
                  ORDER BY ordinal DESC LIMIT $5"
            ),
            [
                caller.tenant.0.into(),
                id.into(),
                before.into(),
                query.status.clone().into(),
                (limit + 1).into(),
            ],
        ))
        .await?;
    txn.commit().await?;
    let mut items: Vec<Message> = rows.iter().map(message_of).collect::<Result<_, _>>()?;
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| items.last().map(|m| m.cursor.clone()))
        .flatten();
    Ok(MessagePage { items, next_cursor })
}

/// One message of an endpoint with its attempts.
///
/// # Errors
/// 403; 404.
pub async fn message(
    s: Services<'_>,
    caller: &Caller,
    id: Uuid,
    message_id: Uuid,
) -> Result<MessageDetail, AppError> {
    get(s, caller, id).await?;
    let txn = caller.scope.read(s.db).await?;
    let row = txn
        .query_one(Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT {MESSAGE_COLUMNS} FROM webhook_messages
                  WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3"
            ),
            [caller.tenant.0.into(), id.into(), message_id.into()],
        ))
        .await?;
    let Some(row) = row else {
        txn.commit().await?;
        return Err(AppError::NotFound);
    };
    let attempts = txn
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT attempt, started_at, duration_ms, status, error, response, next_attempt_at
               FROM webhook_attempts
              WHERE tenant_id = $1 AND endpoint_id = $2 AND message_id = $3 ORDER BY attempt",
            [caller.tenant.0.into(), id.into(), message_id.into()],
        ))
        .await?;
    txn.commit().await?;
    let attempts = attempts
        .iter()
        .map(|r| {
            Ok(Attempt {
                attempt: r.try_get("", "attempt")?,
                started_at: r.try_get("", "started_at")?,
                duration_ms: r.try_get("", "duration_ms")?,
                status: r.try_get("", "status")?,
                error: r.try_get("", "error")?,
                response: r.try_get("", "response")?,
                next_attempt_at: r.try_get("", "next_attempt_at")?,
            })
        })
        .collect::<Result<_, sea_orm::DbErr>>()?;
    Ok(MessageDetail {
        message: message_of(&row)?,
        attempts,
    })
}

/// Queues a message again now, with a fresh round of retries (a delivered or failed one
/// too: the receiver gets the same `webhook-id`).
///
/// # Errors
/// 403; 404.
pub async fn retry(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    message_id: Uuid,
    now: DateTime<Utc>,
) -> Result<MessageDetail, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let uow = s.commands.unit(meta).await?;
    lock(&uow, id).await?;
    let done = uow
        .connection()
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE webhook_messages
                SET status = 'pending', next_attempt_at = $4, round_start = attempts,
                    lease_until = NULL, lease_owner = NULL
              WHERE tenant_id = $1 AND endpoint_id = $2 AND id = $3",
            [
                uow.tenant().0.into(),
                id.into(),
                message_id.into(),
                now.into(),
            ],
        ))
        .await?;
    if done.rows_affected() == 0 {
        uow.rollback().await?;
        return Err(AppError::NotFound);
    }
    uow.commit().await?;
    message(s, caller, id, message_id).await
}

/// Sends a `webhook.test` message to the endpoint now (queued like any other).
///
/// # Errors
/// 403; 404.
pub async fn test(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<MessageDetail, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let message_id = Uuid::now_v7();
    let body = serde_json::json!({
        "type": "webhook.test",
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {"endpoint_id": id, "message": "A test message from the CRM."},
    });
    let uow = s.commands.unit(meta).await?;
    lock(&uow, id).await?;
    uow.connection()
        .execute(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO webhook_messages (tenant_id, endpoint_id, id, event_type, test_body,
                    next_attempt_at, created_at)
             VALUES ($1, $2, $3, 'webhook.test', $4, $5, $5)",
            [
                uow.tenant().0.into(),
                id.into(),
                message_id.into(),
                body.into(),
                now.into(),
            ],
        ))
        .await?;
    uow.commit().await?;
    message(s, caller, id, message_id).await
}

/// `POST /v1/webhooks/{id}/replay` body: one of `since` and `after`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-12-01T00:00:00Z"}))]
pub struct ReplayInput {
    /// Events recorded at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Events after this changes-feed cursor (`next_cursor` of `GET /v1/events`).
    pub after: Option<String>,
}

/// What a replay queued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Replayed {
    /// Messages queued (the endpoint's filter applied), in event order, at most 10,000.
    pub queued: u64,
    /// When the limit cut the replay short: the changes-feed cursor to replay `after` next.
    pub next_cursor: Option<String>,
}

/// Queues again, in commit order, every event of the workspace after a time or feed
/// position that the endpoint's filter takes: a message already made is sent again with
/// the same `webhook-id` and a fresh round of retries.
///
/// # Errors
/// 403; 404; 422 unless exactly one of `since` and `after` is given, or on a bad cursor.
pub async fn replay(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    body: ReplayInput,
    now: DateTime<Utc>,
) -> Result<Replayed, AppError> {
    caller.require(Action::ManageWebhooks)?;
    let (from_tx, from_pos) = match (&body.since, &body.after) {
        (Some(_), None) => ("0".to_owned(), 0),
        (None, Some(cursor)) => feed::decode_cursor(cursor, "after")?,
        _ => {
            return Err(AppError::invalid(
                "since",
                "give exactly one of `since` (a time) and `after` (a feed cursor)",
            ))
        }
    };
    let endpoint = get(s, caller, id).await?;
    let uow = s.commands.unit(meta).await?;
    let rows = uow
        .connection()
        .query_all(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT aggregate_type, aggregate_id, sequence, event_type,
                    transaction_id::text AS tx, global_position
               FROM events
              WHERE tenant_id = $1 AND (transaction_id, global_position) > ($2::xid8, $3)
                AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                AND ($4::timestamptz IS NULL OR recorded_at >= $4)
              ORDER BY transaction_id, global_position
              LIMIT $5",
            [
                uow.tenant().0.into(),
                from_tx.into(),
                from_pos.into(),
                body.since.into(),
                (MAX_REPLAY + 1).into(),
            ],
        ))
        .await?;
    let mut batch = super::dispatch::Batch::default();
    let mut last = None;
    for row in rows.iter().take(MAX_REPLAY as usize) {
        let aggregate_type: String = row.try_get("", "aggregate_type")?;
        let aggregate_id: String = row.try_get("", "aggregate_id")?;
        let sequence: i64 = row.try_get("", "sequence")?;
        let event_type: String = row.try_get("", "event_type")?;
        last = Some((
            row.try_get::<String>("", "tx")?,
            row.try_get::<i64>("", "global_position")?,
        ));
        let kind = feed::type_name(&aggregate_type, &event_type);
        if !feed::wanted(&endpoint.event_types, &kind) {
            continue;
        }
        batch.push(kind, &aggregate_type, &aggregate_id, sequence);
    }
    let queued = super::dispatch::enqueue(uow.connection(), uow.tenant().0, id, batch, now).await?;
    uow.commit().await?;
    let next_cursor = (rows.len() as i64 > MAX_REPLAY)
        .then(|| last.map(|(t, p)| feed::encode_cursor(&t, p)))
        .flatten();
    Ok(Replayed {
        queued,
        next_cursor,
    })
}
