//! The record machinery: what companies, contacts, deals and activities share.
//!
//! A record type implements [`Record`] once (its command, view, read row, create and
//! patch bodies, and the hooks that turn a body into a command) and invokes
//! [`record_routes!`](crate::record_routes) once; that gives it, declared in the contract
//! with its permission, `GET /{records}/{id}` (with `?version`/`?as_of`),
//! `POST /{records}`, `PATCH /{records}/{id}`, `DELETE /{records}/{id}` and
//! `POST /{records}/{id}/restore`. The same trait serves its batch routes
//! ([`super::batch`]) and its revert ([`super::history`]): the fields a revert sets back
//! are read from the patch body's schema, so a new field is revertible with no list to
//! keep.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use crm_domain::{Action, EntityId, EventMetadata, Guarded, Role};
use crm_projections::TenantScope;
use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

use super::{if_match, record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::history::RecordType;
use crate::state::AppState;

/// A record type served by the shared record routes.
pub(crate) trait Record: Sized + 'static {
    /// Its type in the trail; its path segment is [`RecordType::segment`].
    const TYPE: RecordType;
    /// Its read-model row.
    type Row;
    /// Its JSON answer.
    type View: Serialize + From<Self::Row>;
    /// The `POST` body.
    type Create: DeserializeOwned;
    /// The `PATCH` body (JSON merge patch, RFC 7396).
    type Patch: DeserializeOwned + utoipa::PartialSchema;
    /// Its aggregate's command.
    type Command;

    /// The row of `id` in the caller's workspace, deleted or not.
    async fn find(
        state: &AppState,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<Self::Row>, ApiError>;

    /// Runs `command` on the record's stream.
    async fn execute(
        state: &AppState,
        id: EntityId,
        command: Guarded<Self::Command>,
        meta: &EventMetadata,
    ) -> Result<(), ApiError>;

    /// The create command for `body`, after the checks that span streams.
    async fn create_command(
        state: &AppState,
        ctx: &CommandContext,
        body: Self::Create,
    ) -> Result<Self::Command, ApiError>;

    /// The update command for `body`, guarded by `if_version` (a type may guard by the
    /// version it merged onto when none is given).
    async fn update_command(
        state: &AppState,
        ctx: &CommandContext,
        id: Uuid,
        if_version: Option<u64>,
        body: Self::Patch,
    ) -> Result<Guarded<Self::Command>, ApiError>;

    /// The soft-delete command.
    fn delete_command() -> Self::Command;
    /// The restore command.
    fn restore_command() -> Self::Command;

    /// The row's aggregate version.
    fn version(row: &Self::Row) -> i64;
    /// Whether the row is soft-deleted.
    fn deleted(row: &Self::Row) -> bool;
    /// Who owns the row, as the principal string of events (a Member changes only theirs).
    fn owner(row: &Self::Row) -> String;

    /// The `GET` answer for a current row; the view unless a type shows more.
    async fn detail(
        _state: &AppState,
        _auth: &AuthContext,
        row: Self::Row,
    ) -> Result<HttpResponse, ApiError> {
        Ok(answer::<Self>(StatusCode::OK, row))
    }
}

/// `row` as `status` with its view and `ETag`.
pub(crate) fn answer<R: Record>(status: StatusCode, row: R::Row) -> HttpResponse {
    record(status, R::version(&row), &R::View::from(row))
}

/// The row of `id`.
///
/// # Errors
/// 404 when the caller's workspace has no such record.
pub(crate) async fn load<R: Record>(
    state: &AppState,
    auth: &AuthContext,
    id: Uuid,
) -> Result<R::Row, ApiError> {
    R::find(state, &auth.scope, id)
        .await?
        .ok_or(ApiError::NotFound)
}

/// Members change only the records they own and read the rest (the permission matrix's
/// rule for the Member role); every other role passes. A record the tenant does not have
/// passes too, so the command answers its own 404.
///
/// # Errors
/// 403 for a Member on someone else's record.
pub(crate) async fn ensure_owner<R: Record>(
    state: &AppState,
    auth: &AuthContext,
    id: Uuid,
) -> Result<(), ApiError> {
    if auth.role != Role::Member {
        return Ok(());
    }
    match R::find(state, &auth.scope, id).await? {
        Some(row) if R::owner(&row) != auth.principal().to_string() => Err(ApiError::Forbidden),
        _ => Ok(()),
    }
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
    let row = load::<R>(state, auth, id).await?;
    if R::deleted(&row) && !auth.may(Action::ViewDeleted) {
        return Err(ApiError::NotFound);
    }
    R::detail(state, auth, row).await
}

/// Creates one record; returns its id and row.
///
/// # Errors
/// 409, 422 and the store's errors.
pub(crate) async fn create_one<R: Record>(
    state: &AppState,
    ctx: &CommandContext,
    body: R::Create,
) -> Result<(Uuid, R::Row), ApiError> {
    let command = R::create_command(state, ctx, body).await?;
    let id = EntityId::new();
    R::execute(state, id, Guarded::from(command), &ctx.metadata).await?;
    Ok((id.0, load::<R>(state, &ctx.auth, id.0).await?))
}

/// `POST /{records}`: 201 with `Location` and the record.
///
/// # Errors
/// As [`create_one`].
pub(crate) async fn create<R: Record>(
    state: &AppState,
    ctx: &CommandContext,
    body: R::Create,
) -> Result<HttpResponse, ApiError> {
    let (id, row) = create_one::<R>(state, ctx, body).await?;
    let mut response = answer::<R>(StatusCode::CREATED, row);
    let location = format!("/v1/{}/{id}", R::TYPE.segment());
    if let Ok(location) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Applies one patch to record `id`, guarded by `if_version`; returns its row.
///
/// # Errors
/// 403 (a Member's edit of another's record), 404, 409, 412, 422 and the store's errors.
pub(crate) async fn update_one<R: Record>(
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    if_version: Option<u64>,
    body: R::Patch,
) -> Result<R::Row, ApiError> {
    ensure_owner::<R>(state, &ctx.auth, id).await?;
    let command = R::update_command(state, ctx, id, if_version, body).await?;
    R::execute(state, EntityId(id), command, &ctx.metadata).await?;
    load::<R>(state, &ctx.auth, id).await
}

/// `PATCH /{records}/{id}`: 200 with the record.
///
/// # Errors
/// As [`update_one`]; 412 for an `If-Match` that names no version.
pub(crate) async fn update<R: Record>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    body: R::Patch,
) -> Result<HttpResponse, ApiError> {
    let row = update_one::<R>(state, ctx, id, if_match(req)?, body).await?;
    Ok(answer::<R>(StatusCode::OK, row))
}

/// Runs `command` on record `id`, guarded by `If-Match`; returns its row. The caller has
/// applied [`ensure_owner`] where the rule holds.
///
/// # Errors
/// 404, 409, 412 and the store's errors.
pub(crate) async fn run<R: Record>(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    command: R::Command,
) -> Result<R::Row, ApiError> {
    let command = Guarded {
        if_version: if_match(req)?,
        command,
    };
    R::execute(state, EntityId(id), command, &ctx.metadata).await?;
    load::<R>(state, &ctx.auth, id).await
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
    ensure_owner::<R>(state, &ctx.auth, id).await?;
    let command = Guarded {
        if_version: if_match(req)?,
        command: R::delete_command(),
    };
    R::execute(state, EntityId(id), command, &ctx.metadata).await?;
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
    ensure_owner::<R>(state, &ctx.auth, id).await?;
    let row = run::<R>(req, state, ctx, id, R::restore_command()).await?;
    Ok(answer::<R>(StatusCode::OK, row))
}

/// The top-level fields of `R`'s patch body, as its schema declares them: what a revert
/// sets back.
pub(crate) fn patch_fields<R: Record>() -> Vec<String> {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    use utoipa::PartialSchema;
    match R::Patch::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
        _ => Vec::new(),
    }
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
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            $crate::extract::Json(body): $crate::extract::Json<$create>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::records::create::<$record>(&state, &ctx, body).await
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
