//! `/v1/webhooks…`: a workspace's webhook endpoints, their delivery log, retries,
//! replays and test sends (Owner, Admin; `crm_app::webhooks`). Messages follow Standard
//! Webhooks 1.0: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

use actix_web::{delete, get, patch, post, web, HttpResponse};
use crm_app::webhooks::endpoints::{
    self, Endpoint, EndpointPatch, MessageDetail, MessagePage, MessageQuery, NewEndpoint,
    NewEndpointInput, ReplayInput, Replayed, RotatedSecret,
};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::Problem;
use crate::state::AppState;

/// The workspace's endpoints.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointList {
    /// Oldest first, never with a secret.
    pub items: Vec<Endpoint>,
}

/// Makes a webhook endpoint; its signing secret is shown this once. Each change of an
/// endpoint is an event of the workspace's trail.
///
/// # Errors
/// 403; 409 beyond 20 endpoints; 422 on `url` (not https, credentials, a private or
/// loopback address), `description` or `event_types`.
#[utoipa::path(
    tag = "webhooks",
    request_body = NewEndpointInput,
    responses(
        (status = 201, description = "The endpoint, with its secret shown this once.", body = NewEndpoint),
        (status = 409, description = "The workspace has 20 endpoints already.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[post("/webhooks")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<NewEndpointInput>,
) -> Result<HttpResponse, ApiError> {
    let made = endpoints::create(
        state.services(),
        &state.webhooks,
        &ctx.auth,
        &ctx.metadata,
        body,
    )
    .await?;
    Ok(HttpResponse::Created().json(made))
}

/// Lists the workspace's webhook endpoints.
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "webhooks",
    responses((status = 200, description = "Every endpoint.", body = EndpointList)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[get("/webhooks")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    let items = endpoints::list(state.services(), &auth).await?;
    Ok(HttpResponse::Ok().json(EndpointList { items }))
}

/// One webhook endpoint, with why the server turned it off, if it did.
///
/// # Errors
/// 403; 404 (another workspace's too).
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint.")),
    responses((status = 200, description = "The endpoint.", body = Endpoint)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[get("/webhooks/{id}")]
pub async fn show(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(endpoints::get(state.services(), &auth, *id).await?))
}

/// Changes a webhook endpoint's URL, description, filter, or turns it on or off
/// (turning it on clears the server's disabling).
///
/// # Errors
/// 403; 404; 422 as at creation.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint.")),
    request_body = EndpointPatch,
    responses((status = 200, description = "The endpoint as changed.", body = Endpoint)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[patch("/webhooks/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<EndpointPatch>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = endpoints::update(
        state.services(),
        &state.webhooks,
        &ctx.auth,
        &ctx.metadata,
        *id,
        body,
    )
    .await?;
    Ok(HttpResponse::Ok().json(endpoint))
}

/// Deletes a webhook endpoint: nothing more is sent to it.
///
/// # Errors
/// 403; 404.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint.")),
    responses((status = 204, description = "Deleted.")),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[delete("/webhooks/{id}")]
pub async fn remove(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    endpoints::delete(state.services(), &ctx.auth, &ctx.metadata, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Replaces the endpoint's signing secret (shown this once); for 24 hours messages carry
/// a signature by the old secret too, space-separated in `webhook-signature`.
///
/// # Errors
/// 403; 404.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint.")),
    responses((status = 200, description = "The new secret.", body = RotatedSecret)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[post("/webhooks/{id}/rotate-secret")]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let rotated = endpoints::rotate(
        state.services(),
        &state.webhooks,
        &ctx.auth,
        &ctx.metadata,
        *id,
        now,
    )
    .await?;
    Ok(HttpResponse::Ok().json(rotated))
}

/// Queues a `webhook.test` message to the endpoint, sent like any other.
///
/// # Errors
/// 403; 404.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint.")),
    responses((status = 202, description = "The message queued.", body = MessageDetail)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[post("/webhooks/{id}/test")]
pub async fn test(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let queued = endpoints::test(state.services(), &ctx.auth, &ctx.metadata, *id, now).await?;
    Ok(HttpResponse::Accepted().json(queued))
}

/// The endpoint's delivery log: its messages, newest first, with their state.
///
/// # Errors
/// 403; 404; 422 on a parameter.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint."), MessageQuery),
    responses((status = 200, description = "A page of messages.", body = MessagePage)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[get("/webhooks/{id}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(q): Query<MessageQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(endpoints::messages(state.services(), &auth, *id, q).await?))
}

/// One message of the endpoint with every attempt: status, latency, the answer's first
/// 1 KiB, and the next attempt.
///
/// # Errors
/// 403; 404.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint."),
        ("message_id" = Uuid, Path, description = "The message (its `webhook-id`)."),
    ),
    responses((status = 200, description = "The message and its attempts.", body = MessageDetail)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[get("/webhooks/{id}/messages/{message_id}")]
pub async fn show_message(
    state: web::Data<AppState>,
    auth: AuthContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, message_id) = path.into_inner();
    Ok(HttpResponse::Ok().json(endpoints::message(state.services(), &auth, id, message_id).await?))
}

/// Sends a message again now, with a fresh round of retries and the same `webhook-id`.
///
/// # Errors
/// 403; 404.
#[utoipa::path(
    tag = "webhooks",
    params(
        ("id" = Uuid, Path, description = "The endpoint."),
        ("message_id" = Uuid, Path, description = "The message."),
    ),
    responses((status = 202, description = "The message queued.", body = MessageDetail)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[post("/webhooks/{id}/messages/{message_id}/retry")]
pub async fn retry(
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, message_id) = path.into_inner();
    let now = state.clock.now();
    let queued = endpoints::retry(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        message_id,
        now,
    )
    .await?;
    Ok(HttpResponse::Accepted().json(queued))
}

/// Sends again, in commit order, the workspace's events since a time or after a
/// changes-feed cursor that the endpoint's filter takes (at most 10,000 a call; the
/// answer's `next_cursor` continues).
///
/// # Errors
/// 403; 404; 422 unless exactly one of `since` and `after`.
#[utoipa::path(
    tag = "webhooks",
    params(("id" = Uuid, Path, description = "The endpoint.")),
    request_body = ReplayInput,
    responses((status = 202, description = "What was queued.", body = Replayed)),
    extensions(("x-permission" = json!("manage_webhooks"))),
)]
#[post("/webhooks/{id}/replay")]
pub async fn replay(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<ReplayInput>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let replayed =
        endpoints::replay(state.services(), &ctx.auth, &ctx.metadata, *id, body, now).await?;
    Ok(HttpResponse::Accepted().json(replayed))
}

/// Registers the webhook routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(show)
        .service(update)
        .service(remove)
        .service(rotate_secret)
        .service(test)
        .service(messages)
        .service(show_message)
        .service(retry)
        .service(replay);
}
