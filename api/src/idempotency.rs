//! `Idempotency-Key` on POST: a retried request gets the first response and runs nothing
//! again (the pattern of the IETF draft "The Idempotency-Key HTTP Header Field").
//!
//! Keys belong to the user who sent them, in their workspace, and are kept at least 24
//! hours. The same key with the same request (method, path, query, content type and body,
//! by SHA-256) replays the stored status, body, `Content-Type`, `Location` and `ETag`, with
//! `Idempotent-Replayed: true`; the same key with a different request is a 422.
//!
//! One transaction: the key is claimed in the transaction the request's session check
//! opened for its command, the command goes on in it, and the answer is stored in it
//! before it commits (`crm_store::request_txn::Purpose::Answer`), so the claim, the
//! command's events and read rows and the stored answer commit together or not at all: a
//! request that dies before its commit leaves no claim, and one whose commit fails is
//! answered 5xx, never its 2xx. A second request with the key while the first runs waits
//! for the first's commit and replays its answer (or, if the first rolled back, runs). A
//! 409 is left for a request that committed part of its work and still runs (a batch
//! whose first items committed), until it finishes or its 60-second lease lapses.
//!
//! A 5xx is not stored, so a retry after a server fault runs again; the commands the
//! failed attempt committed are marked on the key in their own transactions, so the retry
//! does not run them twice, and a key reserves the id of the record its request creates
//! ([`ReservedId`]), so the retry answers that record instead of creating a second one.
//! Sign-up and login (`/v1/auth/…`) are never stored: their answers hold tokens.

use actix_web::body::{to_bytes, BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse, ResponseError};
use crm_access::idempotency::{self, KeyState, StoredResponse};
use crm_store::request_txn;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use crate::auth::context::{authenticate, AuthContext};
use crate::error::ApiError;
use crate::spool::SpooledBody;
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

    // The request's hash: method, path and query, content type, then the body, which is
    // handed on as it came (a CSV import's, on disk: see `crate::spool`).
    let mut hasher = Sha256::new();
    hasher.update(req.method().as_str());
    hasher.update([0]);
    hasher.update(req.uri().path_and_query().map_or("", |p| p.as_str()));
    hasher.update([0]);
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    hasher.update(content_type.as_ref().map_or(&b""[..], |v| v.as_bytes()));
    hasher.update([0]);
    // Only an import's CSV goes to disk: what `routes::imports` accepts, on its routes.
    let csv = crate::spool::is_csv(content_type.as_ref()) && req.path().starts_with("/v1/imports/");
    let mut payload = req.take_payload();
    if csv {
        let limit = state.settings.server.import_limit_bytes;
        match SpooledBody::receive(&mut payload, limit, Some(&mut hasher)).await {
            Ok(body) => {
                req.extensions_mut().insert(body);
            }
            Err(err) => return Ok(req.into_response(err.error_response())),
        }
    } else {
        let limit = state.settings.server.json_limit_bytes;
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > limit {
                return Ok(req.into_response(ApiError::PayloadTooLarge.error_response()));
            }
            body.extend_from_slice(&chunk);
        }
        hasher.update(&body);
        req.set_payload(actix_web::dev::Payload::from(body.freeze()));
    }
    let hash = hex::encode(hasher.finalize());

    let user = auth.principal();
    let tenant = auth.scope.tenant();
    // The key is claimed in the transaction the session check left for the request's
    // first command (else one begun here and left the same way), so the claim commits
    // with the command: a request that dies before its commit leaves no claim behind.
    let claimed = async {
        let txn = match request_txn::take_command(tenant) {
            Some(txn) => txn,
            None => auth.scope.begin(&state.pools.command).await?,
        };
        let state = idempotency::begin(&txn, &auth.scope, user, &key, &hash).await?;
        if let Err(txn) = request_txn::resume(tenant, txn) {
            txn.commit().await?;
        }
        Ok::<_, sea_orm::DbErr>(state)
    };
    match claimed.await {
        Err(err) => Ok(req.into_response(ApiError::from(err).error_response())),
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
        Ok(KeyState::Started(claim)) => {
            req.extensions_mut().insert(ReservedId(claim.reserved));
            let attempt = crm_app::unit_of_work::KeyedAttempt::new(user, key.clone(), claim.lease);
            let res = crm_app::unit_of_work::under_key(attempt, next.call(req)).await?;
            let (http_req, response) = res.into_parts();
            let status = response.status();
            let retryable = response
                .extensions()
                .get::<crate::error::Retryable>()
                .is_some();
            let headers = response.headers().clone();
            let bytes = to_bytes(response.into_body()).await.ok();
            let keep = bytes.as_ref().filter(|_| {
                !(status.is_server_error() || retryable || status == StatusCode::TOO_MANY_REQUESTS)
            });
            let stored = keep.map(|bytes| StoredResponse {
                status: status.as_u16(),
                content_type: text(&headers, header::CONTENT_TYPE),
                location: text(&headers, header::LOCATION),
                etag: text(&headers, header::ETAG),
                body: bytes.to_vec(),
            });
            let answer = Answer {
                state: &state,
                auth: &auth,
                claim: &claim,
            };
            if let Err(err) = answer.record(stored.as_ref()).await {
                // The command's commit (when it was still open) failed or its outcome is
                // unknown: the client must not take the answer as final, and its retry with
                // the key replays or runs the request, never twice.
                tracing::error!(error = %err, "could not commit a keyed request");
                let err = ApiError::from(err);
                return Ok(ServiceResponse::new(http_req, err.error_response()));
            }
            let Some(bytes) = bytes else {
                let err = ApiError::Internal("response body unreadable".into());
                return Ok(ServiceResponse::new(http_req, err.error_response()));
            };
            let mut rebuilt = HttpResponse::build(status).body(bytes);
            for (name, value) in &headers {
                rebuilt.headers_mut().append(name.clone(), value.clone());
            }
            Ok(ServiceResponse::new(http_req, rebuilt))
        }
    }
}

/// The end of a keyed request: its answer to store, or its key to release.
struct Answer<'a> {
    state: &'a AppState,
    auth: &'a AuthContext,
    claim: &'a idempotency::Claim,
}

impl Answer<'_> {
    /// Stores `stored` on the key (`None`: releases the key for a retry, after a server
    /// fault), in the request's command transaction when it is still open, and commits
    /// it: the command and its answer commit together. When the request has committed its
    /// work already (a later statement needed the database), in a transaction of its own.
    ///
    /// # Errors
    /// Database errors, the commit's among them.
    async fn record(&self, stored: Option<&StoredResponse>) -> Result<(), sea_orm::DbErr> {
        let scope = &self.auth.scope;
        let (txn, pending) = match request_txn::take_unfinished(scope.tenant()) {
            Some(txn) => (txn, true),
            None => (scope.begin(&self.state.pools.command).await?, false),
        };
        match stored {
            Some(stored) => {
                idempotency::complete(&txn, scope, self.claim, stored).await?;
            }
            None => idempotency::abandon(&txn, scope, self.claim).await?,
        }
        txn.commit().await?;
        if pending {
            request_txn::kept();
        }
        Ok(())
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
