//! Data-subject access requests (GDPR art. 15): everything the workspace holds about one
//! contact, in one JSON document ([`crm_app::data_requests`]), as an attachment.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use crm_app::data_requests::{self, SubjectAccessExport};
use uuid::Uuid;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;

/// Everything the workspace holds about the
/// contact (record, associations, activities, deals and full change history), as an
/// attachment `contact-<id>.json`, the answer to a data-subject access request
/// (GDPR art. 15).
///
/// # Errors
/// 403 for other roles and support staff; 404 when the workspace has no such contact.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id.")),
    responses((status = 200, description = "The contact's data, as an attachment `contact-<id>.json`.",
        body = SubjectAccessExport,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"contact-<id>.json\"`.")))),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[get("/contacts/{id}/export")]
pub async fn contact(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let body = data_requests::contact(state.services(), &auth, state.clock.now(), id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"contact-{id}.json\""),
        ))
        .json(body))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(contact);
}
