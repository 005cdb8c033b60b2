//! The published contract: `GET /openapi.json` (the OpenAPI 3.1 document generated from
//! the route declarations, see [`crate::openapi`]) and `GET /docs`, a reference page
//! rendered by Redoc from vendored assets (no network needed).

use actix_web::get;
use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::state::AppState;

/// Redoc 2.5.4's standalone bundle (MIT; `api/assets/redoc/`).
const REDOC_JS: &str = include_str!("../../assets/redoc/redoc.standalone.js");

/// The page: Redoc reads `/openapi.json` from this server.
const DOCS_HTML: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>CRM API reference</title>
</head>
<body>
<redoc spec-url="/openapi.json" hide-download-button="false"></redoc>
<script src="/docs/redoc.standalone.js"></script>
</body>
</html>
"#;

/// What the reference page may load: its own script and the document from this origin;
/// Redoc styles inline and runs its search in a `blob:` worker.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src blob:; \
frame-ancestors 'none'";

/// The OpenAPI 3.1 document of every route.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", content_type = "application/json", body = Object)),
)]
#[get("/openapi.json")]
pub async fn openapi_json(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(state.contract.json.as_str().to_owned())
}

/// The OpenAPI 3.1 document as the caller's workspace sees it: the served document with
/// each record's `custom` object (its view, create and patch bodies) describing that
/// workspace's live fields, by API key, with their types (what a client generator needs
/// to type them; as Twenty serves a document per workspace).
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "schema",
    responses((status = 200, description = "The workspace's OpenAPI 3.1 document.", content_type = "application/json", body = Object)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/openapi.json")]
pub async fn workspace_openapi_json(
    state: web::Data<AppState>,
    auth: crate::auth::AuthContext,
) -> Result<HttpResponse, crate::error::ApiError> {
    let schema = crm_app::fields::schema(state.services(), &auth).await?;
    let mut document: serde_json::Value = serde_json::from_str(&state.contract.json)
        .map_err(|e| crate::error::ApiError::Internal(e.to_string().into()))?;
    crate::openapi::with_fields(&mut document, &schema);
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .json(document))
}

/// The API reference page (HTML).
#[utoipa::path(
    tag = "operations",
    security(()),
    responses((status = 200, description = "The reference page.", content_type = "text/html", body = String)),
)]
#[get("/docs")]
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_SECURITY_POLICY, DOCS_CSP))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(DOCS_HTML)
}

/// The reference page's script.
#[utoipa::path(
    tag = "operations",
    security(()),
    responses((status = 200, description = "Redoc's standalone bundle.", content_type = "text/javascript", body = String)),
)]
#[get("/docs/redoc.standalone.js")]
pub async fn docs_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(REDOC_JS)
}

/// Registers the workspace's document (under `/v1`).
pub fn workspace_routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(workspace_openapi_json);
}

/// Registers the three routes at the root.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(openapi_json).service(docs).service(docs_script);
}
