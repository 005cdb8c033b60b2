//! `/v1/contacts/duplicates` and `/v1/companies/duplicates`: candidate pairs of records
//! that may be one, with a score and the reasons (`crm_app::records::duplicates`).

use actix_web::{get, web, HttpResponse};
use crm_app::records::companies::{Companies, CompanyView};
use crm_app::records::contacts::{ContactView, Contacts};
use crm_app::records::duplicates::{self as use_cases, DuplicatePair};
use crm_store::page::Page;
use serde::Deserialize;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// The query of a duplicates list. Unknown parameters are refused (422).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DuplicatesQuery {
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Lowest score shown, 0 to 1; default 0.5.
    #[param(minimum = 0, maximum = 1)]
    pub min_score: Option<f64>,
}

impl DuplicatesQuery {
    fn limit(&self) -> Result<Option<u64>, ApiError> {
        match self.limit {
            Some(n) if !(1..=crm_store::page::MAX_LIMIT).contains(&n) => {
                Err(ApiError::invalid("limit", "must be 1 to 200"))
            }
            other => Ok(other),
        }
    }
}

/// Pairs of live contacts that may be one person: the same email (lowercased, without a
/// `+tag`), the same phone (last nine digits), or names alike by trigrams. Pairs come in
/// the order of their ids, each once, the smaller id first.
///
/// # Errors
/// 422 for a bad `limit`, `cursor` or `min_score`.
#[utoipa::path(
    tag = "contacts",
    params(DuplicatesQuery),
    responses((status = 200, description = "A page of candidate pairs.", body = Page<DuplicatePair<ContactView>>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/contacts/duplicates")]
pub async fn contacts(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<DuplicatesQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = use_cases::duplicates::<Contacts>(
        state.services(),
        &auth,
        q.cursor.as_deref(),
        q.limit()?,
        q.min_score,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Pairs of live companies that may be one: the same domain, or names alike by trigrams
/// once lowercased and stripped of punctuation and legal forms ("Acme, Inc." and "ACME
/// Incorporated"). Pairs come in the order of their ids, each once, the smaller id first.
///
/// # Errors
/// 422 for a bad `limit`, `cursor` or `min_score`.
#[utoipa::path(
    tag = "companies",
    params(DuplicatesQuery),
    responses((status = 200, description = "A page of candidate pairs.", body = Page<DuplicatePair<CompanyView>>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/companies/duplicates")]
pub async fn companies(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<DuplicatesQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = use_cases::duplicates::<Companies>(
        state.services(),
        &auth,
        q.cursor.as_deref(),
        q.limit()?,
        q.min_score,
    )
    .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Registers both routes (before `/{id}` of their collections, which they would match).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(contacts).service(companies);
}
