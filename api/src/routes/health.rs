//! Liveness and readiness.

use actix_web::get;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The status of `/health` and `/ready`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `ok` (`/health`) or `ready` (`/ready`).
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: 200 while the process serves requests.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses((status = 200, description = "The process serves requests.", body = Status)),
)]
#[get("/health")]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// How long `/ready` waits for the database before it answers 503.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_millis(800);

/// Readiness: 200 when the database answers and every migration is applied; 503
/// otherwise, within a second.
///
/// # Errors
/// 503 with the reason.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses((status = 200, description = "The database answers and is migrated.", body = Status)),
)]
#[get("/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let check = crm_app::db::migrations_applied(&state.pools.app);
    match tokio::time::timeout(READY_WITHIN, check).await {
        Ok(Ok(true)) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Ok(Ok(false)) => Err(ApiError::Unavailable("migrations pending".into())),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "readiness: database unreachable");
            Err(ApiError::Unavailable("database unreachable".into()))
        }
        Err(_) => {
            tracing::warn!("readiness: the database did not answer in time");
            Err(ApiError::Unavailable("database unreachable".into()))
        }
    }
}

/// Registers `/health` and `/ready` (at the root, outside `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(health).service(ready);
}
