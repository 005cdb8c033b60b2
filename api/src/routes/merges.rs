//! `POST /v1/{contacts,companies}/{id}/merge` and `…/unmerge`: one record takes another's
//! place, and gives it back (`crm_app::records::merge`).

use actix_web::http::StatusCode;
use actix_web::{post, web, HttpRequest, HttpResponse};
use crm_app::records::companies::{Companies, CompanyView};
use crm_app::records::contacts::{ContactDetail, Contacts};
use crm_app::records::merge::{self as use_cases, MergeBody, Mergeable, UnmergeBody};
use crm_projections::entities::RecordRow;
use uuid::Uuid;

use super::{if_match, record};
use crate::auth::CommandContext;
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;

/// A merge, answered with the survivor as its `GET` shows it.
async fn merge<R: Mergeable>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    body: MergeBody,
) -> Result<HttpResponse, ApiError> {
    let s = state.services();
    let row = use_cases::merge::<R>(s, &ctx.auth, &ctx.metadata, id, if_match(req)?, body).await?;
    let version = row.version();
    let detail = R::detail(s, &ctx.auth.scope, row).await?;
    Ok(record(StatusCode::OK, version, &detail))
}

/// An unmerge, answered with the survivor as its `GET` shows it.
async fn unmerge<R: Mergeable>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    body: UnmergeBody,
) -> Result<HttpResponse, ApiError> {
    let s = state.services();
    let row =
        use_cases::unmerge::<R>(s, &ctx.auth, &ctx.metadata, id, if_match(req)?, body).await?;
    let version = row.version();
    let detail = R::detail(s, &ctx.auth.scope, row).await?;
    Ok(record(StatusCode::OK, version, &detail))
}

/// Merges contact `from` into this one, in one transaction. This contact survives with
/// the values chosen field by field (`fields`; by default its own, or `from`'s where it
/// has none), the union of both's tags, and `from`'s company associations; every live
/// deal and activity naming `from` names it instead. `from` becomes a tombstone: deleted,
/// with `merged_into` naming this contact, shown to every reader of its id, its email
/// free. The trail and both histories show each change with `merge of <from> into <id>`
/// as the reason. Answers 200 with this contact.
///
/// # Errors
/// 403 (a Member: only contacts they own); 404 for an `id` the workspace does not have;
/// 409 when either is deleted or merged into another, or this one was erased (`from`
/// merged into this one already: 200, nothing changes); 412 for a stale
/// `If-Match`; 422 for a `from` the workspace does not have, `from` = `id`, an unknown
/// field, or more than 1,000 records to move.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The surviving contact's id."), IfMatch, IdempotencyKey),
    request_body = MergeBody,
    responses(
        (status = 200, description = "The surviving contact with its companies.", body = ContactDetail,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "A contact is deleted, merged already, or erased.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("delete_records"))),
)]
#[post("/contacts/{id}/merge")]
pub async fn merge_contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    merge::<Contacts>(&req, &state, &ctx, *id, body).await
}

/// Undoes the merge of contact `from` into this one, by new events in one transaction:
/// each value the merge gave this contact goes back to what it was before, unless it
/// changed since (later edits stay); the tags, associations, deal and activity links the
/// merge moved go back to `from`; `from` comes back as it was, with its email. Answers
/// 200 with this contact.
///
/// # Errors
/// 403; 404 for an `id` the workspace does not have; 409 when `from` was not merged into
/// this contact (or was given back already), this one is deleted, or another contact
/// holds `from`'s email now; 412 for a stale `If-Match`; 422 for a `from` the workspace
/// does not have.
#[utoipa::path(
    tag = "contacts",
    params(("id" = Uuid, Path, description = "The surviving contact's id."), IfMatch, IdempotencyKey),
    request_body = UnmergeBody,
    responses(
        (status = 200, description = "The contact with its companies.", body = ContactDetail,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "Nothing to unmerge, or the email is taken.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("delete_records"))),
)]
#[post("/contacts/{id}/unmerge")]
pub async fn unmerge_contacts(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<UnmergeBody>,
) -> Result<HttpResponse, ApiError> {
    unmerge::<Contacts>(&req, &state, &ctx, *id, body).await
}

/// Merges company `from` into this one, in one transaction. This company survives with
/// the values chosen field by field (`fields`; by default its own, or `from`'s where it
/// has none) and the union of both's tags; every live contact whose company was `from`,
/// every association with it, and every live deal and activity naming it name this one
/// instead. `from` becomes a tombstone: deleted, with `merged_into` naming this company,
/// shown to every reader of its id. The trail and both histories show each change with
/// `merge of <from> into <id>` as the reason. Answers 200 with this company.
///
/// # Errors
/// 403 (a Member: only companies they own); 404 for an `id` the workspace does not have;
/// 409 when either is deleted or merged into another (`from` merged into this one
/// already: 200, nothing changes); 412 for a stale `If-Match`; 422 for a
/// `from` the workspace does not have, `from` = `id`, an unknown field, or more than
/// 1,000 records to move.
#[utoipa::path(
    tag = "companies",
    params(("id" = Uuid, Path, description = "The surviving company's id."), IfMatch, IdempotencyKey),
    request_body = MergeBody,
    responses(
        (status = 200, description = "The surviving company.", body = CompanyView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "A company is deleted or merged already.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("delete_records"))),
)]
#[post("/companies/{id}/merge")]
pub async fn merge_companies(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    merge::<Companies>(&req, &state, &ctx, *id, body).await
}

/// Undoes the merge of company `from` into this one, by new events in one transaction:
/// each value the merge gave this company goes back to what it was before, unless it
/// changed since (later edits stay); the contacts, associations, deals and activities
/// the merge moved name `from` again; `from` comes back as it was. Answers 200 with this
/// company.
///
/// # Errors
/// 403; 404 for an `id` the workspace does not have; 409 when `from` was not merged into
/// this company (or was given back already), or this one is deleted; 412 for a stale
/// `If-Match`; 422 for a `from` the workspace does not have.
#[utoipa::path(
    tag = "companies",
    params(("id" = Uuid, Path, description = "The surviving company's id."), IfMatch, IdempotencyKey),
    request_body = UnmergeBody,
    responses(
        (status = 200, description = "The company.", body = CompanyView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "Nothing to unmerge.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("delete_records"))),
)]
#[post("/companies/{id}/unmerge")]
pub async fn unmerge_companies(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<UnmergeBody>,
) -> Result<HttpResponse, ApiError> {
    unmerge::<Companies>(&req, &state, &ctx, *id, body).await
}

/// Registers the four routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(merge_contacts)
        .service(unmerge_contacts)
        .service(merge_companies)
        .service(unmerge_companies);
}
