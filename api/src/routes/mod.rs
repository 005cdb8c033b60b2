//! Every HTTP route, one module per resource.
//!
//! | route | module |
//! |---|---|
//! | `GET /health`, `GET /ready` | [`health`] |
//! | `POST /v1/auth/{login,refresh,logout,logout-all}`, `GET /v1/auth/sessions` | [`sessions`] |
//! | `POST /v1/auth/signup`, `GET /v1/me`, `POST /v1/me/password`, `PATCH /v1/workspace` | [`auth`] |
//! | `/v1/companies…` | [`companies`] |
//! | `/v1/contacts…` (`POST /v1/contacts/{id}/erase` too) | [`contacts`] |
//! | `/v1/pipelines…` (stages, summary) | [`pipelines`] |
//! | `/v1/deals…` (move, win, lose, reopen, line items) | [`deals`] |
//! | `/v1/activities…`, `GET /v1/tasks`, `GET /v1/{contacts,companies,deals}/{id}/timeline` | [`activities`] |
//! | `GET /v1/exports/{companies,contacts,deals}` | [`exports`] |
//! | `POST /v1/{companies,contacts}/batch/{create,update}` | [`batch`] |
//! | `/v1/users…`, `POST /v1/auth/accept-invitation` | [`users`] |
//! | `POST /v1/auth/2fa/{enroll,confirm,disable,verify}` | [`two_factor`] |
//! | `/v1/api-keys…` | [`api_keys`] |
//! | `GET /v1/audit` | [`audit`] |
//! | `POST /v1/imports/{companies,contacts,deals}` | [`imports`] |

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

pub mod activities;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod companies;
pub mod contacts;
pub mod data_requests;
pub mod deals;
pub mod exports;
pub mod health;
pub mod history;
pub mod imports;
pub mod pipelines;
pub mod sessions;
pub mod support;
pub mod two_factor;
pub mod users;

/// Registers every route; CSV imports accept bodies up to `import_limit_bytes`.
pub fn configure(cfg: &mut web::ServiceConfig, import_limit_bytes: usize) {
    let csv_limit = || web::PayloadConfig::new(import_limit_bytes);
    cfg.service(web::resource("/health").route(web::get().to(health::health)))
        .service(web::resource("/ready").route(web::get().to(health::ready)))
        .service(
            web::scope("/v1")
                .service(web::resource("/auth/signup").route(web::post().to(auth::signup)))
                .service(web::resource("/auth/login").route(web::post().to(sessions::login)))
                .service(web::resource("/auth/support/login").route(web::post().to(support::login)))
                .service(
                    web::resource("/auth/support/logout").route(web::post().to(support::logout)),
                )
                .service(
                    web::resource("/support-grants")
                        .route(web::get().to(support::list))
                        .route(web::post().to(support::create)),
                )
                .service(
                    web::resource("/support-grants/{id}").route(web::delete().to(support::revoke)),
                )
                .service(
                    web::resource("/support-grants/{id}/access")
                        .route(web::get().to(support::access)),
                )
                .service(web::resource("/auth/refresh").route(web::post().to(sessions::refresh)))
                .service(
                    web::resource("/auth/2fa/enroll").route(web::post().to(two_factor::enroll)),
                )
                .service(
                    web::resource("/auth/2fa/confirm").route(web::post().to(two_factor::confirm)),
                )
                .service(
                    web::resource("/auth/2fa/disable").route(web::post().to(two_factor::disable)),
                )
                .service(
                    web::resource("/auth/2fa/verify").route(web::post().to(two_factor::verify)),
                )
                .service(
                    web::resource("/auth/password-reset")
                        .route(web::post().to(sessions::request_reset)),
                )
                .service(
                    web::resource("/auth/password-reset/confirm")
                        .route(web::post().to(sessions::confirm_reset)),
                )
                .service(
                    web::resource("/auth/accept-invitation").route(web::post().to(users::accept)),
                )
                .service(
                    web::resource("/workspace/security").route(web::patch().to(auth::set_security)),
                )
                .service(web::resource("/audit/verify").route(web::get().to(audit::verify)))
                .service(
                    web::resource("/audit/checkpoints").route(web::post().to(audit::checkpoint)),
                )
                .service(web::resource("/users").route(web::get().to(users::list)))
                .service(
                    web::resource("/api-keys")
                        .route(web::get().to(api_keys::list))
                        .route(web::post().to(api_keys::create)),
                )
                .service(
                    web::resource("/api-keys/requests").route(web::get().to(api_keys::requests)),
                )
                .service(web::resource("/api-keys/{id}").route(web::delete().to(api_keys::revoke)))
                .service(web::resource("/users/invitations").route(web::post().to(users::invite)))
                .service(
                    web::resource("/users/{id}/role").route(web::patch().to(users::change_role)),
                )
                .service(
                    web::resource("/users/{id}/deactivate")
                        .route(web::post().to(users::deactivate)),
                )
                .service(
                    web::resource("/users/{id}/reactivate")
                        .route(web::post().to(users::reactivate)),
                )
                .service(web::resource("/auth/logout").route(web::post().to(sessions::logout)))
                .service(
                    web::resource("/auth/logout-all").route(web::post().to(sessions::logout_all)),
                )
                .service(web::resource("/auth/sessions").route(web::get().to(sessions::list)))
                .service(web::resource("/me").route(web::get().to(auth::me)))
                .service(web::resource("/me/password").route(web::post().to(auth::change_password)))
                .service(web::resource("/workspace").route(web::patch().to(auth::rename_workspace)))
                .service(web::resource("/audit").route(web::get().to(audit::list)))
                .service(web::resource("/audit/export").route(web::get().to(audit::export)))
                .service(
                    web::resource("/companies")
                        .route(web::get().to(companies::list))
                        .route(web::post().to(companies::create)),
                )
                .service(
                    web::resource("/companies/{id}")
                        .route(web::get().to(companies::get))
                        .route(web::patch().to(companies::update))
                        .route(web::delete().to(companies::delete)),
                )
                .service(
                    web::resource("/companies/{id}/restore")
                        .route(web::post().to(companies::restore)),
                )
                .service(
                    web::resource("/contacts")
                        .route(web::get().to(contacts::list))
                        .route(web::post().to(contacts::create)),
                )
                .service(
                    web::resource("/contacts/{id}")
                        .route(web::get().to(contacts::get))
                        .route(web::patch().to(contacts::update))
                        .route(web::delete().to(contacts::delete)),
                )
                .service(
                    web::resource("/contacts/{id}/restore")
                        .route(web::post().to(contacts::restore)),
                )
                .service(
                    web::resource("/contacts/{id}/erase").route(web::post().to(contacts::erase)),
                )
                .service(
                    web::resource("/pipelines")
                        .route(web::get().to(pipelines::list))
                        .route(web::post().to(pipelines::create)),
                )
                .service(
                    web::resource("/pipelines/{id}")
                        .route(web::get().to(pipelines::get))
                        .route(web::patch().to(pipelines::rename)),
                )
                .service(
                    web::resource("/pipelines/{id}/summary")
                        .route(web::get().to(pipelines::summary)),
                )
                .service(
                    web::resource("/pipelines/{id}/stages")
                        .route(web::post().to(pipelines::add_stage))
                        .route(web::put().to(pipelines::reorder)),
                )
                .service(
                    web::resource("/pipelines/{id}/stages/{stage_id}")
                        .route(web::patch().to(pipelines::update_stage))
                        .route(web::delete().to(pipelines::retire_stage)),
                )
                .service(web::resource("/activities").route(web::post().to(activities::create)))
                .service(
                    web::resource("/activities/{id}")
                        .route(web::get().to(activities::get))
                        .route(web::patch().to(activities::update))
                        .route(web::delete().to(activities::delete)),
                )
                .service(
                    web::resource("/activities/{id}/complete")
                        .route(web::post().to(activities::complete)),
                )
                .service(
                    web::resource("/activities/{id}/reopen")
                        .route(web::post().to(activities::reopen)),
                )
                .service(
                    web::resource("/activities/{id}/restore")
                        .route(web::post().to(activities::restore)),
                )
                .service(web::resource("/tasks").route(web::get().to(activities::tasks)))
                .service(
                    web::resource("/companies/batch/create")
                        .route(web::post().to(batch::create_companies)),
                )
                .service(
                    web::resource("/companies/batch/update")
                        .route(web::post().to(batch::update_companies)),
                )
                .service(
                    web::resource("/contacts/batch/create")
                        .route(web::post().to(batch::create_contacts)),
                )
                .service(
                    web::resource("/contacts/batch/update")
                        .route(web::post().to(batch::update_contacts)),
                )
                .service(
                    web::resource("/exports/companies").route(web::get().to(exports::companies)),
                )
                .service(web::resource("/exports/contacts").route(web::get().to(exports::contacts)))
                .service(web::resource("/exports/deals").route(web::get().to(exports::deals)))
                .service(
                    web::resource("/contacts/{id}/companies/{company_id}")
                        .route(web::put().to(contacts::link_company))
                        .route(web::delete().to(contacts::unlink_company)),
                )
                .service(
                    web::resource("/contacts/{id}/timeline")
                        .route(web::get().to(activities::contact_timeline)),
                )
                .service(
                    web::resource("/companies/{id}/timeline")
                        .route(web::get().to(activities::company_timeline)),
                )
                .service(
                    web::resource("/deals/{id}/timeline")
                        .route(web::get().to(activities::deal_timeline)),
                )
                .service(
                    web::resource("/deals")
                        .route(web::get().to(deals::list))
                        .route(web::post().to(deals::create)),
                )
                .service(
                    web::resource("/deals/{id}")
                        .route(web::get().to(deals::get))
                        .route(web::patch().to(deals::update))
                        .route(web::delete().to(deals::delete)),
                )
                .service(web::resource("/deals/{id}/restore").route(web::post().to(deals::restore)))
                .service(web::resource("/deals/{id}/move").route(web::post().to(deals::move_stage)))
                .service(web::resource("/deals/{id}/win").route(web::post().to(deals::win)))
                .service(web::resource("/deals/{id}/lose").route(web::post().to(deals::lose)))
                .service(web::resource("/deals/{id}/reopen").route(web::post().to(deals::reopen)))
                .service(
                    web::resource("/deals/{id}/line-items")
                        .route(web::put().to(deals::set_line_items)),
                )
                .service(
                    web::resource("/contacts/{id}/export")
                        .route(web::get().to(data_requests::contact)),
                )
                .service(
                    web::resource("/{entity}/{id}/history").route(web::get().to(history::list)),
                )
                .service(
                    web::resource("/{entity}/{id}/revert").route(web::post().to(history::revert)),
                )
                .service(
                    web::resource("/imports/companies")
                        .app_data(csv_limit())
                        .route(web::post().to(imports::companies)),
                )
                .service(
                    web::resource("/imports/contacts")
                        .app_data(csv_limit())
                        .route(web::post().to(imports::contacts)),
                )
                .service(
                    web::resource("/imports/deals")
                        .app_data(csv_limit())
                        .route(web::post().to(imports::deals)),
                )
                .service(
                    web::resource("/imports/{import_id}/undo").route(web::post().to(imports::undo)),
                ),
        );
}

/// The query of every list route. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1 to 200; default 50.
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Search: every word must start a word of the record's names, email, domain or job
    /// title.
    pub q: Option<String>,
    /// `name`, `-name`, `created_at` or `-created_at`; default `name`.
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
            Some(n) if !(1..=crm_projections::queries::page::MAX_LIMIT).contains(&n) => {
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
        }
    }

    /// The validated sort.
    ///
    /// # Errors
    /// 422 for an unknown sort.
    pub fn sort(&self) -> Result<crm_projections::queries::Sort, crate::error::ApiError> {
        self.sort
            .as_deref()
            .map_or(
                Ok(crm_projections::queries::Sort::default()),
                crm_projections::queries::Sort::parse,
            )
            .map_err(|e| crate::error::ApiError::invalid("sort", e.to_string()))
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

/// The kinds of record a Member may change only when they own them.
#[derive(Debug, Clone, Copy)]
pub enum Owned {
    /// Owned by its creator.
    Company,
    /// Owned by its creator.
    Contact,
    /// Owned by its `owner_id`.
    Deal,
    /// Owned by its creator.
    Activity,
}

/// Members change only the records they own and read the rest (the permission matrix's
/// rule for the Member role); every other role passes. A record the tenant does not have
/// passes too, so the command answers its own 404.
///
/// # Errors
/// 403 for a Member on someone else's record.
pub async fn ensure_owner(
    state: &crate::state::AppState,
    auth: &crate::auth::AuthContext,
    kind: Owned,
    id: uuid::Uuid,
) -> Result<(), crate::error::ApiError> {
    use crm_projections::queries::{activities, companies, contacts, deals};
    if auth.role != crm_domain::Role::Member {
        return Ok(());
    }
    let db = &state.pools.app;
    let me = auth.principal().to_string();
    let owner: Option<String> = match kind {
        Owned::Company => companies::get(db, &auth.scope, id)
            .await?
            .map(|r| r.created_by),
        Owned::Contact => contacts::get(db, &auth.scope, id)
            .await?
            .map(|r| r.created_by),
        Owned::Activity => activities::get(db, &auth.scope, id)
            .await?
            .map(|r| r.created_by),
        Owned::Deal => deals::get(db, &auth.scope, id)
            .await?
            .map(|r| r.owner_id.map(|o| o.to_string()).unwrap_or_default()),
    };
    match owner {
        Some(owner) if owner != me => Err(crate::error::ApiError::Forbidden),
        _ => Ok(()),
    }
}
