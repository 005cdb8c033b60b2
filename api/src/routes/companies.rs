//! `/v1/companies`: create, read, list, update, soft-delete, restore.

use actix_web::{delete, get, patch, post};
use actix_web::{web, HttpResponse};
use crm_app::records::listing::{custom_conditions, custom_sort};
use crm_store::page::Page;

use super::ListQuery;
use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::ListParams;
use crm_app::records::companies::{Companies, CompanyView, CreateCompany, PatchCompany};

use crate::state::AppState;

crate::batch_routes! {
    record: Companies,
    tag: "companies",
    create_path: "/companies/batch/create",
    update_path: "/companies/batch/update",
    create: CreateCompany,
    patch: PatchCompany,
}

crate::record_routes! {
    record: Companies,
    tag: "companies",
    collection: "/companies",
    item: "/companies/{id}",
    restore: "/companies/{id}/restore",
    view: CompanyView,
    detail: CompanyView,
    create: CreateCompany,
    patch: PatchCompany,
}

/// A page of companies (keyset pagination; `company_id` is not a filter here).
/// Custom fields filter too (`GET /v1/schema` lists them): `cf.<key>=<value>` for
/// equality (an option's id for selects; a multi-select has it), and `cf.<key>[gte]=`,
/// `[gt]`, `[lte]`, `[lt]` for integer, decimal, money (minor units), date and date-time
/// fields.
///
/// # Errors
/// 403 for `include_deleted` without the right; 422 for bad parameters.
#[utoipa::path(
    tag = "companies",
    params(ListQuery),
    responses((status = 200, description = "A page of companies.", body = Page<CompanyView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/companies")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    ListParams(query, cf): ListParams<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut filter = query.filter(&auth, ())?;
    filter.common.custom = custom_conditions::<Companies>(state.services(), &auth, cf).await?;
    filter.custom_sort =
        custom_sort::<Companies>(state.services(), &auth, query.sort.as_deref()).await?;
    if query.company_id.is_some() {
        return Err(ApiError::invalid("company_id", "not a filter of companies"));
    }
    let (caller, filter) = (&*auth, &filter);
    let page = state
        .reads
        .run(caller, |db| async move {
            crm_app::records::listing::list::<Companies>(&db, caller, filter).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore)
        .service(batch_create)
        .service(batch_update);
}
