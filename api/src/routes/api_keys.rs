//! `/v1/api-keys`: keys for programs (Owner, Admin). A key is shown once, stored as a
//! SHA-256 hash, named, has a role no higher than its creator's and an optional expiry.
//! Requests with a key are attributed to the key in every event they cause, and each is
//! logged (endpoint, method, time, address, status) for `GET /v1/api-keys/requests`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::workspace::WorkspaceCommand;
use crm_domain::{Action, EntityId, Role};
use crm_projections::queries::api_keys;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::context::API_KEY_PREFIX;
use crate::auth::{session, AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::state::AppState;

/// `POST /v1/api-keys` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name to recognise it by.
    pub name: String,
    /// Its role, no higher than the creator's.
    pub role: Role,
    /// When it stops working (RFC 3339), if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /v1/api-keys`: 201 with the key, shown this once.
///
/// # Errors
/// 403 (role, or a key role above one's own), 422.
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require_person()?;
    ctx.auth.require(Action::ManageApiKeys)?;
    if body.role < ctx.auth.role {
        return Err(ApiError::Forbidden);
    }
    let now = state.clock.now();
    if body.expires_at.is_some_and(|t| t <= now) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let id = EntityId::new();
    let (secret, _) = session::new_refresh_token(ctx.auth.tenant);
    let key = format!("{API_KEY_PREFIX}{secret}");
    let name = crm_domain::text::required("name", &body.name, 200)
        .map_err(crm_domain::DomainError::from)?;
    api_keys::create(
        &state.pools.app,
        &ctx.auth.scope,
        id.0,
        &name,
        session::hash(&key),
        body.role.as_str(),
        ctx.auth.user.0,
        now,
        body.expires_at,
    )
    .await?;
    state
        .commands
        .workspace(
            WorkspaceCommand::RecordApiKeyCreated {
                key_id: id,
                name: name.clone(),
                role: body.role,
            },
            &ctx.metadata,
        )
        .await?;
    Ok(HttpResponse::Created().json(json!({"id": id.0, "name": name, "role": body.role, "expires_at": body.expires_at, "key": key})))
}

/// `GET /v1/api-keys`: every key, never the key itself.
///
/// # Errors
/// 403.
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    auth.require_person()?;
    auth.require(Action::ManageApiKeys)?;
    let keys = api_keys::list(&state.pools.app, &auth.scope).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": keys })))
}

/// `DELETE /v1/api-keys/{id}`: revoke; the key stops working at once. 204.
///
/// # Errors
/// 403, 404, 409 (revoked already).
pub async fn revoke(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require_person()?;
    ctx.auth.require(Action::ManageApiKeys)?;
    match api_keys::revoke(&state.pools.app, &ctx.auth.scope, *id, state.clock.now()).await? {
        None => Err(ApiError::NotFound),
        Some(false) => Err(ApiError::Conflict("the key is revoked already".into())),
        Some(true) => {
            state
                .commands
                .workspace(
                    WorkspaceCommand::RecordApiKeyRevoked {
                        key_id: EntityId(*id),
                    },
                    &ctx.metadata,
                )
                .await?;
            Ok(HttpResponse::NoContent().finish())
        }
    }
}

/// `GET /v1/api-keys/requests` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestsQuery {
    /// Only this key's requests.
    pub key_id: Option<Uuid>,
    /// How many, 1 to 200 (default 50).
    pub limit: Option<u64>,
}

/// `GET /v1/api-keys/requests`: the latest requests made with keys, newest first.
///
/// # Errors
/// 403, 422.
pub async fn requests(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<RequestsQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require_person()?;
    auth.require(Action::ManageApiKeys)?;
    let limit = super::ListQuery {
        limit: q.limit,
        ..Default::default()
    }
    .limit()?
    .unwrap_or(50);
    let items = api_keys::requests(&state.pools.app, &auth.scope, q.key_id, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "items": items })))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.map(|c| {
        c.service(
            actix_web::web::resource("/api-keys")
                .route(actix_web::web::get().to(list))
                .route(actix_web::web::post().to(create)),
        )
        .service(
            actix_web::web::resource("/api-keys/requests")
                .route(actix_web::web::get().to(requests)),
        )
        .service(
            actix_web::web::resource("/api-keys/{id}").route(actix_web::web::delete().to(revoke)),
        )
    });
}
