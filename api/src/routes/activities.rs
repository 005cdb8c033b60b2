//! `/v1/activities`, `/v1/tasks` and the timelines of contacts, companies and deals.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::activity::{ActivityCommand, ActivityKind, Direction, Links, Priority};
use crm_domain::{Email, EntityId, EventMetadata, Guarded, UserId};
use crm_projections::entities::activity::Model;
use crm_projections::queries::activities::{self, Subject, TaskFilter};
use crm_projections::queries::{companies, contacts, deals, users, Page};
use crm_projections::TenantScope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::records::{self, Record};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::Query;
use crate::history::RecordType;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;

/// An activity as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActivityView {
    /// Id.
    pub id: Uuid,
    /// `note`, `call`, `meeting`, `email` or `task`.
    pub kind: String,
    /// Subject, title, or a note's first line.
    pub title: String,
    /// The kind's own fields, with `kind` (e.g. a call's `direction`,
    /// `duration_seconds`, `outcome`, `body`).
    pub details: serde_json::Value,
    /// When it happened (timeline order).
    pub occurred_at: DateTime<Utc>,
    /// Linked contacts.
    pub contact_ids: Vec<Uuid>,
    /// Linked companies.
    pub company_ids: Vec<Uuid>,
    /// Linked deals.
    pub deal_ids: Vec<Uuid>,
    /// Tasks: due time.
    pub due_at: Option<DateTime<Utc>>,
    /// Tasks: assignee.
    pub assignee_id: Option<Uuid>,
    /// Tasks: priority (`low`, `normal` or `high`).
    pub priority: Option<String>,
    /// Tasks: `open` or `completed`; null for other kinds.
    #[schema(value_type = Option<String>)]
    pub status: Option<&'static str>,
    /// Tasks: when completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Aggregate version (also the `ETag`).
    pub version: i64,
    /// Logging time.
    pub created_at: DateTime<Utc>,
    /// Who logged it (user id or system actor).
    pub created_by: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last changing actor.
    pub updated_by: String,
}

impl From<Model> for ActivityView {
    fn from(m: Model) -> Self {
        let status = (m.kind == "task").then(|| {
            if m.completed_at.is_some() {
                "completed"
            } else {
                "open"
            }
        });
        Self {
            id: m.id,
            kind: m.kind,
            title: m.title,
            details: m.details,
            occurred_at: m.occurred_at,
            contact_ids: m.contact_ids,
            company_ids: m.company_ids,
            deal_ids: m.deal_ids,
            due_at: m.due_at,
            assignee_id: m.assignee_id,
            priority: m.priority,
            status,
            completed_at: m.completed_at,
            deleted: m.deleted,
            version: m.version,
            created_at: m.created_at,
            created_by: m.created_by,
            updated_at: m.updated_at,
            updated_by: m.updated_by,
        }
    }
}

/// `POST /v1/activities` and `PATCH /v1/activities/{id}` body: `kind` and the fields of
/// that kind, plus links. Fields of another kind are refused.
///
/// | kind | required | optional |
/// |---|---|---|
/// | `note` | `body` | |
/// | `call` | `direction`, `duration_seconds` | `outcome`, `body` |
/// | `meeting` | `title`, `starts_at`, `ends_at` | `attendees` (emails), `body` |
/// | `email` | `subject`, `direction`, `sent_at` | `body` |
/// | `task` | `title` | `due_at`, `assignee_id`, `priority` (`low`, `normal`, `high`), `body` |
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "call", "direction": "outbound", "duration_seconds": 540,
    "outcome": "Interested, send a quote", "body": "Talked about the renewal."}))]
pub struct ActivityBody {
    /// `note`, `call`, `meeting`, `email` or `task` (required to create; fixed
    /// afterwards).
    pub kind: Option<String>,
    /// Text.
    pub body: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<Direction>,
    /// Call length in seconds.
    pub duration_seconds: Option<u32>,
    /// Call outcome.
    pub outcome: Option<String>,
    /// Meeting or task title.
    pub title: Option<String>,
    /// Meeting start (RFC 3339).
    pub starts_at: Option<DateTime<Utc>>,
    /// Meeting end.
    pub ends_at: Option<DateTime<Utc>>,
    /// Meeting attendees' emails.
    pub attendees: Option<Vec<String>>,
    /// Email subject.
    pub subject: Option<String>,
    /// Email time.
    pub sent_at: Option<DateTime<Utc>>,
    /// Task due time (`null` clears it).
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub due_at: Option<Option<DateTime<Utc>>>,
    /// Task assignee, a user of the workspace (`null` clears it).
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub assignee_id: Option<Option<Uuid>>,
    /// Task priority.
    pub priority: Option<Priority>,
    /// Linked contacts (on a change: replaces the links when any list is given).
    pub contact_ids: Option<Vec<Uuid>>,
    /// Linked companies.
    pub company_ids: Option<Vec<Uuid>>,
    /// Linked deals.
    pub deal_ids: Option<Vec<Uuid>>,
}

fn required<T>(field: &'static str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::invalid(field, "is required for this kind"))
}

impl ActivityBody {
    /// The fields of the body that `kind` does not take.
    fn foreign_fields(&self, kind: &str) -> Vec<&'static str> {
        let present = [
            ("body", self.body.is_some(), "note call meeting email task"),
            ("direction", self.direction.is_some(), "call email"),
            ("duration_seconds", self.duration_seconds.is_some(), "call"),
            ("outcome", self.outcome.is_some(), "call"),
            ("title", self.title.is_some(), "meeting task"),
            ("starts_at", self.starts_at.is_some(), "meeting"),
            ("ends_at", self.ends_at.is_some(), "meeting"),
            ("attendees", self.attendees.is_some(), "meeting"),
            ("subject", self.subject.is_some(), "email"),
            ("sent_at", self.sent_at.is_some(), "email"),
            ("due_at", self.due_at.is_some(), "task"),
            ("assignee_id", self.assignee_id.is_some(), "task"),
            ("priority", self.priority.is_some(), "task"),
        ];
        present
            .iter()
            .filter(|(_, set, kinds)| *set && !kinds.split(' ').any(|k| k == kind))
            .map(|(f, _, _)| *f)
            .collect()
    }

    /// Lays this body over `base` (the current fields when editing) to build the kind.
    fn kind(self, kind: &str, base: Option<ActivityKind>) -> Result<ActivityKind, ApiError> {
        if let Some(field) = self.foreign_fields(kind).first() {
            return Err(ApiError::invalid(
                *field,
                format!("is not a field of a {kind}"),
            ));
        }
        let attendees = match self.attendees {
            Some(list) => Some(
                list.iter()
                    .map(|a| {
                        Email::parse(a).map_err(|e| ApiError::invalid("attendees", e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(match (kind, base) {
            ("note", Some(ActivityKind::Note { body })) => ActivityKind::Note {
                body: self.body.unwrap_or(body),
            },
            ("note", _) => ActivityKind::Note {
                body: required("body", self.body)?,
            },
            (
                "call",
                Some(ActivityKind::Call {
                    direction,
                    duration_seconds,
                    outcome,
                    body,
                }),
            ) => ActivityKind::Call {
                direction: self.direction.unwrap_or(direction),
                duration_seconds: self.duration_seconds.unwrap_or(duration_seconds),
                outcome: self.outcome.or(outcome),
                body: self.body.or(body),
            },
            ("call", _) => ActivityKind::Call {
                direction: required("direction", self.direction)?,
                duration_seconds: required("duration_seconds", self.duration_seconds)?,
                outcome: self.outcome,
                body: self.body,
            },
            (
                "meeting",
                Some(ActivityKind::Meeting {
                    title,
                    starts_at,
                    ends_at,
                    attendees: old,
                    body,
                }),
            ) => ActivityKind::Meeting {
                title: self.title.unwrap_or(title),
                starts_at: self.starts_at.unwrap_or(starts_at),
                ends_at: self.ends_at.unwrap_or(ends_at),
                attendees: attendees.unwrap_or(old),
                body: self.body.or(body),
            },
            ("meeting", _) => ActivityKind::Meeting {
                title: required("title", self.title)?,
                starts_at: required("starts_at", self.starts_at)?,
                ends_at: required("ends_at", self.ends_at)?,
                attendees: attendees.unwrap_or_default(),
                body: self.body,
            },
            (
                "email",
                Some(ActivityKind::Email {
                    subject,
                    direction,
                    sent_at,
                    body,
                }),
            ) => ActivityKind::Email {
                subject: self.subject.unwrap_or(subject),
                direction: self.direction.unwrap_or(direction),
                sent_at: self.sent_at.unwrap_or(sent_at),
                body: self.body.or(body),
            },
            ("email", _) => ActivityKind::Email {
                subject: required("subject", self.subject)?,
                direction: required("direction", self.direction)?,
                sent_at: required("sent_at", self.sent_at)?,
                body: self.body,
            },
            (
                "task",
                Some(ActivityKind::Task {
                    title,
                    due_at,
                    assignee_id,
                    priority,
                    body,
                }),
            ) => ActivityKind::Task {
                title: self.title.unwrap_or(title),
                due_at: self.due_at.unwrap_or(due_at),
                assignee_id: self.assignee_id.map_or(assignee_id, |a| a.map(UserId)),
                priority: self.priority.unwrap_or(priority),
                body: self.body.or(body),
            },
            ("task", _) => ActivityKind::Task {
                title: required("title", self.title)?,
                due_at: self.due_at.flatten(),
                assignee_id: self.assignee_id.flatten().map(UserId),
                priority: self.priority.unwrap_or_default(),
                body: self.body,
            },
            (other, _) => {
                return Err(ApiError::invalid(
                    "kind",
                    format!("unknown kind {other:?}: note, call, meeting, email or task"),
                ))
            }
        })
    }
}

/// Checks that linked records and the assignee exist (live) in the caller's workspace.
async fn check_links(
    state: &AppState,
    auth: &AuthContext,
    links: &Links,
    assignee: Option<UserId>,
) -> Result<(), ApiError> {
    let db = &state.pools.app;
    for id in &links.contact_ids {
        if contacts::get(db, &auth.scope, id.0)
            .await?
            .is_none_or(|r| r.deleted)
        {
            return Err(ApiError::invalid(
                "contact_ids",
                format!("no such contact in this workspace: {id}"),
            ));
        }
    }
    for id in &links.company_ids {
        if companies::get(db, &auth.scope, id.0)
            .await?
            .is_none_or(|r| r.deleted)
        {
            return Err(ApiError::invalid(
                "company_ids",
                format!("no such company in this workspace: {id}"),
            ));
        }
    }
    for id in &links.deal_ids {
        if deals::get(db, &auth.scope, id.0)
            .await?
            .is_none_or(|r| r.deleted)
        {
            return Err(ApiError::invalid(
                "deal_ids",
                format!("no such deal in this workspace: {id}"),
            ));
        }
    }
    if let Some(user) = assignee {
        if users::get_user(db, &auth.scope, user.0).await?.is_none() {
            return Err(ApiError::invalid(
                "assignee_id",
                "no such user in this workspace",
            ));
        }
    }
    Ok(())
}

fn links_of(
    contact_ids: Option<Vec<Uuid>>,
    company_ids: Option<Vec<Uuid>>,
    deal_ids: Option<Vec<Uuid>>,
) -> Links {
    let ids = |v: Option<Vec<Uuid>>| v.unwrap_or_default().into_iter().map(EntityId).collect();
    Links {
        contact_ids: ids(contact_ids),
        company_ids: ids(company_ids),
        deal_ids: ids(deal_ids),
    }
}

fn assignee(kind: &ActivityKind) -> Option<UserId> {
    match kind {
        ActivityKind::Task { assignee_id, .. } => *assignee_id,
        _ => None,
    }
}

/// Activities in the record machinery: a create or edit parses the kind's fields and
/// checks links and assignee in the caller's workspace; an edit merges onto the current
/// fields and, without `If-Match`, is guarded by the version it merged onto, so a
/// concurrent change is never overwritten silently.
pub struct Activities;

impl Record for Activities {
    const TYPE: RecordType = RecordType::Activity;
    type Row = Model;
    type View = ActivityView;
    type Create = ActivityBody;
    type Patch = ActivityBody;
    type Command = ActivityCommand;

    async fn find(
        state: &AppState,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<Option<Model>, ApiError> {
        Ok(activities::get(&state.pools.app, scope, id).await?)
    }

    async fn execute(
        state: &AppState,
        id: EntityId,
        command: Guarded<ActivityCommand>,
        meta: &EventMetadata,
    ) -> Result<(), ApiError> {
        Ok(state.commands.activity(id, command, meta).await?)
    }

    async fn create_command(
        state: &AppState,
        ctx: &CommandContext,
        mut body: ActivityBody,
    ) -> Result<ActivityCommand, ApiError> {
        let kind_name = required("kind", body.kind.take())?;
        let links = links_of(
            body.contact_ids.take(),
            body.company_ids.take(),
            body.deal_ids.take(),
        );
        let kind = body.kind(&kind_name, None)?;
        check_links(state, &ctx.auth, &links, assignee(&kind)).await?;
        Ok(ActivityCommand::Log { kind, links })
    }

    async fn update_command(
        state: &AppState,
        ctx: &CommandContext,
        id: Uuid,
        if_version: Option<u64>,
        mut body: ActivityBody,
    ) -> Result<Guarded<ActivityCommand>, ApiError> {
        let current = records::load::<Self>(state, &ctx.auth, id).await?;
        if body.kind.take().is_some_and(|k| k != current.kind) {
            return Err(ApiError::invalid("kind", "an activity keeps its kind"));
        }
        let relink =
            body.contact_ids.is_some() || body.company_ids.is_some() || body.deal_ids.is_some();
        let ids = |given: Option<Vec<Uuid>>, now: &[Uuid]| -> Vec<EntityId> {
            given
                .unwrap_or_else(|| now.to_vec())
                .into_iter()
                .map(EntityId)
                .collect()
        };
        let links = Links {
            contact_ids: ids(body.contact_ids.take(), &current.contact_ids),
            company_ids: ids(body.company_ids.take(), &current.company_ids),
            deal_ids: ids(body.deal_ids.take(), &current.deal_ids),
        };
        let base: ActivityKind =
            serde_json::from_value(current.details.clone()).map_err(ApiError::internal)?;
        let kind = body.kind(&current.kind, Some(base))?;
        let unchanged = Links::default();
        check_links(
            state,
            &ctx.auth,
            if relink { &links } else { &unchanged },
            assignee(&kind),
        )
        .await?;
        Ok(Guarded {
            if_version: if_version.or(u64::try_from(current.version).ok()),
            command: ActivityCommand::Edit {
                kind,
                links: relink.then_some(links),
            },
        })
    }

    fn delete_command() -> ActivityCommand {
        ActivityCommand::Delete
    }

    fn restore_command() -> ActivityCommand {
        ActivityCommand::Restore
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
}

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
    records::ensure_owner::<Activities>(&state, &ctx.auth, id).await?;
    let row = records::run::<Activities>(&req, &state, &ctx, id, command).await?;
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
    let db = &state.pools.app;
    let exists = match subject {
        Subject::Contact => contacts::get(db, &auth.scope, id).await?.is_some(),
        Subject::Company => companies::get(db, &auth.scope, id).await?.is_some(),
        Subject::Deal => deals::get(db, &auth.scope, id).await?.is_some(),
    };
    if !exists {
        return Err(ApiError::NotFound);
    }
    let page =
        activities::timeline(db, &auth.scope, subject, id, q.cursor.as_deref(), limit).await?;
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
    let page = activities::tasks(&state.pools.app, &auth.scope, &filter).await?;
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
