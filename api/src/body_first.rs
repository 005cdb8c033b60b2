//! A write's body is received before its session check opens the request's transaction.
//!
//! The check of a write opens a transaction on the command pool that its first command
//! goes on in (`crm_store::request_txn`). Were the body read after it, a client sending
//! its body slowly would hold a pooled connection, an open transaction and a request
//! counter row for as long as it liked, and a few such clients would stall every write.
//! So for a write whose declared `Content-Length` fits the JSON limit, this middleware
//! reads the body first, puts it back, and marks the request [`BodyReceived`]; any other
//! write (a large import, a chunked body) is checked in a transaction of its own, as before.

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use futures::StreamExt;

use crate::error::ApiError;
use crate::state::AppState;

/// In a request's extensions: its whole body is in memory.
#[derive(Debug, Clone, Copy)]
pub struct BodyReceived;

/// The middleware (register with `actix_web::middleware::from_fn`).
///
/// # Errors
/// Whatever the inner service returns; a body that breaks off is a 400.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(0, |state| state.settings.server.json_limit_bytes);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if let Some(length) = declared.filter(|&n| write && n <= limit) {
        let mut body = web::BytesMut::with_capacity(length);
        let mut payload = req.take_payload();
        while let Some(chunk) = payload.next().await {
            match chunk {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(_) => {
                    let err = ApiError::BadRequest("the request body broke off".into());
                    return Ok(req
                        .into_response(err.error_response())
                        .map_into_right_body());
                }
            }
        }
        req.set_payload(Payload::from(body.freeze()));
        req.extensions_mut().insert(BodyReceived);
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}
