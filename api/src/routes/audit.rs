//! The workspace's audit trail.

use actix_web::{web, HttpResponse};
use crm_domain::Action;
use serde::Deserialize;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// `GET /v1/audit` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size, 1 to 200; default 50.
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// `GET /v1/audit` (Owner, Admin): the workspace's events, newest first, with actor, role,
/// time, address, event type, entity and payload; keyset-paginated.
///
/// # Errors
/// 403 for other roles; 422 for a bad limit or cursor.
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(query): Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadAudit)?;
    if query.limit.is_some_and(|n| !(1..=200).contains(&n)) {
        return Err(ApiError::invalid("limit", "must be 1 to 200"));
    }
    let page = crm_projections::queries::audit::list(
        &state.pools.app,
        &auth.scope,
        query.cursor.as_deref(),
        query.limit,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `GET /v1/audit/verify` (Owner): walks the workspace's hash chains and checks the
/// latest signed checkpoint; `intact`, or the first event that does not match and why.
///
/// # Errors
/// 403.
pub async fn verify(
    state: web::Data<AppState>,
    auth: AuthContext,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::VerifyAudit)?;
    let report =
        crate::audit_chain::verify(&state.pools.app, &state.checkpoint_key, auth.tenant).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// `POST /v1/audit/checkpoints` (Owner): signs a checkpoint of the stream heads now. 201.
///
/// # Errors
/// 403.
pub async fn checkpoint(
    state: web::Data<AppState>,
    auth: AuthContext,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::VerifyAudit)?;
    let id = crate::audit_chain::checkpoint(
        &state.pools.app,
        &state.checkpoint_key,
        auth.tenant,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(serde_json::json!({"id": id})))
}
