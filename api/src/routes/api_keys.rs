//! `/v1/api-keys`: keys for programs (Owner, Admin). A key is shown once, stored as a
//! SHA-256 hash, named, has a role no higher than its creator's and an optional expiry.
//! Requests with a key are attributed to the key in every event they cause, and each is
//! logged (endpoint, method, time, address, status) for `GET /v1/api-keys/requests`.

use actix_web::{delete, get, post};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use crm_access::api_keys::KeyRow;
use crm_app::api_keys::{self, CreateKey, NewKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::openapi::Problem;
use crate::state::AppState;

/// Creates an API key (Owner, Admin; not with an API key): the key is shown this once.
///
/// # Errors
/// 403 (role, an API key or support staff, or a key role above one's own), 422.
#[utoipa::path(
    tag = "api-keys",
    request_body = CreateKey,
    responses((status = 201, description = "The key, shown this once.", body = NewKey)),
    extensions(("x-permission" = json!("manage_api_keys"))),
)]
#[post("/api-keys")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let key = api_keys::create(state.services(), &ctx.auth, &ctx.metadata, now, body).await?;
    Ok(HttpResponse::Created().json(key))
}

/// The workspace's API keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyList {
    /// Every key, newest first, revoked and expired ones too.
    pub items: Vec<KeyRow>,
}

/// Lists every API key of the workspace, never the key itself.
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "api-keys",
    responses((status = 200, description = "Every key.", body = KeyList)),
    extensions(("x-permission" = json!("manage_api_keys"))),
)]
#[get("/api-keys")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    let items = api_keys::list(state.services(), &auth).await?;
    Ok(HttpResponse::Ok().json(KeyList { items }))
}

/// Revokes an API key; it stops working at once.
///
/// # Errors
/// 403, 404, 409 (revoked already).
#[utoipa::path(
    tag = "api-keys",
    params(("id" = Uuid, Path, description = "The key's id.")),
    responses(
        (status = 204, description = "Revoked."),
        (status = 409, description = "The key is revoked already.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_api_keys"))),
)]
#[delete("/api-keys/{id}")]
pub async fn revoke(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    api_keys::revoke(state.services(), &ctx.auth, &ctx.metadata, now, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v1/api-keys/requests` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RequestsQuery {
    /// Only this key's requests.
    pub key_id: Option<Uuid>,
    /// How many, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

/// One request made with an API key.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyRequest {
    /// The key.
    pub key_id: Uuid,
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// The answer's HTTP status.
    pub status: i16,
    /// Client address, if known.
    pub ip: Option<String>,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

/// The latest requests made with API keys.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyRequests {
    /// Newest first.
    pub items: Vec<KeyRequest>,
}

/// Lists the latest requests made with API keys, newest first.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "api-keys",
    params(RequestsQuery),
    responses((status = 200, description = "The latest requests.", body = KeyRequests)),
    extensions(("x-permission" = json!("manage_api_keys"))),
)]
#[get("/api-keys/requests")]
pub async fn requests(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<RequestsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require_person()?;
    let limit = super::ListQuery {
        limit: q.limit,
        ..Default::default()
    }
    .limit()?
    .unwrap_or(50);
    let items = crm_access::api_keys::requests(&state.pools.app, &auth.scope, q.key_id, limit)
        .await?
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(KeyRequests { items }))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(requests)
        .service(revoke);
}
