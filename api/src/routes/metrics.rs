//! `GET /metrics`: every metric in the Prometheus text format (exposition format 0.0.4),
//! for a scraper that holds the configured `metrics.token`. Without that setting the
//! route answers 404, as if it did not exist: metrics say how busy each route is, which
//! is not for anyone who asks.

use actix_web::{get, web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::openapi::Problem;
use crate::state::AppState;

/// Every metric (`docs/operations.md` lists them), for `Authorization: Bearer
/// <metrics.token>`.
///
/// # Errors
/// 404 when `metrics.token` is not set; 401 without that token.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Every metric, in the Prometheus text format.", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No token, or not the configured one.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are off (no `metrics.token`).", body = Problem, content_type = "application/problem+json"),
    ),
)]
#[get("/metrics")]
pub async fn metrics(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let Some(token) = &state.settings.metrics.token else {
        return Err(ApiError::NotFound);
    };
    let offered = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Digests compared, not the tokens: the time a comparison takes says nothing about
    // how much of the token a guess got right.
    if Sha256::digest(offered.as_bytes()) != Sha256::digest(token.expose_secret().as_bytes()) {
        return Err(ApiError::Unauthorized("a valid metrics token is required"));
    }
    let body = crate::metrics::render(&state).await;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(body))
}

/// Registers `/metrics` (at the root, outside `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(metrics);
}
