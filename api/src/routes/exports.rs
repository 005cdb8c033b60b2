//! `GET /v1/exports/{companies,contacts,deals}`: the whole filtered list as CSV (RFC 4180),
//! streamed page by page, so an export of any size holds one page in memory.
//!
//! Filters are those of the list routes (without `limit` and `cursor`). The columns are
//! each record type's own, declared with its type ([`crm_app::records::listing`]).

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use crm_app::records::companies::Companies;
use crm_app::records::contacts::Contacts;
use crm_app::records::deals::Deals;
use crm_app::records::listing::{self, Listed};
use crm_app::records::listing::{custom_conditions, custom_sort};
use crm_projections::queries::contacts::ContactConditions;
use futures::StreamExt;

use super::ListQuery;
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::ListParams;
use crate::state::AppState;

/// The export of `R`'s rows that `filter` selects, as the attachment `<name>.csv`.
async fn csv<R: Listed>(
    state: &AppState,
    auth: &AuthContext,
    filter: crm_app::records::listing::Filter<R>,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let custom = listing::custom_columns::<R>(state.services(), auth).await?;
    let (db, _) = state.reads.pick(auth).await?;
    let chunks = listing::csv::<R>(db, auth.scope, filter, custom)
        .map(|chunk| chunk.map(web::Bytes::from).map_err(ApiError::from));
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .streaming(chunks))
}

/// Refuses paging parameters: an export is the whole list.
fn unpaged(cursor: Option<&String>, limit: Option<u64>) -> Result<(), ApiError> {
    if cursor.is_some() || limit.is_some() {
        return Err(ApiError::invalid(
            "cursor",
            "an export has no pages: drop limit and cursor",
        ));
    }
    Ok(())
}

/// `GET /v1/exports/companies` (Owner, Admin, Manager): companies as CSV.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "exports",
    params(ListQuery),
    responses((status = 200, description = "CSV (RFC 4180) with a header row, as an attachment `companies.csv`.",
        content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"companies.csv\"`.")))),
    extensions(("x-permission" = json!("export_records"))),
)]
#[get("/exports/companies")]
pub async fn companies_csv(
    state: web::Data<AppState>,
    auth: AuthContext,
    ListParams(query, cf): ListParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut filter = query.filter(&auth, ())?;
    unpaged(query.cursor.as_ref(), query.limit)?;
    filter.common.custom = custom_conditions::<Companies>(state.services(), &auth, cf).await?;
    filter.custom_sort =
        custom_sort::<Companies>(state.services(), &auth, query.sort.as_deref()).await?;
    csv::<Companies>(&state, &auth, filter, "companies").await
}

/// `GET /v1/exports/contacts` (Owner, Admin, Manager): contacts as CSV.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "exports",
    params(ListQuery),
    responses((status = 200, description = "CSV (RFC 4180) with a header row, as an attachment `contacts.csv`.",
        content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"contacts.csv\"`.")))),
    extensions(("x-permission" = json!("export_records"))),
)]
#[get("/exports/contacts")]
pub async fn contacts_csv(
    state: web::Data<AppState>,
    auth: AuthContext,
    ListParams(query, cf): ListParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let own = ContactConditions {
        company_id: query.company_id,
    };
    let mut filter = query.filter(&auth, own)?;
    unpaged(query.cursor.as_ref(), query.limit)?;
    filter.common.custom = custom_conditions::<Contacts>(state.services(), &auth, cf).await?;
    filter.custom_sort =
        custom_sort::<Contacts>(state.services(), &auth, query.sort.as_deref()).await?;
    csv::<Contacts>(&state, &auth, filter, "contacts").await
}

/// `GET /v1/exports/deals` (Owner, Admin, Manager): deals as CSV, with the deal list's
/// filters.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "exports",
    params(super::deals::DealQuery),
    responses((status = 200, description = "CSV (RFC 4180) with a header row, as an attachment `deals.csv`.",
        content_type = "text/csv", body = String,
        headers(("Content-Disposition" = String, description = "`attachment; filename=\"deals.csv\"`.")))),
    extensions(("x-permission" = json!("export_records"))),
)]
#[get("/exports/deals")]
pub async fn deals_csv(
    state: web::Data<AppState>,
    auth: AuthContext,
    ListParams(query, cf): ListParams<super::deals::DealQuery>,
) -> Result<HttpResponse, ApiError> {
    let (cursor, limit, sort) = (query.cursor.clone(), query.limit, query.sort.clone());
    let mut filter = super::deals::filter(&auth, query)?;
    unpaged(cursor.as_ref(), limit)?;
    filter.common.custom = custom_conditions::<Deals>(state.services(), &auth, cf).await?;
    filter.custom_sort = custom_sort::<Deals>(state.services(), &auth, sort.as_deref()).await?;
    csv::<Deals>(&state, &auth, filter, "deals").await
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(companies_csv)
        .service(contacts_csv)
        .service(deals_csv);
}
