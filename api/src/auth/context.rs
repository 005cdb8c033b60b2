//! Extractors: who is calling ([`AuthContext`], from the bearer token only) and the
//! metadata every command carries ([`CommandContext`]).

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpRequest};
use crm_access::{rate_limits, sessions};
pub use crm_app::caller::{Caller, SupportAccess};
use crm_domain::{EventMetadata, Role, TenantId, UserId};
use crm_store::{request_txn, Credential, TenantScope};
use sea_orm::TransactionTrait;
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// The caller, as proved by a valid access token or API key: the application layer's
/// [`Caller`], taken from the request by the extractor below (`Deref` gives its fields
/// and checks).
#[derive(Debug, Clone)]
pub struct AuthContext(pub Caller);

impl std::ops::Deref for AuthContext {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

/// Verifies the bearer token and that its session is still open (a revoked session's
/// tokens stop working at once).
pub(crate) async fn authenticate(req: HttpRequest) -> Result<AuthContext, ApiError> {
    // Once per request: the idempotency middleware and the extractor share the result, so
    // the request budget counts each request once.
    let cached = req.extensions().get::<AuthContext>().cloned();
    let auth = match cached {
        Some(done) => done,
        None => {
            let auth = authenticate_once(&req).await?;
            req.extensions_mut().insert(auth.clone());
            auth
        }
    };
    // The route's declared permission (`x-permission`), before anything else runs, on
    // every call: a cached identity is not a cached permission.
    if let Some(action) = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| route_meta(&req, state))
        .and_then(|meta| meta.permission)
    {
        auth.require(action)?;
    }
    Ok(auth)
}

/// The declaration of the route a request matched (see [`crate::openapi::RouteTable`]).
pub(crate) fn route_meta<'s>(
    req: &HttpRequest,
    state: &'s AppState,
) -> Option<&'s crate::openapi::RouteMeta> {
    let pattern = req.match_pattern()?;
    state
        .contract
        .routes
        .get(req.method(), &pattern)
        .map(|route| &route.meta)
}

async fn authenticate_once(req: &HttpRequest) -> Result<AuthContext, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("application state missing".into()))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized("missing bearer token"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .ok_or(ApiError::Unauthorized(
            "malformed Authorization header: expected 'Bearer <token>'",
        ))?;
    let now = state.clock.now();
    let token = token.trim();
    if token.starts_with(crm_app::support_accounts::TOKEN_PREFIX) {
        return crate::support::authenticate(req, &state, token, now).await;
    }
    if token.starts_with(crm_app::api_keys::PREFIX) {
        return authenticate_key(req, &state, token, now).await;
    }
    let claims = state
        .tokens
        .verify(token, now)
        .ok_or(ApiError::Unauthorized("invalid or expired token"))?;
    let tenant = TenantId(claims.tid);
    let scope = TenantScope::for_credential(Credential::AccessToken(tenant));
    // A workspace may require two-factor sign-in of owners and admins: until they turn it
    // on they may only do that (and read who they are, or sign out).
    let two_factor_rule = matches!(claims.role, Role::Owner | Role::Admin)
        && !route_meta(req, &state).is_some_and(|r| r.two_factor_exempt);
    let limit = state.settings.server.workspace_requests_per_minute;
    let rate_key = (limit > 0).then(|| workspace_window(tenant, now));
    // The check opens the request's transaction (`request_txn`): a read's query, or a
    // write's first command, goes on in it, so the check, the two-factor policy and the
    // work commit together. A write does so only once its body is in memory
    // (`body_first`): otherwise its check commits on its own.
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    let purpose = if read {
        Some((&state.pools.app, request_txn::Purpose::Read))
    } else if req
        .extensions()
        .get::<crate::body_first::BodyReceived>()
        .is_some()
    {
        Some((&state.pools.command, request_txn::Purpose::Command))
    } else {
        None
    };
    // A write whose body is still coming checks in one autocommit statement.
    let txn = match purpose {
        Some((pool, purpose)) => {
            let _waiting = crate::metrics::Waiting::on(match purpose {
                request_txn::Purpose::Read => "app",
                _ => "command",
            });
            Some(pool.begin().await?)
        }
        None => None,
    };
    let db: &dyn sea_orm::ConnectionTrait = match &txn {
        Some(txn) => txn,
        None => &state.pools.app,
    };
    let found = sessions::authorize(
        db,
        &scope,
        claims.sid,
        claims.sub,
        now,
        two_factor_rule,
        rate_key.as_deref(),
        // Only a command's transaction must be durable; a check alone writes a count.
        matches!(purpose, Some((_, request_txn::Purpose::Command))),
    )
    .await?;
    if let (Some(txn), Some((_, purpose))) = (txn, purpose) {
        let count = rate_key.map(|key| request_txn::Count {
            db: state.pools.app.clone(),
            key,
            now,
        });
        if let Err(txn) = request_txn::offer(tenant, purpose, txn, count) {
            txn.commit().await?;
        }
    }
    if !found.active {
        return Err(ApiError::Unauthorized(
            "the session has ended; sign in again",
        ));
    }
    if found.lacks_two_factor {
        return Err(ApiError::TwoFactorRequired);
    }
    if let Some(hits) = found.hits {
        over_limit(hits, limit, now)?;
    }
    let schema = match found.field_events {
        Some(serde_json::Value::Array(payloads)) => crm_app::fields::folded(payloads)?,
        _ => crm_domain::fields::FieldSchema::default(),
    };
    Ok(AuthContext(Caller {
        schema: Some(std::sync::Arc::new(schema)),
        tenant,
        user: UserId(claims.sub),
        role: claims.role,
        session: claims.sid,
        scope,
        api_key: None,
        support: None,
        primary_lsn: found.primary_lsn,
    }))
}

/// Marks a request made with an API key (for the request log).
#[derive(Debug, Clone, Copy)]
pub struct ApiKeyUse {
    /// The key's workspace.
    pub tenant: TenantId,
    /// The key.
    pub key_id: Uuid,
}

/// The general per-workspace request limit (`server.workspace_requests_per_minute`, 0 for
/// none), counted in the shared database counters per calendar minute.
pub(crate) async fn workspace_rate_limit(
    state: &AppState,
    tenant: TenantId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), ApiError> {
    let limit = state.settings.server.workspace_requests_per_minute;
    if limit == 0 {
        return Ok(());
    }
    let hits =
        rate_limits::count_request(&state.pools.app, &workspace_window(tenant, now), now).await?;
    over_limit(hits, limit, now)
}

/// The counter of `tenant`'s requests in the calendar minute of `now`.
fn workspace_window(tenant: TenantId, now: chrono::DateTime<chrono::Utc>) -> String {
    format!("workspace:{tenant}:{}", now.timestamp().div_euclid(60))
}

/// 429 when `hits` passed `limit`, retrying at the next minute.
fn over_limit(hits: i64, limit: u64, now: chrono::DateTime<chrono::Utc>) -> Result<(), ApiError> {
    if u64::try_from(hits).unwrap_or(u64::MAX) > limit {
        crm_app::metrics::rate_limited("workspace");
        let wait = 60 - now.timestamp().rem_euclid(60);
        return Err(ApiError::TooManyRequests(
            u64::try_from(wait.max(1)).unwrap_or(1),
        ));
    }
    Ok(())
}

async fn authenticate_key(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<AuthContext, ApiError> {
    const BAD: ApiError = ApiError::Unauthorized("invalid, revoked or expired API key");
    let tenant = crm_app::api_keys::tenant_of(token).ok_or(BAD)?;
    let scope = TenantScope::for_credential(Credential::ApiKey(tenant));
    let key = crm_access::api_keys::authenticate(
        &state.pools.app,
        &scope,
        crm_app::opaque_token::hash(token),
        now,
    )
    .await?
    .ok_or(BAD)?;
    let role: Role = key.role.parse().map_err(ApiError::internal)?;
    req.extensions_mut().insert(ApiKeyUse {
        tenant,
        key_id: key.id,
    });
    workspace_rate_limit(state, tenant, now).await?;
    Ok(AuthContext(Caller {
        tenant,
        user: UserId(key.created_by),
        role,
        session: Uuid::nil(),
        scope,
        api_key: Some(key.id),
        support: None,
        schema: None,
        primary_lsn: None,
    }))
}

impl FromRequest for AuthContext {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone()))
    }
}

/// The request id the tracing middleware gave this request (also in `X-Request-Id`).
pub fn request_id(req: &HttpRequest) -> Uuid {
    req.extensions()
        .get::<tracing_actix_web::RequestId>()
        .map_or_else(Uuid::now_v7, |id| **id)
}

/// The client address: the TCP peer, or the forwarded client when configured to trust a
/// proxy.
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let trust = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.settings.server.trust_forwarded_for);
    if trust {
        let info = req.connection_info();
        if let Some(ip) = info.realip_remote_addr().and_then(|a| {
            a.parse::<std::net::SocketAddr>()
                .map(|s| s.ip())
                .ok()
                .or_else(|| a.parse().ok())
        }) {
            return Some(ip);
        }
    }
    req.peer_addr().map(|a| a.ip())
}

/// The client's `User-Agent`, cut to 512 characters.
pub fn user_agent(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(512).collect())
}

use actix_web::HttpMessage;

/// An authenticated caller plus the metadata of the command it is about to run. Handlers
/// that change anything take this; it is the only way to get an [`EventMetadata`] for a
/// user, so no command runs without tenant, actor, role, request id, address, agent and
/// time.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The caller.
    pub auth: AuthContext,
    /// The metadata for the events of this request.
    pub metadata: EventMetadata,
}

impl FromRequest for CommandContext {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let auth = authenticate(req.clone()).await?;
            let mut metadata =
                EventMetadata::for_user(auth.tenant, auth.user, auth.role, request_id(&req));
            metadata.ip = client_ip(&req);
            metadata.user_agent = user_agent(&req);
            if let Some(key) = auth.api_key {
                metadata.actor = crm_domain::Actor::ApiKey(key);
            }
            if let Some(support) = auth.support {
                metadata.actor = crm_domain::Actor::Support(support.account);
                metadata.actor_role = support.role_name().to_owned();
            }
            if let Some(clock) = req
                .app_data::<web::Data<AppState>>()
                .map(|s| s.clock.clone())
            {
                metadata.occurred_at = clock.now();
            }
            Ok(Self { auth, metadata })
        })
    }
}
