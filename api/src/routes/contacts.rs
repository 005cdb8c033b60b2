//! `/v1/contacts`: create, read, list, update, soft-delete, restore.

use actix_web::http::{header, StatusCode};
use actix_web::{delete, get, patch, post, put};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::contact::{ContactCommand, ContactInput, ContactPatch};
use crm_domain::{Action, EntityId, Guarded};
use crm_projections::entities::contact::Model;
use crm_projections::queries::contacts::{self, ContactFilter};
use crm_store::page::Page;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{if_match, record, ListQuery};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, Query};
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

async fn load(state: &AppState, auth: &AuthContext, id: Uuid) -> Result<Model, ApiError> {
    contacts::get(&state.pools.app, &auth.scope, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Creates one record from a create body; returns its read row.
///
/// # Errors
/// 409, 422 and the store's errors.
pub(crate) async fn create_one(
    state: &AppState,
    ctx: &CommandContext,
    body: CreateContact,
) -> Result<Model, ApiError> {
    let id = EntityId::new();
    let input = ContactInput {
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        phone: body.phone,
        job_title: body.job_title,
        company_id: body.company_id.map(EntityId),
        tags: body.tags,
    };
    state
        .commands
        .contact(id, ContactCommand::Create(input), &ctx.metadata)
        .await?;
    load(state, &ctx.auth, id.0).await
}

/// `POST /v1/contacts`: 201 with `Location` and the contact.
///
/// # Errors
/// 403, 409 (email taken), 422.
#[utoipa::path(
    tag = "contacts",
    params(IdempotencyKey),
    request_body = CreateContact,
    responses(
        (status = 201, description = "Created.", body = ContactView, headers(
            ("ETag" = String, description = "The record's version, e.g. `\"1\"`."),
            ("Location" = String, description = "`/v1/contacts/{id}`."),
        )),
        (status = 409, description = "The email is taken in this workspace.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("create_records"))),
)]
#[post("/contacts")]
pub async fn create(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<CreateContact>,
) -> Result<HttpResponse, ApiError> {
    let model = create_one(&state, &ctx, body).await?;
    let id = EntityId(model.id);
    let mut response = record(
        StatusCode::CREATED,
        model.version,
        &ContactView::from(model),
    );
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/contacts/{}", id.0)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `GET /v1/contacts/{id}`.
/// With `?as_of=<RFC 3339>` or `?version=N` (Owner, Admin): the record as it was then,
/// rebuilt from its events (see [`super::history::past`]).
///
/// # Errors
/// 404 when the workspace has no such contact.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), super::history::PointInTime),
    responses(
        (status = 200, description = "The contact with its companies, or its past state.",
            body = super::history::CurrentOrPast<ContactDetail>,
            headers(("ETag" = String, description = "The record's version (current state only)."))),
    ),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/contacts/{id}")]
pub async fn get(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(point): Query<super::history::PointInTime>,
) -> Result<HttpResponse, ApiError> {
    if let Some(at) = point.at()? {
        return super::history::past(&state, &auth, crate::history::RecordType::Contact, *id, at)
            .await;
    }
    let model = load(&state, &auth, *id).await?;
    if model.deleted && !auth.may(Action::ViewDeleted) {
        return Err(ApiError::NotFound);
    }
    detail(&state, &auth, model).await
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

/// Applies one patch body to record `id`, guarded by `if_version`; returns its read row.
///
/// # Errors
/// 404, 409, 412, 422 and the store's errors.
pub(crate) async fn update_one(
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    if_version: Option<u64>,
    body: PatchContact,
) -> Result<Model, ApiError> {
    super::ensure_owner(state, &ctx.auth, super::Owned::Contact, id).await?;
    let patch = ContactPatch {
        first_name: body.first_name,
        last_name: body.last_name,
        email: body.email,
        phone: body.phone,
        job_title: body.job_title,
        company_id: body.company_id.map(|o| o.map(EntityId)),
        tags: body.tags,
    };
    state
        .commands
        .contact(
            EntityId(id),
            Guarded {
                if_version,
                command: ContactCommand::Update(patch),
            },
            &ctx.metadata,
        )
        .await?;
    load(state, &ctx.auth, id).await
}

/// `PATCH /v1/contacts/{id}`: 200 with the contact.
///
/// # Errors
/// 403, 404, 409 (deleted, or email taken), 422.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), IfMatch),
    request_body = PatchContact,
    responses(
        (status = 200, description = "The changed contact.", body = ContactView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The contact is deleted, or the email is taken.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[patch("/contacts/{id}")]
pub async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<PatchContact>,
) -> Result<HttpResponse, ApiError> {
    let model = update_one(&state, &ctx, *id, if_match(&req)?, body).await?;
    Ok(record(
        StatusCode::OK,
        model.version,
        &ContactView::from(model),
    ))
}

/// `DELETE /v1/contacts/{id}`: soft delete, 204.
///
/// # Errors
/// 403, 404, 409 (already deleted).
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), IfMatch),
    responses(
        (status = 204, description = "Deleted."),
        (status = 409, description = "Already deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("delete_records"))),
)]
#[delete("/contacts/{id}")]
pub async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    super::ensure_owner(&state, &ctx.auth, super::Owned::Contact, *id).await?;
    state
        .commands
        .contact(
            EntityId(*id),
            Guarded {
                if_version: if_match(&req)?,
                command: ContactCommand::Delete,
            },
            &ctx.metadata,
        )
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /v1/contacts/{id}/restore`: 200 with the contact.
///
/// # Errors
/// 403, 404, 409 (not deleted).
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The contact's id."), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "The restored contact.", body = ContactView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "Not deleted, or its email is now taken.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("restore_records"))),
)]
#[post("/contacts/{id}/restore")]
pub async fn restore(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    state
        .commands
        .contact(
            EntityId(*id),
            Guarded {
                if_version: if_match(&req)?,
                command: ContactCommand::Restore,
            },
            &ctx.metadata,
        )
        .await?;
    let model = load(&state, &ctx.auth, *id).await?;
    Ok(record(
        StatusCode::OK,
        model.version,
        &ContactView::from(model),
    ))
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
    state
        .commands
        .contact(
            EntityId(*id),
            Guarded {
                if_version: if_match(&req)?,
                command: ContactCommand::Erase,
            },
            &ctx.metadata,
        )
        .await?;
    let model = load(&state, &ctx.auth, *id).await?;
    Ok(record(
        StatusCode::OK,
        model.version,
        &ContactView::from(model),
    ))
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
    super::ensure_owner(&state, &ctx.auth, super::Owned::Contact, id).await?;
    let command = ContactCommand::LinkCompany {
        company_id: EntityId(company_id),
        role: body.role,
    };
    state
        .commands
        .contact(
            EntityId(id),
            Guarded {
                if_version: if_match(&req)?,
                command,
            },
            &ctx.metadata,
        )
        .await?;
    let model = load(&state, &ctx.auth, id).await?;
    detail(&state, &ctx.auth, model).await
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
    super::ensure_owner(&state, &ctx.auth, super::Owned::Contact, id).await?;
    let command = ContactCommand::UnlinkCompany {
        company_id: EntityId(company_id),
    };
    state
        .commands
        .contact(
            EntityId(id),
            Guarded {
                if_version: if_match(&req)?,
                command,
            },
            &ctx.metadata,
        )
        .await?;
    let model = load(&state, &ctx.auth, id).await?;
    detail(&state, &ctx.auth, model).await
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore)
        .service(erase)
        .service(link_company)
        .service(unlink_company);
}
