//! `Idempotency-Key` on POST: a retried request gets the first response and runs nothing
//! again (the pattern of the IETF draft "The Idempotency-Key HTTP Header Field").
//!
//! Keys belong to the user who sent them, in their workspace, and are kept at least 24
//! hours. The same key with the same request (method, path, query, content type and body,
//! by SHA-256) replays the stored status, body, `Content-Type`, `Location` and `ETag`, with
//! `Idempotent-Replayed: true`; the same key with a different request is a 422; a key whose
//! first request is still running is a 409, until that request finishes or its 60-second
//! lease lapses. A 5xx is not stored, so a retry after a server fault runs again; a key
//! reserves the id of the record its request creates ([`ReservedId`]), so when the failed
//! attempt had in fact created it, the retry answers that record instead of creating a
//! second one (a batch or an import is not covered yet). Sign-up and login
//! (`/v1/auth/…`) are never stored: their answers hold tokens.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use crm_access::idempotency::{self, KeyState, StoredResponse};
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::context::authenticate;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The header marking a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// The id an idempotent request's key reserves for the record it creates (in the
/// request's extensions): the same on every retry with the key, so a create that did
/// commit before its answer was lost is found again, never made twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReservedId(pub uuid::Uuid);

/// The middleware (register with `actix_web::middleware::from_fn`).
///
/// # Errors
/// Whatever the inner service returns.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // Only the operations whose declaration takes the header (see `crate::openapi`).
    let declared = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| {
            let pattern = req.match_pattern()?;
            state
                .contract
                .routes
                .get(req.method(), &pattern)
                .map(|route| route.meta.idempotent)
        })
        .unwrap_or(false);
    let key = match req.headers().get(HEADER) {
        Some(value) if declared => value.to_str().ok().map(str::to_owned),
        _ => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
    };
    let Some(key) = key.filter(|k| {
        !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
    }) else {
        let err = ApiError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        );
        return Ok(req.into_response(err.error_response()));
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let auth = match authenticate(req.request().clone()).await {
        Ok(auth) => auth,
        // Unauthenticated requests pass through: the handler answers 401.
        Err(ApiError::Unauthorized(_)) => {
            return next
                .call(req)
                .await
                .map(ServiceResponse::map_into_boxed_body)
        }
        // Anything else (an outage, a rate limit, a refused permission) is the answer: the
        // handler must never run without the key's protection.
        Err(err) => return Ok(req.into_response(err.error_response())),
    };

    let limit = state
        .settings
        .server
        .import_limit_bytes
        .max(state.settings.server.json_limit_bytes);
    let mut body = web::BytesMut::new();
    let mut payload = req.take_payload();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > limit {
            return Ok(req.into_response(ApiError::PayloadTooLarge.error_response()));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update([0]);
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update([0]);
    hasher.update(
        req.headers()
            .get(header::CONTENT_TYPE)
            .map_or(&b""[..], |v| v.as_bytes()),
    );
    hasher.update([0]);
    hasher.update(&body);
    let hash = hex::encode(hasher.finalize());
    req.set_payload(actix_web::dev::Payload::from(body));

    let db = &state.pools.app;
    let user = auth.principal();
    match idempotency::begin(db, &auth.scope, user, &key, &hash).await {
        Err(err) => Ok(req.into_response(ApiError::internal(err).error_response())),
        Ok(KeyState::Mismatch) => {
            let err = ApiError::invalid(
                "Idempotency-Key",
                "this key was used for a different request",
            );
            Ok(req.into_response(err.error_response()))
        }
        Ok(KeyState::InProgress) => {
            let err = ApiError::Conflict(
                "a request with this Idempotency-Key is still being processed".into(),
            );
            Ok(req.into_response(err.error_response()))
        }
        Ok(KeyState::Done(stored)) => Ok(req.into_response(replay(&stored))),
        Ok(KeyState::Started { reserved, lease }) => {
            req.extensions_mut().insert(ReservedId(reserved));
            let attempt = crm_app::unit_of_work::KeyedAttempt::new(user, key.clone(), lease);
            let res = crm_app::unit_of_work::under_key(attempt, next.call(req)).await?;
            let (http_req, response) = res.into_parts();
            let status = response.status();
            let retryable = response
                .extensions()
                .get::<crate::error::Retryable>()
                .is_some();
            let headers = response.headers().clone();
            let Ok(bytes) = to_bytes(response.into_body()).await else {
                if let Err(err) = idempotency::abandon(db, &auth.scope, user, &key, lease).await {
                    tracing::error!(error = %err, "could not release an idempotency key");
                }
                return Ok(ServiceResponse::new(
                    http_req,
                    ApiError::Internal("response body unreadable".into()).error_response(),
                ));
            };
            let stored = StoredResponse {
                status: status.as_u16(),
                content_type: text(&headers, header::CONTENT_TYPE),
                location: text(&headers, header::LOCATION),
                etag: text(&headers, header::ETAG),
                body: bytes.to_vec(),
            };
            let outcome =
                if status.is_server_error() || retryable || status == StatusCode::TOO_MANY_REQUESTS
                {
                    idempotency::abandon(db, &auth.scope, user, &key, lease).await
                } else {
                    idempotency::complete(db, &auth.scope, user, &key, lease, &stored).await
                };
            if let Err(err) = outcome {
                tracing::error!(error = %err, "could not record an idempotency key");
            }
            let mut rebuilt = HttpResponse::build(status).body(bytes);
            for (name, value) in &headers {
                rebuilt.headers_mut().append(name.clone(), value.clone());
            }
            Ok(ServiceResponse::new(http_req, rebuilt))
        }
    }
}

fn text(headers: &header::HeaderMap, name: HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn replay(stored: &StoredResponse) -> HttpResponse {
    let mut res =
        HttpResponse::build(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
            .body(stored.body.clone());
    let headers = res.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, &stored.content_type),
        (header::LOCATION, &stored.location),
        (header::ETAG, &stored.etag),
    ] {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    headers.insert(
        HeaderName::from_static(REPLAYED),
        HeaderValue::from_static("true"),
    );
    res
}
