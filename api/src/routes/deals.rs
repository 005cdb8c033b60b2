//! `/v1/deals`: deals, their stages, closing, line items.

use actix_web::http::StatusCode;
use actix_web::{delete, get, patch, post, put, web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, Utc};
use crm_app::records::listing::{custom_conditions, custom_sort};
use crm_domain::pipeline::StageKind;
use crm_projections::queries::deals::{DealConditions, DealFilter};
use crm_store::page::Page;
use serde::Deserialize;
use uuid::Uuid;

use super::{if_match, records};
use crate::auth::{AuthContext, CommandContext};
use crate::error::ApiError;
use crate::extract::{Json, ListParams};
use crate::openapi::{IdempotencyKey, IfMatch, Problem};
use crate::state::AppState;
use crm_app::records::deals::{
    self as use_cases, CloseDeal, CreateDeal, DealView, Deals, LineItemsBody, MoveDeal, PatchDeal,
};

crate::record_routes! {
    record: Deals,
    tag: "deals",
    collection: "/deals",
    item: "/deals/{id}",
    restore: "/deals/{id}/restore",
    view: DealView,
    detail: DealView,
    create: CreateDeal,
    patch: PatchDeal,
}

/// Closes, or reopens, a deal: 200 with the deal.
async fn close(
    req: &HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    id: Uuid,
    body: CloseDeal,
    kind: StageKind,
) -> Result<HttpResponse, ApiError> {
    let row = use_cases::close(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        id,
        if_match(req)?,
        body,
        kind,
    )
    .await?;
    Ok(records::answer::<Deals>(StatusCode::OK, row))
}

/// `GET /v1/deals` query. Unknown parameters are refused.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DealQuery {
    /// Page size, 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Search: every word is a word of the name, and the last may be the start of one.
    pub q: Option<String>,
    /// `name`, `-name`, `created_at` or `-created_at`; default `name`; or a custom
    /// field, `cf.<key>` or `-cf.<key>`, records without a value last.
    #[param(pattern = "^-?(name|created_at|cf\\.[a-z][a-z0-9_]{0,62})$")]
    pub sort: Option<String>,
    /// Include soft-deleted deals (Owner and Admin only).
    pub include_deleted: Option<bool>,
    /// Only deals of this pipeline.
    pub pipeline_id: Option<Uuid>,
    /// Only deals in this stage.
    pub stage_id: Option<Uuid>,
    /// `open`, `won` or `lost`.
    pub status: Option<String>,
    /// Only deals owned by this user: a user id, or `me`.
    pub owner: Option<String>,
    /// Only deals of this company.
    pub company_id: Option<Uuid>,
    /// Only deals linked to this contact.
    pub contact_id: Option<Uuid>,
    /// ISO 4217 code; required with an amount range.
    pub currency: Option<String>,
    /// Minor units, inclusive.
    pub amount_min: Option<i64>,
    /// Minor units, inclusive.
    pub amount_max: Option<i64>,
    /// Expected close date on or after (ISO 8601).
    pub close_after: Option<NaiveDate>,
    /// Expected close date on or before.
    pub close_before: Option<NaiveDate>,
    /// Only deals with this tag.
    pub tag: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_after: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub created_before: Option<DateTime<Utc>>,
}

/// The deal filter a query names, checked.
///
/// # Errors
/// 403 for `include_deleted` without the right; 422 for bad parameters.
pub fn filter(auth: &AuthContext, q: DealQuery) -> Result<DealFilter, ApiError> {
    let paged = super::ListQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
        q: q.q.clone(),
        sort: q.sort.clone(),
        include_deleted: q.include_deleted,
        company_id: None,
        tag: q.tag.clone(),
        created_after: q.created_after,
        created_before: q.created_before,
    }
    .filter(auth, ())?;
    if let Some(status) = &q.status {
        if !matches!(status.as_str(), "open" | "won" | "lost") {
            return Err(ApiError::invalid("status", "must be open, won or lost"));
        }
    }
    let owner_id = match q.owner.as_deref() {
        None => None,
        Some("me") => Some(auth.user.0),
        Some(text) => Some(
            Uuid::parse_str(text).map_err(|_| ApiError::invalid("owner", "a user id or \"me\""))?,
        ),
    };
    let currency = match &q.currency {
        Some(code) => Some(
            crm_domain::Currency::from_code(code)
                .map_err(|e| ApiError::invalid("currency", e.to_string()))?
                .code()
                .to_owned(),
        ),
        None => None,
    };
    if (q.amount_min.is_some() || q.amount_max.is_some()) && currency.is_none() {
        return Err(ApiError::invalid(
            "currency",
            "an amount range needs a currency: amounts of different currencies do not compare",
        ));
    }
    let own = DealConditions {
        pipeline_id: q.pipeline_id,
        stage_id: q.stage_id,
        status: q.status,
        owner_id,
        company_id: q.company_id,
        contact_id: q.contact_id,
        currency,
        amount_min: q.amount_min,
        amount_max: q.amount_max,
        close_after: q.close_after,
        close_before: q.close_before,
    };
    Ok(paged.with(own))
}

/// A page of deals: filtered, sorted, keyset-paginated.
/// Custom fields filter too (`GET /v1/schema` lists them): `cf.<key>=<value>` for
/// equality (an option's id for selects; a multi-select has it), and `cf.<key>[gte]=`,
/// `[gt]`, `[lte]`, `[lt]` for integer, decimal, money (minor units), date and date-time
/// fields.
///
/// # Errors
/// 403, 422.
#[utoipa::path(
    tag = "deals",
    params(DealQuery),
    responses((status = 200, description = "A page of deals.", body = Page<DealView>)),
    extensions(("x-permission" = json!("read_records"))),
)]
#[get("/deals")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    ListParams(q, cf): ListParams<DealQuery>,
) -> Result<HttpResponse, ApiError> {
    let sort = q.sort.clone();
    let mut filter = filter(&auth, q)?;
    filter.common.custom = custom_conditions::<Deals>(state.services(), &auth, cf).await?;
    filter.custom_sort = custom_sort::<Deals>(state.services(), &auth, sort.as_deref()).await?;
    let (caller, filter) = (&*auth, &filter);
    let page = state
        .reads
        .run(caller, |db| async move {
            crm_app::records::listing::list::<Deals>(&db, caller, filter).await
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Moves an open deal to another open stage: 200 with the deal.
///
/// # Errors
/// 403, 404, 409 (closed or deleted), 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = MoveDeal,
    responses(
        (status = 200, description = "The moved deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/move")]
pub async fn move_stage(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<MoveDeal>,
) -> Result<HttpResponse, ApiError> {
    let row = use_cases::move_stage(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        *id,
        if_match(&req)?,
        body.stage_id,
    )
    .await?;
    Ok(records::answer::<Deals>(StatusCode::OK, row))
}

/// Wins a deal: 200 with the deal, closed as won.
///
/// # Errors
/// 403, 404, 409 (closed already), 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = CloseDeal,
    responses(
        (status = 200, description = "The deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed already or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/win")]
pub async fn win(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CloseDeal>,
) -> Result<HttpResponse, ApiError> {
    close(&req, &state, &ctx, *id, body, StageKind::Won).await
}

/// Loses a deal (a `reason` is required): 200 with the deal, closed as lost.
///
/// # Errors
/// 403, 404, 409, 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = CloseDeal,
    responses(
        (status = 200, description = "The deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed already or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/lose")]
pub async fn lose(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CloseDeal>,
) -> Result<HttpResponse, ApiError> {
    close(&req, &state, &ctx, *id, body, StageKind::Lost).await
}

/// Reopens a closed deal: 200 with the deal, open again.
///
/// # Errors
/// 403, 404, 409 (open already), 412, 422.
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch, IdempotencyKey),
    request_body = CloseDeal,
    responses(
        (status = 200, description = "The deal.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is open already or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[post("/deals/{id}/reopen")]
pub async fn reopen(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<CloseDeal>,
) -> Result<HttpResponse, ApiError> {
    close(&req, &state, &ctx, *id, body, StageKind::Open).await
}

/// Replaces a deal's line items; the amount becomes their sum. 200 with the deal.
///
/// # Errors
/// 403, 404, 409, 412, 422 (mixed currencies, overflow, bad lines).
#[utoipa::path(
    tag = "deals",
    params(("id" = Uuid, Path, description = "The deal's id."), IfMatch),
    request_body = LineItemsBody,
    responses(
        (status = 200, description = "The deal with its new line items.", body = DealView,
            headers(("ETag" = String, description = "The record's new version."))),
        (status = 409, description = "The deal is closed or deleted.", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "`If-Match` names another version.", body = Problem, content_type = "application/problem+json"),
    ),
    extensions(("x-permission" = json!("update_records"))),
)]
#[put("/deals/{id}/line-items")]
pub async fn set_line_items(
    req: HttpRequest,
    state: web::Data<AppState>,
    ctx: CommandContext,
    id: web::Path<Uuid>,
    Json(body): Json<LineItemsBody>,
) -> Result<HttpResponse, ApiError> {
    let row = use_cases::set_line_items(
        state.services(),
        &ctx.auth,
        &ctx.metadata,
        *id,
        if_match(&req)?,
        body,
    )
    .await?;
    Ok(records::answer::<Deals>(StatusCode::OK, row))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(list)
        .service(create)
        .service(get)
        .service(update)
        .service(delete)
        .service(restore)
        .service(move_stage)
        .service(win)
        .service(lose)
        .service(reopen)
        .service(set_line_items);
}
