//! `/v1/contacts`: create, read, list, update, soft-delete, restore.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put};
use actix_web::{web, HttpRequest, HttpResponse};
use crm_app::records::listing::{custom_conditions, custom_sort};
use crm_projections::queries::contacts::ContactConditions;
use crm_store::page::Page;
use uuid::Uuid;

use super::records;
use super::{if_match, record, ListQuery};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, ListParams};
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::records::contacts::{
    self as use_cases, ContactDetail, ContactView, Contacts, CreateContact, EraseBody, LinkBody,
    PatchContact,
};

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
/// Custom fields filter too (`GET /v1/schema` lists them): `cf.<key>=<value>` for
/// equality (an option's id for selects; a multi-select has it), and `cf.<key>[gte]=`,
/// `[gt]`, `[lte]`, `[lt]` for integer, decimal, money (minor units), date and date-time
/// fields.
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
    ListParams(query, cf): ListParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let own = ContactConditions {
        company_id: query.company_id,
    };
    let mut filter = query.filter(&auth, own)?;
    filter.common.custom = custom_conditions::<Contacts>(state.services(), &auth, cf).await?;
    filter.custom_sort =
        custom_sort::<Contacts>(state.services(), &auth, query.sort.as_deref()).await?;
    let (caller, filter) = (&*auth, &filter);
    let page = state
        .reads
        .run(caller, |db| async move {
            crm_app::records::listing::list::<Contacts>(&db, caller, filter).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
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
    let row = use_cases::erase(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        *id,
        if_match(&req)?,
        &body.reason,
    )
    .await?;
    Ok(records::answer::<Contacts>(StatusCode::OK, row))
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
    let s = state.services();
    let row = use_cases::link_company(
        s,
        &ctx.auth,
        &ctx.metadata,
        id,
        if_match(&req)?,
        company_id,
        body.role,
    )
    .await?;
    let version = row.version;
    let detail = use_cases::detail(s, &ctx.auth.scope, row).await?;
    Ok(record(StatusCode::OK, version, &detail))
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
    let s = state.services();
    let row =
        use_cases::unlink_company(s, &ctx.auth, &ctx.metadata, id, if_match(&req)?, company_id)
            .await?;
    let version = row.version;
    let detail = use_cases::detail(s, &ctx.auth.scope, row).await?;
    Ok(record(StatusCode::OK, version, &detail))
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
