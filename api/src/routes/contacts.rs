//! `/v1/contacts`: create, read, list, update, soft-delete, restore.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::contact::{ContactCommand, ContactInput, ContactPatch};
use crm_domain::{Action, EntityId, EventMetadata, Guarded};
use crm_projections::entities::contact::Model;
use crm_projections::queries::contacts::{self, ContactFilter};
use crm_projections::queries::Page;
use crm_projections::TenantScope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::{self, Record};
use super::{record, ListQuery};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::history::RecordType;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;

/// A contact as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    /// Id.
    pub id: Uuid,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Normalised email.
    pub email: Option<String>,
    /// Phone as written.
    pub phone: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// The company the contact works for.
    pub company_id: Option<Uuid>,
    /// Tags (lowercase).
    pub tags: Vec<String>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Aggregate version (also the `ETag`).
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Creating actor.
    pub created_by: String,
    /// Last changing actor.
    pub updated_by: String,
    /// When the contact's personal data was erased; `null` while it is not. An erased
    /// contact has its names, email, phone and job title `null` for good.
    pub erased_at: Option<DateTime<Utc>>,
}

impl From<Model> for ContactView {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            job_title: m.job_title,
            company_id: m.company_id,
            tags: m.tags,
            deleted: m.deleted,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            created_by: m.created_by,
            updated_by: m.updated_by,
            erased_at: m.erased_at,
        }
    }
}

/// `POST /v1/contacts` body. A contact needs a first name, a last name or an email.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    /// Given name, up to 100 characters.
    pub first_name: Option<String>,
    /// Family name, up to 100 characters.
    pub last_name: Option<String>,
    /// Email, unique in the workspace (409 otherwise).
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// A company of the workspace.
    pub company_id: Option<Uuid>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `PATCH /v1/contacts/{id}` body: absent fields stay, `null` clears (RFC 7396).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchContact {
    /// New given name or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub first_name: Option<Option<String>>,
    /// New family name or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub last_name: Option<Option<String>>,
    /// New email or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub email: Option<Option<String>>,
    /// New phone or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub phone: Option<Option<String>>,
    /// New job title or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub job_title: Option<Option<String>>,
    /// New company or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub company_id: Option<Option<Uuid>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
}

/// Contacts in the record machinery.
pub struct Contacts;

impl Record for Contacts {
    const TYPE: RecordType = RecordType::Contact;
    type Row = Model;
    type View = ContactView;
    type Create = CreateContact;
    type Patch = PatchContact;
    type Command = ContactCommand;

    async fn find(
        state: &AppState,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<Model>, ApiError> {
        Ok(contacts::get(&state.pools.app, scope, id).await?)
    }

    async fn execute(
        state: &AppState,
        id: EntityId,
        command: Guarded<ContactCommand>,
        meta: &EventMetadata,
    ) -> Result<(), ApiError> {
        Ok(state.commands.contact(id, command, meta).await?)
    }

    async fn create_command(
        _: &AppState,
        _: &CommandContext,
        body: CreateContact,
    ) -> Result<ContactCommand, ApiError> {
        Ok(ContactCommand::Create(ContactInput {
            first_name: body.first_name,
            last_name: body.last_name,
            email: body.email,
            phone: body.phone,
            job_title: body.job_title,
            company_id: body.company_id.map(EntityId),
            tags: body.tags,
        }))
    }

    async fn update_command(
        _: &AppState,
        _: &CommandContext,
        _: Uuid,
        if_version: Option<u64>,
        body: PatchContact,
    ) -> Result<Guarded<ContactCommand>, ApiError> {
        Ok(Guarded {
            if_version,
            command: ContactCommand::Update(ContactPatch {
                first_name: body.first_name,
                last_name: body.last_name,
                email: body.email,
                phone: body.phone,
                job_title: body.job_title,
                company_id: body.company_id.map(|o| o.map(EntityId)),
                tags: body.tags,
            }),
        })
    }

    fn delete_command() -> ContactCommand {
        ContactCommand::Delete
    }

    fn restore_command() -> ContactCommand {
        ContactCommand::Restore
    }

    fn version(row: &Model) -> i64 {
        row.version
    }

    fn deleted(row: &Model) -> bool {
        row.deleted
    }

    fn owner(row: &Model) -> String {
        row.created_by.clone()
    }

    /// A contact's `GET` shows its company associations too.
    async fn detail(
        state: &AppState,
        auth: &AuthContext,
        row: Model,
    ) -> Result<HttpResponse, ApiError> {
        detail(state, auth, row).await
    }
}

crate::batch_routes! {
    record: Contacts,
    tag: "contacts",
    create_path: "/contacts/batch/create",
    update_path: "/contacts/batch/update",
    create: CreateContact,
    patch: PatchContact,
}

crate::record_routes! {
    record: Contacts,
    tag: "contacts",
    collection: "/contacts",
    item: "/contacts/{id}",
    restore: "/contacts/{id}/restore",
    view: ContactView,
    detail: ContactDetail,
    create: CreateContact,
    patch: PatchContact,
}

/// `GET /v1/contacts?limit&cursor&q&sort&include_deleted&company_id`.
///
/// # Errors
/// 403 for `include_deleted` without the right; 422 for bad parameters.
#[utoipa::path(
    tag = "contacts",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of contacts.", body = Page<ContactView>),
    ),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/contacts")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(query): Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let include_deleted = query.include_deleted.unwrap_or(false);
    if include_deleted {
        auth.require(Action::ViewDeleted)?;
    }
    let filter = ContactFilter {
        common: query.common(),
        company_id: query.company_id,
        include_deleted,
        sort: query.sort()?,
        limit: query.limit()?,
        cursor: query.cursor.clone(),
    };
    let page = contacts::list(&state.pools.app, &auth.scope, &filter).await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(ContactView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `POST /v1/contacts/{id}/erase` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// Why, 1 to 500 characters (e.g. the request's reference); stored in the event's
    /// metadata, in clear, so it should not itself hold the person's data.
    pub reason: String,
}

/// `POST /v1/contacts/{id}/erase` (Owner): erases the contact's personal data for good
/// (GDPR art. 17). A `ContactErased` event, with the reason, destroys the contact's data
/// key in the same transaction: the names, email, phone and job title of all its events
/// can no longer be decrypted by anyone, while the events stay in the trail and the chain
/// still verifies. The record stays, with its personal fields `null` and `erased_at` set;
/// its email is free again; stored idempotent answers that showed it are forgotten.
/// Answers 200 with the erased contact.
///
/// # Errors
/// 403 for other roles and for support staff; 404 for a contact the workspace does not
/// have; 409 when already erased; 412 for a stale `If-Match`; 422 for a bad reason.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), IfMatch, IdempotencyKey),
    request_body = EraseBody,
    responses(
        (status = 200, description = "The erased contact.", body = ContactView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "Already erased.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("erase_personal_data"))),
)]
#[post("/contacts/{id}/erase")]
pub async fn erase(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<EraseBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::invalid("reason", "must be 1 to 500 characters"));
    }
    let mut ctx = ctx;
    ctx.metadata.reason = Some(format!("erasure: {reason}"));
    let row = records::run::<Contacts>(&req, &state, &ctx, *id, ContactCommand::Erase).await?;
    Ok(records::answer::<Contacts>(StatusCode::OK, row))
}

/// A contact's association with a company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyLink {
    /// The company.
    pub company_id: Uuid,
    /// The contact's role there.
    pub role: Option<String>,
}

/// A contact with its company associations (single-record answers).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactDetail {
    /// The contact.
    #[serde(flatten)]
    pub contact: ContactView,
    /// Companies the contact is associated with, besides or including `company_id`.
    pub companies: Vec<CompanyLink>,
}

async fn detail(
    state: &AppState,
    auth: &AuthContext,
    model: Model,
) -> Result<HttpResponse, ApiError> {
    let links = contacts::companies_of(&state.pools.app, &auth.scope, model.id).await?;
    let version = model.version;
    let body = ContactDetail {
        contact: ContactView::from(model),
        companies: links
            .into_iter()
            .map(|(company_id, role)| CompanyLink { company_id, role })
            .collect(),
    };
    Ok(record(StatusCode::OK, version, &body))
}

/// `PUT /v1/contacts/{id}/companies/{company_id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The contact's role at the company (e.g. "decision maker"), up to 100 characters.
    pub role: Option<String>,
}

/// `PUT /v1/contacts/{id}/companies/{company_id}`: associate (or change the role).
///
/// # Errors
/// 403, 404, 409, 412, 422 (no such company).
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), ("company_id" = Uuid, Path, description = "The company's id."), IfMatch),
    request_body = LinkBody,
    responses(
        (status = 200, description = "The contact with its companies.", body = ContactDetail,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The contact is deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[put("/contacts/{id}/companies/{company_id}")]
pub async fn link_company(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
    Json(body): Json<LinkBody>,
) -> Result<HttpResponse, ApiError> {
    let (id, company_id) = *path;
    let command = ContactCommand::LinkCompany {
        company_id: EntityId(company_id),
        role: body.role,
    };
    records::ensure_owner::<Contacts>(&state, &ctx.auth, id).await?;
    let row = records::run::<Contacts>(&req, &state, &ctx, id, command).await?;
    detail(&state, &ctx.auth, row).await
}

/// `DELETE /v1/contacts/{id}/companies/{company_id}`: end the association.
///
/// # Errors
/// 403, 404, 409, 412, 422 (not associated).
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), ("company_id" = Uuid, Path, description = "The company's id."), IfMatch),
    responses(
        (status = 200, description = "The contact with its companies.", body = ContactDetail,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The contact is deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[delete("/contacts/{id}/companies/{company_id}")]
pub async fn unlink_company(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (id, company_id) = *path;
    let command = ContactCommand::UnlinkCompany {
        company_id: EntityId(company_id),
    };
    records::ensure_owner::<Contacts>(&state, &ctx.auth, id).await?;
    let row = records::run::<Contacts>(&req, &state, &ctx, id, command).await?;
    detail(&state, &ctx.auth, row).await
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore)
        .service(batch_create)
        .service(batch_update)
        .service(erase)
        .service(link_company)
        .service(unlink_company);
}
