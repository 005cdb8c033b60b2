//! Batch create and update of companies and contacts: up to 100 items a call, each run
//! as its own command and answered on its own, in order. One item failing does not stop
//! the others (there is no transaction across items: each is its own event).
//!
//! Body: `{"items": [...]}`; a create item is the body of a single create, an update item
//! is `{"id": …, "if_version": N?, "changes": {…patch…}}`. Answer 200:
//! `{"results": [{"index": 0, "status": 201, "record": {…}}, {"index": 1, "status": 422,
//! "problem": {…RFC 9457…}}]}`.

use actix_web::{web, HttpResponse, ResponseError};
use crm_domain::Action;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{companies, contacts};
use crate::auth::CommandContext;
use crate::error::ApiError;
use crate::extract::{parse_json, Json};
use crate::state::AppState;

/// Most items in one batch.
pub const MAX_ITEMS: usize = 100;

/// A batch body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The items, 1 to 100; each is validated on its own.
    pub items: Vec<Value>,
}

/// An update item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateItem<P> {
    /// The record.
    pub id: Uuid,
    /// Optional guard, as `If-Match` for a single update.
    pub if_version: Option<u64>,
    /// The patch.
    pub changes: P,
}

fn check(batch: &Batch) -> Result<(), ApiError> {
    if batch.items.is_empty() || batch.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid(
            "items",
            format!("must hold 1 to {MAX_ITEMS} items"),
        ));
    }
    Ok(())
}

/// Parses an item strictly, as the single route would (field paths are the item's own;
/// the result's `index` says which item).
fn item<T: DeserializeOwned>(value: &Value) -> Result<T, ApiError> {
    let text = serde_json::to_vec(value).map_err(ApiError::internal)?;
    parse_json(&text)
}

fn result(index: usize, outcome: Result<(u16, Value), ApiError>) -> Value {
    match outcome {
        Ok((status, record)) => json!({"index": index, "status": status, "record": record}),
        Err(err) => {
            json!({"index": index, "status": err.status_code().as_u16(), "problem": err.problem_json()})
        }
    }
}

/// `POST /v1/companies/batch/create`.
///
/// # Errors
/// 403; 422 for an empty or oversized batch (item errors are in the results).
pub async fn create_companies(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(batch): Json<Batch>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::CreateRecords)?;
    check(&batch)?;
    let mut results = Vec::with_capacity(batch.items.len());
    for (i, value) in batch.items.iter().enumerate() {
        let outcome = async {
            let body = item::<companies::CreateCompany>(value)?;
            let model = companies::create_one(&state, &ctx, body).await?;
            Ok((201, json!(companies::CompanyView::from(model))))
        }
        .await;
        results.push(result(i, outcome));
    }
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

/// `POST /v1/companies/batch/update`.
///
/// # Errors
/// 403; 422 for an empty or oversized batch.
pub async fn update_companies(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(batch): Json<Batch>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::UpdateRecords)?;
    check(&batch)?;
    let mut results = Vec::with_capacity(batch.items.len());
    for (i, value) in batch.items.iter().enumerate() {
        let outcome = async {
            let u = item::<UpdateItem<companies::PatchCompany>>(value)?;
            let model = companies::update_one(&state, &ctx, u.id, u.if_version, u.changes).await?;
            Ok((200, json!(companies::CompanyView::from(model))))
        }
        .await;
        results.push(result(i, outcome));
    }
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

/// `POST /v1/contacts/batch/create`.
///
/// # Errors
/// 403; 422 for an empty or oversized batch.
pub async fn create_contacts(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(batch): Json<Batch>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::CreateRecords)?;
    check(&batch)?;
    let mut results = Vec::with_capacity(batch.items.len());
    for (i, value) in batch.items.iter().enumerate() {
        let outcome = async {
            let body = item::<contacts::CreateContact>(value)?;
            let model = contacts::create_one(&state, &ctx, body).await?;
            Ok((201, json!(contacts::ContactView::from(model))))
        }
        .await;
        results.push(result(i, outcome));
    }
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

/// `POST /v1/contacts/batch/update`.
///
/// # Errors
/// 403; 422 for an empty or oversized batch.
pub async fn update_contacts(
    state: web::Data<AppState>,
    ctx: CommandContext,
    Json(batch): Json<Batch>,
) -> Result<HttpResponse, ApiError> {
    ctx.auth.require(Action::UpdateRecords)?;
    check(&batch)?;
    let mut results = Vec::with_capacity(batch.items.len());
    for (i, value) in batch.items.iter().enumerate() {
        let outcome = async {
            let u = item::<UpdateItem<contacts::PatchContact>>(value)?;
            let model = contacts::update_one(&state, &ctx, u.id, u.if_version, u.changes).await?;
            Ok((200, json!(contacts::ContactView::from(model))))
        }
        .await;
        results.push(result(i, outcome));
    }
    Ok(HttpResponse::Ok().json(json!({ "results": results })))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.map(|c| {
        c.service(
            actix_web::web::resource("/companies/batch/create")
                .route(actix_web::web::post().to(create_companies)),
        )
        .service(
            actix_web::web::resource("/companies/batch/update")
                .route(actix_web::web::post().to(update_companies)),
        )
        .service(
            actix_web::web::resource("/contacts/batch/create")
                .route(actix_web::web::post().to(create_contacts)),
        )
        .service(
            actix_web::web::resource("/contacts/batch/update")
                .route(actix_web::web::post().to(update_contacts)),
        )
    });
}
