//! Data-subject access requests (GDPR art. 15): everything a workspace holds about one
//! contact, in one document.

use chrono::{DateTime, Utc};
use crm_domain::Action;
use crm_projections::entities::{company as company_table, contact as contact_table};
use crm_projections::queries::activities::{self, Subject};
use crm_projections::queries::contacts;
use crm_projections::queries::deals::{self, DealConditions, DealFilter};
use serde::Serialize;
use uuid::Uuid;

use crate::caller::Caller;
use crate::error::AppError;
use crate::history::{self, RecordType, Version};
use crate::records::activities::ActivityView;
use crate::records::contacts::{CompanyLink, ContactView};
use crate::records::deals::DealView;
use crate::records::Services;

/// How many activities or deals are read per query.
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
    pub generated_at: DateTime<Utc>,
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

/// Everything the caller's workspace holds about contact `id` (record, associations,
/// activities, deals and full change history), made at `now`. The caller needs both
/// `read_audit` and `export_records` (support grants never carry the second).
///
/// # Errors
/// Forbidden without both rights; not found when the workspace has no such contact; the
/// store's errors.
pub async fn contact(
    s: Services<'_>,
    caller: &Caller,
    now: DateTime<Utc>,
    id: Uuid,
) -> Result<SubjectAccessExport, AppError> {
    // Reading the record's history and taking data away in bulk: both rights (support
    // grants never carry the second).
    caller.require(Action::ExportRecords)?;
    let db = s.db;
    let scope = &caller.scope;
    let model = crm_projections::queries::row::<contact_table::Entity>(db, scope, id)
        .await?
        .ok_or(AppError::NotFound)?;
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
        own: DealConditions {
            contact_id: Some(id),
            ..DealConditions::default()
        },
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
    Ok(SubjectAccessExport {
        generated_at: now,
        workspace_id: caller.tenant.0,
        contact: ContactView::from(model),
        companies: linked,
        activities: activity_views,
        deals: deal_views,
        history: history::versions(history::Source::primary(s), scope, RecordType::Contact, id)
            .await?,
    })
}
