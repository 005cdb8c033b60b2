//! `/v1/schema`: the workspace's custom fields. The use cases are [`crm_app::fields`]'s;
//! a record's values are under `custom` in its own routes.

use actix_web::http::{header, StatusCode};
use actix_web::{get, patch, post, web, HttpResponse};
use crm_app::field_copy::{CopyBody, CopyReport};
use crm_app::fields::{self, FieldPatch, SchemaView};
use crm_domain::fields::{FieldDefinition, FieldInput};
use uuid::Uuid;

use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Json;
use crate::openapi::{IdempotencyKey, Problem};
use crate::state::AppState;

/// Every custom field of the workspace (every record type's, archived ones included, in
/// the order they were defined).
///
/// # Errors
/// 401.
#[utoipa::path(
    tag = "schema",
    responses((status = 200, description = "The workspace's fields.", body = SchemaView)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/schema")]
pub async fn list(state: web::Data<AppState>, auth: AuthContext) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(fields::list(state.services(), &auth).await?))
}

/// Defines a custom field (Owner, Admin): 201 with `Location` and the field. Its id and
/// its `key` never change; its type never changes either (a new type is a new field).
///
/// # Errors
/// 403; 409 for a key used before in the record type (archived fields included) or a
/// label taken; 422.
#[utoipa::path(
    tag = "schema",
    request_body = FieldInput,
    params(IdempotencyKey),
    responses(
        (status = 201, description = "Defined.", body = FieldDefinition, headers(
            ("Location" = String, description = "`/v1/schema/fields/{id}`."),
        )),
        (status = 409, description = "The key was used before in the record type, or the label is taken.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_fields"))),
)]
#[post("/schema/fields")]
pub async fn define(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(body): Json<FieldInput>,
) -> Result<HttpResponse, ApiError> {
    let field = fields::define(state.services(), &ctx.auth, &ctx.metadata, body).await?;
    let mut res = HttpResponse::build(StatusCode::CREATED).json(&field);
    if let Ok(location) = header::HeaderValue::from_str(&format!("/v1/schema/fields/{}", field.id))
    {
        res.headers_mut().insert(header::LOCATION, location);
    }
    Ok(res)
}

/// Renames a field and/or replaces a select field's options (Owner, Admin): 200 with the
/// field. Options are archived, never removed.
///
/// # Errors
/// 403, 404, 409 (a label taken), 422 (an option left out, a non-select field's options).
#[utoipa::path(
    tag = "schema",
    params(("id" = Uuid, Path, description = "The field's id.")),
    request_body = FieldPatch,
    responses(
        (status = 200, description = "The field.", body = FieldDefinition),
        (status = 409, description = "The label is taken by another live field.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_fields"))),
)]
#[patch("/schema/fields/{id}")]
pub async fn change(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<FieldPatch>,
) -> Result<HttpResponse, ApiError> {
    let field = fields::change(state.services(), &ctx.auth, &ctx.metadata, *id, body).await?;
    Ok(HttpResponse::Ok().json(field))
}

/// Archives a field (Owner, Admin): its values leave every view and export, stay in the
/// records' history, and it may not be written until restored. 200 with the field.
///
/// # Errors
/// 403, 404, 409 (archived already).
#[utoipa::path(
    tag = "schema",
    params(("id" = Uuid, Path, description = "The field's id.")),
    responses(
        (status = 200, description = "The archived field.", body = FieldDefinition),
        (status = 409, description = "The field is archived already.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_fields"))),
)]
#[post("/schema/fields/{id}/archive")]
pub async fn archive(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let field = fields::set_archived(state.services(), &ctx.auth, &ctx.metadata, *id, true).await?;
    Ok(HttpResponse::Ok().json(field))
}

/// Restores an archived field (Owner, Admin): each record's latest value comes back (for
/// a contact's personal data field, by rebuilding the workspace's read rows from its
/// events). 200 with the field.
///
/// # Errors
/// 403, 404, 409 (not archived, or its label taken by a live field meanwhile).
#[utoipa::path(
    tag = "schema",
    params(("id" = Uuid, Path, description = "The field's id.")),
    responses(
        (status = 200, description = "The restored field.", body = FieldDefinition),
        (status = 409, description = "The field is not archived, or a live field has its label.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("manage_fields"))),
)]
#[post("/schema/fields/{id}/restore")]
pub async fn restore(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let field = fields::restore(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        *id,
        &state.pools.projector,
    )
    .await?;
    Ok(HttpResponse::Ok().json(field))
}

/// Copies this field's values into another field of the same record type (Owner,
/// Admin): how a field changes type. Every live record with a value gets the value
/// converted to the other field's type (as an import converts a cell), by an ordinary
/// update event with `copy of field <key> to <key>` as its reason; a value that does not
/// convert, or that the record refuses (a unique value taken), is listed under `skipped`.
/// Running it again copies nothing new. 200 with the report.
///
/// # Errors
/// 403; 404 for a field the workspace does not have or has archived; 422 on `to` (the
/// same field, another record type's, or none).
#[utoipa::path(
    tag = "schema",
    params(("id" = Uuid, Path, description = "The field whose values are copied.")),
    request_body = CopyBody,
    responses(
        (status = 200, description = "What was copied.", body = CopyReport),
    ),
    extensions(("x-permission" = json!("manage_fields"))),
)]
#[post("/schema/fields/{id}/copy")]
pub async fn copy(
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CopyBody>,
) -> Result<HttpResponse, ApiError> {
    let report =
        crm_app::field_copy::copy(state.services(), &ctx.auth, &ctx.metadata, *id, body).await?;
    Ok(HttpResponse::Ok().json(report))
}

/// The schema routes.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(define)
        .service(change)
        .service(archive)
        .service(restore)
        .service(copy);
}
