//! The record routes: the HTTP side of the record use cases of [`crm_app::records`].
//!
//! A record type implements [`Record`] once, in the application layer (its command,
//! view, read row, bodies, and the hooks that turn a body into a command), and its route
//! module invokes [`record_routes!`](crate::record_routes) once; that gives it, declared
//! in the contract with its permission, `GET /{records}/{id}` (with `?version`/`?as_of`),
//! `POST /{records}`, `PATCH /{records}/{id}`, `DELETE /{records}/{id}` and
//! `POST /{records}/{id}/restore`. [`crate::batch_routes!`] adds its batches. What is
//! HTTP lives here: `ETag`, `If-Match`, `Location` and statuses.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
pub use crm_app::records::Record;
use crm_projections::entities::RecordRow;
use uuid::Uuid;

use super::{if_match, record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::state::AppState;

/// `row` as `status` with its view and `ETag`.
pub(crate) fn answer<R: Record>(status: StatusCode, row: R::Row) -> HttpResponse {
    record(status, row.version(), &R::View::from(row))
}

/// `GET /{records}/{id}`: the current record (404 for a deleted one without the right
/// to see deleted records), or with a point in time its past state.
///
/// # Errors
/// 403 for a past state without the audit right; 404; 422 for a bad point in time.
pub(crate) async fn get<R: Record>(
    state: &AppState,
    auth: &AuthContext,
    id: Uuid,
    point: &super::history::PointInTime,
) -> Result<HttpResponse, ApiError> {
    if let Some(at) = point.at()? {
        return super::history::past(state, auth, R::TYPE, id, at).await;
    }
    let (version, detail) = crm_app::records::find::<R>(state.services(), auth, id).await?;
    Ok(record(StatusCode::OK, version, &detail))
}

/// `POST /{records}`: 201 with `Location` and the record.
///
/// # Errors
/// 409, 422 and the store's errors.
pub(crate) async fn create<R: Record>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    body: R::Create,
) -> Result<HttpResponse, ApiError> {
    let reserved = actix_web::HttpMessage::extensions(req)
        .get::<crate::idempotency::ReservedId>()
        .map(|r| r.0);
    let (id, row) =
        crm_app::records::create::<R>(state.services(), &ctx.auth, &ctx.metadata, body, reserved)
            .await?;
    crate::faults::after_commit(req)?;
    let mut response = answer::<R>(StatusCode::CREATED, row);
    let location = format!("/v1/{}/{id}", R::TYPE.segment());
    if let Ok(location) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// `PATCH /{records}/{id}`: 200 with the record.
///
/// # Errors
/// 403 (a Member's edit of another's record), 404, 409, 412, 422.
pub(crate) async fn update<R: Record>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    body: R::Patch,
) -> Result<HttpResponse, ApiError> {
    let row = crm_app::records::update::<R>(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        if_match(req)?,
        body,
    )
    .await?;
    Ok(answer::<R>(StatusCode::OK, row))
}

/// `DELETE /{records}/{id}`: soft delete, 204.
///
/// # Errors
/// 403, 404, 409 (already deleted), 412.
pub(crate) async fn delete<R: Record>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
) -> Result<HttpResponse, ApiError> {
    crm_app::records::delete::<R>(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        if_match(req)?,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /{records}/{id}/restore`: 200 with the record.
///
/// # Errors
/// 403, 404, 409 (not deleted), 412.
pub(crate) async fn restore<R: Record>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
) -> Result<HttpResponse, ApiError> {
    let row = crm_app::records::restore::<R>(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        if_match(req)?,
    )
    .await?;
    Ok(answer::<R>(StatusCode::OK, row))
}

/// Declares a record type's shared routes beside its module's own: `get`, `create`,
/// `update`, `delete` and `restore` handlers, each with its `#[utoipa::path]` (tag,
/// permission, statuses, headers) and its actix route, calling [`crate::routes::records`].
///
/// `record` is the [`Record`] type; `tag` the contract's tag; the paths are literals
/// because route attributes take nothing else; `view`, `detail`, `create` and `patch` are
/// the schema types of the answer, the `GET` answer, and the two bodies. The invoking
/// module imports actix-web's `get`, `post`, `patch` and `delete` attributes (utoipa reads
/// the route from them by name).
#[macro_export]
macro_rules! record_routes {
    (
        record: $record:ty,
        tag: $tag:literal,
        collection: $collection:literal,
        item: $item:literal,
        restore: $restore:literal,
        view: $view:ident,
        detail: $detail:ident,
        create: $create:ident,
        patch: $patch:ident $(,)?
    ) => {
        /// Creates a record: 201 with `Location`, `ETag` and the record.
        ///
        /// # Errors
        /// 403, 409, 422.
        #[utoipa::path(
            tag = $tag,
            request_body = $create,
            params($crate::openapi::IdempotencyKey),
            responses(
                (status = 201, description = "Created.", body = $view, headers(
                    ("ETag" = String, description = "The record's version, e.g. `\"1\"`."),
                    ("Location" = String, description = "The record's URL."),
                )),
                (status = 409, description = "A unique value is taken.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
            ),
            extensions(("x-permission" = json!("create_records"))),
        )]
        #[post($collection)]
        pub async fn create(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            $crate::extract::Json(body): $crate::extract::Json<$create>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::create::<$record>(&req, &state, &ctx, body).await
        }

        /// One record. With `?as_of=<RFC 3339>` or `?version=N` (Owner, Admin): the record
        /// as it was then, rebuilt from its events.
        ///
        /// # Errors
        /// 403 (past state without the audit right), 404, 422.
        #[utoipa::path(
            tag = $tag,
            params(("id" = uuid::Uuid, Path, description = "The record's id."), $crate::routes::history::PointInTime),
            responses((status = 200, description = "The record, or its past state.",
                body = $crate::routes::history::CurrentOrPast<$detail>,
                headers(("ETag" = String, description = "The record's version (current state only)."))
            )),
            extensions(("x-permission" = json!("read_records"))),
        )]
        #[get($item)]
        pub async fn get(
            state: actix_web::web::Data<$crate::state::AppState>,
            auth: $crate::auth::AuthContext,
            id: actix_web::web::Path<uuid::Uuid>,
            $crate::extract::Query(point): $crate::extract::Query<$crate::routes::history::PointInTime>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::get::<$record>(&state, &auth, *id, &point).await
        }

        /// Changes a record (JSON merge patch, RFC 7396: absent fields stay, `null`
        /// clears): 200 with the record.
        ///
        /// # Errors
        /// 403, 404, 409 (deleted, or a unique value taken), 412, 422.
        #[utoipa::path(
            tag = $tag,
            params(("id" = uuid::Uuid, Path, description = "The record's id."), $crate::openapi::IfMatch),
            request_body = $patch,
            responses(
                (status = 200, description = "The changed record.", body = $view,
                    headers(("ETag" = String, description = "The record's new version."))),
                (status = 409, description = "The record is deleted, or a unique value is taken.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
                (status = 412, description = "`If-Match` names another version.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
            ),
            extensions(("x-permission" = json!("update_records"))),
        )]
        #[patch($item)]
        pub async fn update(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            id: actix_web::web::Path<uuid::Uuid>,
            $crate::extract::Json(body): $crate::extract::Json<$patch>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::update::<$record>(&req, &state, &ctx, *id, body).await
        }

        /// Soft-deletes a record: 204. It stays in history and can be restored.
        ///
        /// # Errors
        /// 403, 404, 409 (already deleted), 412.
        #[utoipa::path(
            tag = $tag,
            params(("id" = uuid::Uuid, Path, description = "The record's id."), $crate::openapi::IfMatch),
            responses(
                (status = 204, description = "Deleted."),
                (status = 409, description = "Already deleted.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
                (status = 412, description = "`If-Match` names another version.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
            ),
            extensions(("x-permission" = json!("delete_records"))),
        )]
        #[delete($item)]
        pub async fn delete(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            id: actix_web::web::Path<uuid::Uuid>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::delete::<$record>(&req, &state, &ctx, *id).await
        }

        /// Restores a soft-deleted record: 200 with the record.
        ///
        /// # Errors
        /// 403, 404, 409 (not deleted, or a unique value taken since), 412.
        #[utoipa::path(
            tag = $tag,
            params(("id" = uuid::Uuid, Path, description = "The record's id."), $crate::openapi::IfMatch, $crate::openapi::IdempotencyKey),
            responses(
                (status = 200, description = "The restored record.", body = $view,
                    headers(("ETag" = String, description = "The record's new version."))),
                (status = 409, description = "Not deleted, or a unique value is taken.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
                (status = 412, description = "`If-Match` names another version.", body = $crate::openapi::Problem, content_type = "application/problem+json"),
            ),
            extensions(("x-permission" = json!("restore_records"))),
        )]
        #[post($restore)]
        pub async fn restore(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            id: actix_web::web::Path<uuid::Uuid>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::restore::<$record>(&req, &state, &ctx, *id).await
        }
    };
}
