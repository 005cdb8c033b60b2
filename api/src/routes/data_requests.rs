//! Data-subject access requests (GDPR art. 15): everything the workspace holds about one
//! contact, in one JSON document.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use crm_domain::Action;
use crm_projections::entities::{company as company_table, contact as contact_table};
use crm_projections::queries::activities::{self, Subject};
use crm_projections::queries::contacts;
use crm_projections::queries::deals::{self, DealFilter};
use serde::Serialize;
use uuid::Uuid;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::state::AppState;
use crm_app::history::{self, RecordType, Version};
use crm_app::records::activities::ActivityView;
use crm_app::records::contacts::{CompanyLink, ContactView};
use crm_app::records::deals::DealView;

const PAGE: u64 = 200;

/// A linked company, by id and name.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkedCompany {
    /// The association.
    #[serde(flatten)]
    pub link: CompanyLink,
    /// The company's name, when it still exists in the workspace.
    pub name: Option<String>,
}

/// The document `GET /v1/contacts/{id}/export` answers with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubjectAccessExport {
    /// When the document was made (RFC 3339).
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// The workspace it comes from.
    pub workspace_id: Uuid,
    /// The contact as it is now (deleted ones included).
    pub contact: ContactView,
    /// Companies the contact is associated with, with their role.
    pub companies: Vec<LinkedCompany>,
    /// Every activity linked to the contact, newest first.
    pub activities: Vec<ActivityView>,
    /// Every deal the contact is on, deleted ones included.
    pub deals: Vec<DealView>,
    /// Every version of the contact record: who changed what, when and from where.
    pub history: Vec<Version>,
}

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
    // Reading the record's history and taking data away in bulk: both rights (support
    // grants never carry the second).
    auth.require(Action::ExportRecords)?;
    let id = id.into_inner();
    let db = &state.pools.app;
    let scope = &auth.scope;
    let model = crm_projections::queries::row::<contact_table::Entity>(db, scope, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let mut linked = Vec::new();
    for (company_id, role) in contacts::companies_of(db, scope, id).await? {
        let name = crm_projections::queries::row::<company_table::Entity>(db, scope, company_id)
            .await?
            .map(|c| c.name);
        linked.push(LinkedCompany {
            link: CompanyLink { company_id, role },
            name,
        });
    }
    let mut activity_views = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = activities::timeline(
            db,
            scope,
            Subject::Contact,
            id,
            cursor.as_deref(),
            Some(PAGE),
        )
        .await?;
        activity_views.extend(page.items.into_iter().map(ActivityView::from));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut deal_views = Vec::new();
    let mut filter = DealFilter {
        contact_id: Some(id),
        include_deleted: true,
        limit: Some(PAGE),
        ..DealFilter::default()
    };
    loop {
        let page = deals::list(db, scope, &filter).await?;
        deal_views.extend(page.items.into_iter().map(DealView::from));
        match page.next_cursor {
            Some(next) => filter.cursor = Some(next),
            None => break,
        }
    }
    let body = SubjectAccessExport {
        generated_at: state.clock.now(),
        workspace_id: auth.tenant.0,
        contact: ContactView::from(model),
        companies: linked,
        activities: activity_views,
        deals: deal_views,
        history: history::versions(db, state.commands.keyring(), scope, RecordType::Contact, id)
            .await?,
    };
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
