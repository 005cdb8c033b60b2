//! Liveness and readiness.

use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /health`: 200 while the process serves requests.
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// `GET /ready`: 200 when the database answers and every migration is applied; 503
/// otherwise.
///
/// # Errors
/// 503 with the reason.
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match crate::db::migrations_applied(&state.pools.app).await {
        Ok(true) => Ok(HttpResponse::Ok().json(json!({"status": "ready"}))),
        Ok(false) => Err(ApiError::Unavailable("migrations pending".into())),
        Err(err) => {
            tracing::warn!(error = %err, "readiness: database unreachable");
            Err(ApiError::Unavailable("database unreachable".into()))
        }
    }
}
