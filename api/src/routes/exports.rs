//! `GET /v1/exports/{companies,contacts,deals}`: the whole filtered list as CSV (RFC 4180),
//! streamed page by page, so an export of any size holds one page in memory.
//!
//! Filters are those of the list routes (without `limit` and `cursor`). Money columns come
//! twice: exact major units as decimal text (`1234.56`) and integer minor units. Text cells
//! that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
//! carriage return) are prefixed with `'`, as OWASP's "CSV Injection" advice says.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use crm_domain::{Action, Currency, Money};
use crm_projections::queries::deals::DealFilter;
use crm_projections::queries::{companies, contacts, deals};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;
use futures::stream::{self, Stream};

use super::ListQuery;
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// Rows fetched per page of an export.
const PAGE: u64 = 200;

/// A text cell, defused against spreadsheet formula injection.
fn cell(text: Option<&str>) -> String {
    match text {
        Some(t) if t.starts_with(['=', '+', '-', '@', '\t', '\r']) => format!("'{t}"),
        Some(t) => t.to_owned(),
        None => String::new(),
    }
}

fn major(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency.and_then(|c| Currency::from_code(c).ok())) {
        (Some(m), Some(c)) => Money::new(m, c).to_major().to_string(),
        _ => String::new(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv_bytes(rows: &[Vec<String>]) -> Result<web::Bytes, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.write_record(row).map_err(ApiError::internal)?;
    }
    writer
        .into_inner()
        .map(web::Bytes::from)
        .map_err(|e| ApiError::Internal(e.to_string().into()))
}

/// Streams `header` then every page that `fetch` returns, each row turned into cells by
/// `to_row`, following `next_cursor` to the end.
fn csv_stream<T, F, Fut>(
    header: &'static [&'static str],
    fetch: F,
    to_row: fn(T) -> Vec<String>,
) -> impl Stream<Item = Result<web::Bytes, ApiError>>
where
    F: Fn(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, ListError>>,
{
    let first = csv_bytes(&[header.iter().map(|h| (*h).to_owned()).collect()]);
    let start = stream::once(async move { first });
    let pages = stream::unfold(
        (Some(None::<String>), fetch),
        move |(cursor, fetch)| async move {
            let cursor = cursor?;
            match fetch(cursor).await {
                Ok(page) => {
                    let next = page.next_cursor.map(Some);
                    let rows: Vec<Vec<String>> = page.items.into_iter().map(to_row).collect();
                    Some((csv_bytes(&rows), (next, fetch)))
                }
                Err(err) => {
                    tracing::error!(error = %err, "export page failed");
                    Some((Err(ApiError::from(err)), (None, fetch)))
                }
            }
        },
    );
    futures::StreamExt::chain(start, pages)
}

fn response(
    name: &str,
    body: impl Stream<Item = Result<web::Bytes, ApiError>> + 'static,
) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.csv\""),
        ))
        .streaming(body)
}

fn check(auth: &AuthContext, query: &ListQuery) -> Result<(), ApiError> {
    if query.include_deleted == Some(true) {
        auth.require(Action::ViewDeleted)?;
    }
    if query.cursor.is_some() || query.limit.is_some() {
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
    Query(query): Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    check(&auth, &query)?;
    let filter = companies::CompanyFilter {
        common: query.common(),
        include_deleted: query.include_deleted.unwrap_or(false),
        sort: query.sort()?,
        limit: Some(PAGE),
        cursor: None,
    };
    let scope: TenantScope = auth.scope;
    let header = &[
        "id",
        "name",
        "domain",
        "industry",
        "country",
        "currency",
        "employee_count",
        "annual_revenue",
        "annual_revenue_minor",
        "annual_revenue_currency",
        "annual_revenue_text",
        "tags",
        "deleted",
        "created_at",
        "updated_at",
    ];
    let fetch = move |cursor: Option<String>| {
        let (state, filter) = (
            state.clone(),
            companies::CompanyFilter {
                cursor,
                ..filter.clone()
            },
        );
        async move { companies::list(&state.pools.app, &scope, &filter).await }
    };
    let body = csv_stream(header, fetch, |c| {
        vec![
            c.id.to_string(),
            cell(Some(&c.name)),
            cell(c.domain.as_deref()),
            cell(c.industry.as_deref()),
            cell(c.country.as_deref()),
            opt(c.currency),
            opt(c.employee_count),
            major(c.annual_revenue_minor, c.annual_revenue_currency.as_deref()),
            opt(c.annual_revenue_minor),
            opt(c.annual_revenue_currency),
            cell(c.annual_revenue_text.as_deref()),
            cell(Some(&c.tags.join(";"))),
            c.deleted.to_string(),
            c.created_at.to_rfc3339(),
            c.updated_at.to_rfc3339(),
        ]
    });
    Ok(response("companies", body))
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
    Query(query): Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    check(&auth, &query)?;
    let filter = contacts::ContactFilter {
        common: query.common(),
        company_id: query.company_id,
        include_deleted: query.include_deleted.unwrap_or(false),
        sort: query.sort()?,
        limit: Some(PAGE),
        cursor: None,
    };
    let scope: TenantScope = auth.scope;
    let header = &[
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "job_title",
        "company_id",
        "tags",
        "deleted",
        "created_at",
        "updated_at",
    ];
    let fetch = move |cursor: Option<String>| {
        let (state, filter) = (
            state.clone(),
            contacts::ContactFilter {
                cursor,
                ..filter.clone()
            },
        );
        async move { contacts::list(&state.pools.app, &scope, &filter).await }
    };
    let body = csv_stream(header, fetch, |c| {
        vec![
            c.id.to_string(),
            cell(c.first_name.as_deref()),
            cell(c.last_name.as_deref()),
            cell(c.email.as_deref()),
            cell(c.phone.as_deref()),
            cell(c.job_title.as_deref()),
            opt(c.company_id),
            cell(Some(&c.tags.join(";"))),
            c.deleted.to_string(),
            c.created_at.to_rfc3339(),
            c.updated_at.to_rfc3339(),
        ]
    });
    Ok(response("contacts", body))
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
    query: Query<super::deals::DealQuery>,
) -> Result<HttpResponse, ApiError> {
    if query.0.cursor.is_some() || query.0.limit.is_some() {
        return Err(ApiError::invalid(
            "cursor",
            "an export has no pages: drop limit and cursor",
        ));
    }
    let filter: DealFilter = super::deals::filter(&auth, query.0)?;
    let filter = DealFilter {
        limit: Some(PAGE),
        ..filter
    };
    let scope: TenantScope = auth.scope;
    let header = &[
        "id",
        "name",
        "amount",
        "amount_minor",
        "currency",
        "pipeline_id",
        "stage_id",
        "status",
        "owner_id",
        "company_id",
        "contact_ids",
        "expected_close_date",
        "close_reason",
        "closed_at",
        "tags",
        "deleted",
        "created_at",
        "updated_at",
    ];
    let fetch = move |cursor: Option<String>| {
        let (state, filter) = (
            state.clone(),
            DealFilter {
                cursor,
                ..filter.clone()
            },
        );
        async move { deals::list(&state.pools.app, &scope, &filter).await }
    };
    let body = csv_stream(header, fetch, |d| {
        vec![
            d.id.to_string(),
            cell(Some(&d.name)),
            major(d.amount_minor, d.currency.as_deref()),
            opt(d.amount_minor),
            opt(d.currency),
            d.pipeline_id.to_string(),
            d.stage_id.to_string(),
            d.status,
            opt(d.owner_id),
            opt(d.company_id),
            d.contact_ids
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(";"),
            opt(d.expected_close_date),
            cell(d.close_reason.as_deref()),
            opt(d.closed_at.map(|t| t.to_rfc3339())),
            cell(Some(&d.tags.join(";"))),
            d.deleted.to_string(),
            d.created_at.to_rfc3339(),
            d.updated_at.to_rfc3339(),
        ]
    });
    Ok(response("deals", body))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(companies_csv)
        .service(contacts_csv)
        .service(deals_csv);
}
