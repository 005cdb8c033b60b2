//! Record history and past states: `GET /v1/{entity}/{id}/history` and the `as_of` /
//! `version` parameters of every record's `GET`.

use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::Action;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::history::{self, At, RecordType};
use crm_app::records;
use crm_app::records::companies::{Companies, CompanyView};
use crm_app::records::contacts::{ContactView, Contacts};

/// The point-in-time parameters of a record's `GET`: at most one of them (Owner and
/// Admin; past states are part of the audit trail).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PointInTime {
    /// RFC 3339 time: the record as the last event accepted at or before it left it.
    pub as_of: Option<DateTime<Utc>>,
    /// A version number (1-based): the record right after that event.
    #[param(minimum = 1)]
    pub version: Option<i64>,
}

/// The record types with a history: the `{entity}` path segment.
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum HistorySegment {
    /// `/v1/companies/{id}/history`.
    Companies,
    /// `/v1/contacts/{id}/history`.
    Contacts,
    /// `/v1/deals/{id}/history`.
    Deals,
    /// `/v1/activities/{id}/history`.
    Activities,
    /// `/v1/pipelines/{id}/history`.
    Pipelines,
}

/// The record types that can be reverted: the `{entity}` path segment of a revert.
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum RevertSegment {
    /// `/v1/companies/{id}/revert`.
    Companies,
    /// `/v1/contacts/{id}/revert`.
    Contacts,
}

/// `GET /v1/{entity}/{id}/history` answer.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VersionList {
    /// Every version, oldest first.
    pub items: Vec<history::Version>,
}

/// A revert's answer: the record as its `PATCH` answers.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Reverted {
    /// A reverted contact.
    Contact(ContactView),
    /// A reverted company.
    Company(CompanyView),
}

/// A record's `GET`: the current view, or with `version`/`as_of` its past state
/// (`{id, version, recorded_at, record}`).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum CurrentOrPast<T> {
    /// The record now.
    Current(T),
    /// The record at a past version.
    Past(crm_app::history::PastState),
}

impl PointInTime {
    /// `None` for the present; `Some` for a past state.
    ///
    /// # Errors
    /// 422 when both are given.
    pub fn at(&self) -> Result<Option<At>, ApiError> {
        match (self.as_of, self.version) {
            (Some(_), Some(_)) => Err(ApiError::invalid(
                "as_of",
                "give either as_of or version, not both",
            )),
            (Some(t), None) => Ok(Some(At::Time(t))),
            (None, Some(n)) => Ok(Some(At::Version(n))),
            (None, None) => Ok(None),
        }
    }
}

/// Answers a record `GET` that asks for a past state: `{version, recorded_at, record}`.
/// Past states (deleted ones included) are part of the trail, so they need `ReadAudit`.
///
/// # Errors
/// 403 for roles without the audit right; 404 for no such record or one that did not
/// exist yet; 422 for a version out of range.
pub async fn past(
    state: &AppState,
    auth: &AuthContext,
    kind: RecordType,
    id: Uuid,
    at: At,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadAudit)?;
    let (keyring, scope, keep) = (state.commands.keyring(), &auth.scope, &state.pools.app);
    let past = state
        .reads
        .run(auth, |db| async move {
            let src = history::Source {
                read: &db,
                keep,
                keyring,
            };
            history::state_at(src, scope, kind, id, at).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(past))
}

/// Every version of a company, contact,
/// deal, activity or pipeline, oldest first, with actor, role, address, time and the
/// field-level diff of each event: `{"items": [Version…]}`.
///
/// # Errors
/// 403 for other roles; 404 for another entity segment or a record the workspace does not
/// have (another workspace's id included).
#[utoipa::path(
    tag = "history",
    params(
        ("entity" = inline(HistorySegment), Path, description = "The record type."),
        ("id" = Uuid, Path, description = "The record's id."),
    ),
    responses((status = 200, description = "Every version, oldest first.", body = VersionList)),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[get("/{entity}/{id}/history")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    let (segment, id) = path.into_inner();
    let kind = RecordType::from_segment(&segment).ok_or(ApiError::NotFound)?;
    let (keyring, scope, keep) = (state.commands.keyring(), &auth.scope, &state.pools.app);
    let items = state
        .reads
        .run(&auth, |db| async move {
            let src = history::Source {
                read: &db,
                keep,
                keyring,
            };
            history::versions(src, scope, kind, id).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(VersionList { items }))
}

/// `POST /v1/{contacts|companies}/{id}/revert` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"to_version": 2, "reason": "undo the bulk edit of 3 May"}))]
pub struct RevertBody {
    /// The version whose fields the record gets back (1-based, before the latest).
    pub to_version: i64,
    /// Why, 1 to 500 characters; stored in the new event's metadata.
    pub reason: String,
}

/// Reverts a contact or company (Owner, Admin): a new update event that
/// sets the fields of version `to_version` back, with `reason` in its metadata
/// (`"revert to version N: …"`); past events are never changed. Guarded by `If-Match`
/// when sent, otherwise by the version the revert was computed from, so a concurrent edit
/// is never overwritten unseen. Answers as the record's `PATCH` does.
///
/// # Errors
/// 403 for other roles; 404 for another record type or a record the workspace does not
/// have; 409 when the record is deleted (restore it first); 412 for a stale `If-Match`;
/// 422 for a bad reason, a version out of range, or nothing to revert.
#[utoipa::path(
    tag = "history",
    params(
        ("entity" = inline(RevertSegment), Path, description = "The record type."),
        ("id" = Uuid, Path, description = "The record's id."),
        IfMatch, IdempotencyKey,
    ),
    request_body = RevertBody,
    responses(
        (status = 200, description = "The record after the revert, as its `PATCH` answers.",
            body = Reverted,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The record is deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[post("/{entity}/{id}/revert")]
pub async fn revert(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    ctx: crate::auth::CommandContext,
    path: web::Path<(String, Uuid)>,
    crate::extract::Json(body): crate::extract::Json<RevertBody>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::UpdateRecords)?;
    let (segment, id) = path.into_inner();
    let kind = RecordType::from_segment(&segment).ok_or(ApiError::NotFound)?;
    let (s, caller, meta) = (state.services(), &ctx.auth, &ctx.metadata);
    let if_version = super::if_match(&req)?;
    let (version, body) = match kind {
        RecordType::Contact => {
            let row = records::revert::<Contacts>(
                s,
                caller,
                meta,
                id,
                if_version,
                body.to_version,
                &body.reason,
            )
            .await?;
            (row.version, Reverted::Contact(row.into()))
        }
        RecordType::Company => {
            let row = records::revert::<Companies>(
                s,
                caller,
                meta,
                id,
                if_version,
                body.to_version,
                &body.reason,
            )
            .await?;
            (row.version, Reverted::Company(row.into()))
        }
        _ => return Err(ApiError::NotFound),
    };
    Ok(super::record(
        actix_web::http::StatusCode::OK,
        version,
        &body,
    ))
}

/// Registers this module's routes (under `/v1`, after every record module's own).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list).service(revert);
}
