//! Record history and past states: `GET /v1/{entity}/{id}/history` and the `as_of` /
//! `version` parameters of every record's `GET`.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::Action;
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::history::{self, At, RecordType};
use crate::state::AppState;

/// The point-in-time parameters of a record's `GET`: at most one of them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PointInTime {
    /// RFC 3339 time: the record as the last event stored at or before it left it.
    pub as_of: Option<DateTime<Utc>>,
    /// A version number (1-based): the record right after that event.
    pub version: Option<i64>,
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
    let past = history::state_at(&state.pools.app, &auth.scope, kind, id, at).await?;
    Ok(HttpResponse::Ok().json(past))
}

/// `GET /v1/{entity}/{id}/history` (Owner, Admin): every version of a company, contact,
/// deal, activity or pipeline, oldest first, with actor, role, address, time and the
/// field-level diff of each event: `{"items": [Version…]}`.
///
/// # Errors
/// 403 for other roles; 404 for another entity segment or a record the workspace does not
/// have (another workspace's id included).
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    path: web::Path<(String, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    auth.require(Action::ReadAudit)?;
    let (segment, id) = path.into_inner();
    let kind = RecordType::from_segment(&segment).ok_or(ApiError::NotFound)?;
    let items = history::versions(&state.pools.app, &auth.scope, kind, id).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "items": items })))
}
