//! Batch create and update of companies and contacts: up to 100 items a call, each run
//! as its own command and answered on its own, in order. One item failing does not stop
//! the others (there is no transaction across items: each is its own event).
//!
//! Body: `{"items": [...]}`; a create item is the body of a single create, an update item
//! is `{"id": …, "if_version": N?, "changes": {…patch…}}`. Answer 200:
//! `{"results": [{"index": 0, "status": 201, "record": {…}}, {"index": 1, "status": 422,
//! "problem": {…RFC 9457…}}]}`.

use actix_web::{HttpResponse, ResponseError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::auth::CommandContext;
use crate::error::ApiError;
use crate::extract::parse_json;
use crate::openapi::Problem;
use crate::state::AppState;
use crm_app::records::{self, Record};

/// Most items in one batch.
pub const MAX_ITEMS: usize = 100;

/// A batch body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    /// The items, 1 to 100; each is validated on its own.
    pub items: Vec<Value>,
}

/// A batch body as the contract shows it: the items, 1 to 100, each the body of the
/// single route (the server reads them one by one, so one bad item fails alone).
#[derive(Debug, utoipa::ToSchema)]
pub struct BatchOf<T> {
    /// The items, 1 to 100.
    #[allow(dead_code)]
    items: Vec<T>,
}

/// One item's outcome: `record` for a success, `problem` (RFC 9457) for a failure.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ItemResult {
    /// The item's position in `items`, from 0.
    pub index: usize,
    /// The status the single route would have answered (201, 200, 404, 409, 422, …).
    pub status: u16,
    /// The created or changed record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<Value>,
    /// Why the item failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Problem>)]
    pub problem: Option<Value>,
}

/// A batch's answer: one result per item, in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResults {
    /// The items' outcomes.
    pub results: Vec<ItemResult>,
}

/// An update item.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
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

/// The id item `index` of a keyed batch create reserves: the same on every retry with the
/// key (a name-based UUID, RFC 9562 §5.5, of the key's reserved id and the index), so a
/// retry answers the records an earlier attempt created instead of making them again.
fn item_id(reserved: Uuid, index: usize) -> Uuid {
    Uuid::new_v5(&reserved, &(index as u64).to_be_bytes())
}

/// A batch's answer: 200 with every result; when an item met a server fault or an outage
/// (a 5xx: its outcome unknown to the client), it is marked retryable, so an
/// `Idempotency-Key` does not keep it and a retry with the key runs the batch again, each
/// committed item answered from what it wrote.
fn answer(results: Vec<ItemResult>) -> HttpResponse {
    let failed = results.iter().any(|r| r.status >= 500);
    let mut response = HttpResponse::Ok().json(BatchResults { results });
    if failed {
        response.extensions_mut().insert(crate::error::Retryable);
    }
    response
}

fn result(index: usize, outcome: Result<(u16, Value), ApiError>) -> ItemResult {
    match outcome {
        Ok((status, record)) => ItemResult {
            index,
            status,
            record: Some(record),
            problem: None,
        },
        Err(err) => ItemResult {
            index,
            status: err.status_code().as_u16(),
            record: None,
            problem: Some(err.problem_json()),
        },
    }
}

/// Creates every item as its own command, in order.
///
/// # Errors
/// 422 for an empty or oversized batch (item errors are in the results).
pub(crate) async fn create_all<R: Record>(
    req: &actix_web::HttpRequest,
    state: &AppState,
    ctx: &CommandContext,
    batch: &Batch,
) -> Result<HttpResponse, ApiError> {
    check(batch)?;
    let reserved = actix_web::HttpMessage::extensions(req)
        .get::<crate::idempotency::ReservedId>()
        .map(|r| r.0);
    let mut results = Vec::with_capacity(batch.items.len());
    for (i, value) in batch.items.iter().enumerate() {
        let outcome = async {
            let body = item::<R::Create>(value)?;
            let (_, row) = records::create::<R>(
                state.services(),
                &ctx.auth,
                &ctx.metadata,
                body,
                reserved.map(|key| item_id(key, i)),
            )
            .await?;
            Ok((201, json!(R::View::from(row))))
        }
        .await;
        results.push(result(i, outcome));
    }
    crate::faults::after_commit(req)?;
    Ok(answer(results))
}

/// Applies every update item as its own command, in order.
///
/// # Errors
/// 422 for an empty or oversized batch (item errors are in the results).
pub(crate) async fn update_all<R: Record>(
    state: &AppState,
    ctx: &CommandContext,
    batch: &Batch,
) -> Result<HttpResponse, ApiError> {
    check(batch)?;
    let mut results = Vec::with_capacity(batch.items.len());
    for (i, value) in batch.items.iter().enumerate() {
        let outcome = async {
            let u = item::<UpdateItem<R::Patch>>(value)?;
            let row = records::update::<R>(
                state.services(),
                &ctx.auth,
                &ctx.metadata,
                u.id,
                u.if_version,
                u.changes,
            )
            .await?;
            Ok((200, json!(R::View::from(row))))
        }
        .await;
        results.push(result(i, outcome));
    }
    Ok(answer(results))
}

/// Declares a record type's batch routes: `batch_create` and `batch_update` handlers with
/// their `#[utoipa::path]` and actix route, calling [`create_all`] and [`update_all`].
/// The invoking module imports actix-web's `post` attribute.
#[macro_export]
macro_rules! batch_routes {
    (
        record: $record:ty,
        tag: $tag:literal,
        create_path: $create_path:literal,
        update_path: $update_path:literal,
        create: $create:ident,
        patch: $patch:ident $(,)?
    ) => {
        /// Creates up to 100 records, each as its own command: 200 with one result per
        /// item (one bad item fails alone).
        ///
        /// # Errors
        /// 403; 422 for an empty or oversized batch.
        #[utoipa::path(
            tag = $tag,
            params($crate::openapi::IdempotencyKey),
            request_body = $crate::routes::batch::BatchOf<$create>,
            responses((status = 200, description = "One result per item, in order.", body = $crate::routes::batch::BatchResults)),
            extensions(("x-permission" = json!("create_records"))),
        )]
        #[post($create_path)]
        pub async fn batch_create(
            req: actix_web::HttpRequest,
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            $crate::extract::Json(batch): $crate::extract::Json<$crate::routes::batch::Batch>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::batch::create_all::<$record>(&req, &state, &ctx, &batch).await
        }

        /// Changes up to 100 records, each as its own command: 200 with one result per
        /// item.
        ///
        /// # Errors
        /// 403; 422 for an empty or oversized batch.
        #[utoipa::path(
            tag = $tag,
            params($crate::openapi::IdempotencyKey),
            request_body = $crate::routes::batch::BatchOf<$crate::routes::batch::UpdateItem<$patch>>,
            responses((status = 200, description = "One result per item, in order.", body = $crate::routes::batch::BatchResults)),
            extensions(("x-permission" = json!("update_records"))),
        )]
        #[post($update_path)]
        pub async fn batch_update(
            state: actix_web::web::Data<$crate::state::AppState>,
            ctx: $crate::auth::CommandContext,
            $crate::extract::Json(batch): $crate::extract::Json<$crate::routes::batch::Batch>,
        ) -> Result<actix_web::HttpResponse, $crate::error::ApiError> {
            $crate::routes::batch::update_all::<$record>(&state, &ctx, &batch).await
        }
    };
}
