//! `/v1/activities`, `/v1/tasks` and the timelines of contacts, companies and deals.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::activity::ActivityCommand;
use crm_projections::queries::activities::{self, Subject, TaskFilter};
use crm_store::page::Page;
use serde::Deserialize;
use uuid::Uuid;

use super::{if_match, records};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Query;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::records::activities::{Activities, ActivityBody, ActivityView};

crate::record_routes! {
    record: Activities,
    tag: "activities",
    collection: "/activities",
    item: "/activities/{id}",
    restore: "/activities/{id}/restore",
    view: ActivityView,
    detail: ActivityView,
    create: ActivityBody,
    patch: ActivityBody,
}

/// Runs a task command on an activity the caller may change: 200 with the activity.
async fn command(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: Uuid,
    command: ActivityCommand,
) -> Result<HttpResponse, ApiError> {
    let row = crm_app::records::run::<Activities>(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        if_match(&req)?,
        command,
    )
    .await?;
    crate::faults::after_commit(&req)?;
    Ok(records::answer::<Activities>(StatusCode::OK, row))
}

/// Marks a task done (409 if it is already): 200 with the task.
///
/// # Errors
/// 403, 404, 409, 412, 422 (not a task).
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The activity's id."), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "The completed task.", body = ActivityView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The task is completed already, or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/activities/{id}/complete")]
pub async fn complete(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let at = ctx.metadata.occurred_at;
    command(req, state, ctx, *id, ActivityCommand::Complete { at }).await
}

/// Reopens a completed task: 200 with the task.
///
/// # Errors
/// 403, 404, 409, 412, 422.
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The activity's id."), IfMatch, IdempotencyKey),
    responses(
        (status = 200, description = "The reopened task.", body = ActivityView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The task is open already, or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/activities/{id}/reopen")]
pub async fn reopen(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    command(req, state, ctx, *id, ActivityCommand::Reopen).await
}

/// Timeline paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

async fn timeline(
    state: web::Data<AppState>,
    auth: AuthContext,
    subject: Subject,
    id: Uuid,
    q: PageQuery,
) -> Result<HttpResponse, ApiError> {
    let limit = super::ListQuery {
        limit: q.limit,
        ..Default::default()
    }
    .limit()?;
    let (scope, cursor) = (&auth.scope, q.cursor.as_deref());
    let page = state
        .reads
        .run(&auth, |db| async move {
            crm_app::records::activities::timeline(&db, scope, subject, id, cursor, limit).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(ActivityView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A contact's timeline: its activities, newest first, with who logged each.
///
/// # Errors
/// 404, 422.
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The contact's id."), PageQuery),
    responses((status = 200, description = "A page of the contact's activities, newest first.", body = Page<ActivityView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/contacts/{id}/timeline")]
pub async fn contact_timeline(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    timeline(state, auth, Subject::Contact, *id, q).await
}

/// A company's timeline: its activities, newest first, with who logged each.
///
/// # Errors
/// 404, 422.
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The company's id."), PageQuery),
    responses((status = 200, description = "A page of the company's activities, newest first.", body = Page<ActivityView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/companies/{id}/timeline")]
pub async fn company_timeline(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    timeline(state, auth, Subject::Company, *id, q).await
}

/// A deal's timeline: its activities, newest first, with who logged each.
///
/// # Errors
/// 404, 422.
#[utoipa::path(
    tag = "activities",
    params(("id" = Uuid, Path, description = "The deal's id."), PageQuery),
    responses((status = 200, description = "A page of the deal's activities, newest first.", body = Page<ActivityView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/deals/{id}/timeline")]
pub async fn deal_timeline(
    state: web::Data<AppState>,
    auth: AuthContext,
    id: web::Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    timeline(state, auth, Subject::Deal, *id, q).await
}

/// `GET /v1/tasks` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaskQuery {
    /// Only tasks assigned to this user: a user id, or `me`.
    pub assignee: Option<String>,
    /// Due before (RFC 3339).
    pub due_before: Option<DateTime<Utc>>,
    /// Due at or after (RFC 3339).
    pub due_after: Option<DateTime<Utc>>,
    /// `open` or `completed`.
    pub status: Option<String>,
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists tasks, soonest due first (e.g. `?assignee=me&due_before=…&status=open`).
///
/// # Errors
/// 422 for bad parameters.
#[utoipa::path(
    tag = "activities",
    params(TaskQuery),
    responses((status = 200, description = "A page of tasks, soonest due first.", body = Page<ActivityView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/tasks")]
pub async fn tasks(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<TaskQuery>,
) -> Result<HttpResponse, ApiError> {
    let assignee_id = match q.assignee.as_deref() {
        None => None,
        Some("me") => Some(auth.user.0),
        Some(text) => Some(
            Uuid::parse_str(text)
                .map_err(|_| ApiError::invalid("assignee", "a user id or \"me\""))?,
        ),
    };
    let completed = match q.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("completed") => Some(true),
        Some(_) => return Err(ApiError::invalid("status", "must be open or completed")),
    };
    let limit = super::ListQuery {
        limit: q.limit,
        ..Default::default()
    }
    .limit()?;
    let filter = TaskFilter {
        assignee_id,
        due_before: q.due_before,
        due_after: q.due_after,
        completed,
        limit,
        cursor: q.cursor,
    };
    let (scope, filter) = (&auth.scope, &filter);
    let page = state
        .reads
        .run(&auth, |db| async move {
            Ok(activities::tasks(&db, scope, filter).await?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(Page {
        items: page.items.into_iter().map(ActivityView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(complete)
        .service(reopen)
        .service(restore)
        .service(tasks)
        .service(contact_timeline)
        .service(company_timeline)
        .service(deal_timeline);
}
