//! Every HTTP route, one module per resource.
//!
//! | route | module |
//! |---|---|
//! | `GET /health`, `GET /ready` | [`health`] |
//! | `GET /metrics` (Prometheus, for `metrics.token`) | [`metrics`] |
//! | `POST /v1/auth/{login,refresh,logout,logout-all}`, `GET /v1/auth/sessions` | [`sessions`] |
//! | `POST /v1/auth/signup`, `GET /v1/me`, `POST /v1/me/password`, `PATCH /v1/workspace` | [`auth`] |
//! | `/v1/companies…` | [`companies`] |
//! | `/v1/contacts…` (`POST /v1/contacts/{id}/erase` too) | [`contacts`] |
//! | `/v1/pipelines…` (stages, summary) | [`pipelines`] |
//! | `GET /v1/schema`, `/v1/schema/fields…` (custom fields) | [`schema`] |
//! | `/v1/deals…` (move, win, lose, reopen, line items) | [`deals`] |
//! | `/v1/activities…`, `GET /v1/tasks`, `GET /v1/{contacts,companies,deals}/{id}/timeline` | [`activities`] |
//! | `GET /v1/exports/{companies,contacts,deals}` | [`exports`] |
//! | `POST /v1/{companies,contacts}/batch/{create,update}` | [`companies`], [`contacts`] ([`batch`] holds what they share) |
//! | `GET`, `POST`, `PATCH`, `DELETE` of `/v1/{companies,contacts,deals,activities}…` | declared by [`records`]' machinery in each module |
//! | `/v1/users…`, `POST /v1/auth/accept-invitation` | [`users`] |
//! | `POST /v1/auth/2fa/{enroll,confirm,disable,verify}` | [`two_factor`] |
//! | `/v1/api-keys…` | [`api_keys`] |
//! | `GET /v1/audit` | [`audit`] |
//! | `POST /v1/imports/{companies,contacts,deals}` | [`imports`] |
//! | `GET /v1/events`, `GET /v1/events/stream` | [`events`] |
//! | `/v1/webhooks…` (messages, retry, replay, test, rotate-secret) | [`webhooks`] |

use actix_web::http::header;
use actix_web::HttpResponse;
use serde::Deserialize;
use utoipa_actix_web::scope;
use utoipa_actix_web::service_config::ServiceConfig;

pub mod activities;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod companies;
pub mod contacts;
pub mod contract;
pub mod data_requests;
pub mod deals;
pub mod duplicates;
pub mod events;
pub mod exports;
pub mod health;
pub mod history;
pub mod imports;
pub mod merges;
pub mod metrics;
pub mod pipelines;
pub mod records;
pub mod schema;
pub mod sessions;
pub mod support;
pub mod two_factor;
pub mod users;
pub mod webhooks;

/// Registers every route: `/health` and `/ready` at the root, the rest under `/v1`, each
/// module its own ([`crate::openapi`] collects their declarations from the same calls).
/// CSV imports accept bodies up to `import_limit_bytes`.
pub fn configure(cfg: &mut ServiceConfig, import_limit_bytes: usize) {
    health::routes(cfg);
    metrics::routes(cfg);
    contract::routes(cfg);
    cfg.service(scope("/v1").configure(|v1| {
        auth::routes(v1);
        sessions::routes(v1);
        support::routes(v1);
        two_factor::routes(v1);
        users::routes(v1);
        audit::routes(v1);
        events::routes(v1);
        webhooks::routes(v1);
        api_keys::routes(v1);
        duplicates::routes(v1);
        companies::routes(v1);
        contacts::routes(v1);
        merges::routes(v1);
        pipelines::routes(v1);
        schema::routes(v1);
        contract::workspace_routes(v1);
        activities::routes(v1);
        exports::routes(v1);
        deals::routes(v1);
        data_requests::routes(v1);
        history::routes(v1);
        imports::routes(v1, import_limit_bytes);
    }));
}

/// The query of every list route. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Search: every word must be a word of the record's names, email, domain or job
    /// title, and the last may be the start of one (`acme corp` finds "Acme
    /// Corporation").
    pub q: Option<String>,
    /// `name`, `-name`, `created_at` or `-created_at`; default `name`. Companies,
    /// contacts and deals also sort by a custom field: `cf.<key>` or `-cf.<key>` (text,
    /// URL, email, phone, boolean, integer, decimal, money by minor units, date and
    /// date-time fields), records without a value last.
    #[param(pattern = "^-?(name|created_at|cf\\.[a-z][a-z0-9_]{0,62})$")]
    pub sort: Option<String>,
    /// Include soft-deleted records (Owner and Admin only).
    pub include_deleted: Option<bool>,
    /// Contacts only: those of this company.
    pub company_id: Option<uuid::Uuid>,
    /// Only records with this tag.
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    /// Created before (RFC 3339).
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
}

impl ListQuery {
    /// The validated limit.
    ///
    /// # Errors
    /// 422 when outside 1..=200.
    pub fn limit(&self) -> Result<Option<u64>, crate::error::ApiError> {
        match self.limit {
            Some(n) if !(1..=crm_store::page::MAX_LIMIT).contains(&n) => {
                Err(crate::error::ApiError::invalid("limit", "must be 1 to 200"))
            }
            other => Ok(other),
        }
    }

    /// The search, tag and creation-time conditions.
    pub fn common(&self) -> crm_projections::queries::page::CommonFilter {
        crm_projections::queries::page::CommonFilter {
            q: self.q.clone(),
            tag: self.tag.clone(),
            created_after: self.created_after,
            created_before: self.created_before,
            custom: Vec::new(),
        }
    }

    /// The validated sort.
    ///
    /// # Errors
    /// 422 for an unknown sort.
    pub fn sort(&self) -> Result<crm_projections::queries::Sort, crate::error::ApiError> {
        self.sort
            .as_deref()
            // A custom field's sort is resolved against the schema (`custom_sort`).
            .filter(|s| !s.trim_start_matches('-').starts_with("cf."))
            .map_or(
                Ok(crm_projections::queries::Sort::default()),
                crm_projections::queries::Sort::parse,
            )
            .map_err(|e| crate::error::ApiError::invalid("sort", e.to_string()))
    }

    /// The record list this query asks for, with the type's `own` conditions.
    ///
    /// # Errors
    /// 403 for `include_deleted` without [`crm_domain::Action::ViewDeleted`]; 422 for a
    /// bad limit or sort.
    pub fn filter<X>(
        &self,
        auth: &crate::auth::AuthContext,
        own: X,
    ) -> Result<crm_projections::queries::records::RecordFilter<X>, crate::error::ApiError> {
        let include_deleted = self.include_deleted.unwrap_or(false);
        if include_deleted {
            auth.require(crm_domain::Action::ViewDeleted)?;
        }
        Ok(crm_projections::queries::records::RecordFilter {
            common: self.common(),
            own,
            include_deleted,
            sort: self.sort()?,
            custom_sort: None,
            limit: self.limit()?,
            cursor: self.cursor.clone(),
        })
    }
}

/// A single-record response: the body, `ETag` = the aggregate version (RFC 9110 §8.8.3).
pub fn record<T: serde::Serialize>(
    status: actix_web::http::StatusCode,
    version: i64,
    body: &T,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"{version}\"")))
        .json(body)
}

/// The version a request's `If-Match` names (RFC 9110 §13.1.1): `"N"` as sent in `ETag`;
/// `None` when the header is absent or `*`.
///
/// # Errors
/// 412 when the header is not a strong entity tag of a version (it can match nothing).
pub fn if_match(req: &actix_web::HttpRequest) -> Result<Option<u64>, crate::error::ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            crate::error::ApiError::PreconditionFailed(format!(
                "If-Match {text:?} names no version of this record"
            ))
        })
}
