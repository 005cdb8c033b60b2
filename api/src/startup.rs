//! Building and running the server: [`Application::build`] migrates, connects, binds (port
//! 0 picks a free port, reported by [`Application::port`]) and starts the catch-up
//! projector; [`Application::run_until_stopped`] serves until a signal.

use std::net::TcpListener;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, App, HttpMessage, HttpServer};
use crm_projections::catchup::CatchUp;
use tracing_actix_web::{RequestId, TracingLogger};

use crate::error::{problem, ApiError};
use crate::routes;
use crate::state::AppState;
use crm_app::access_token::TokenKeys;
use crm_app::commands::Commands;
use crm_app::config::Settings;
use crm_app::db::{self, DbError, Pools};

/// A server that failed to start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database could not be prepared or reached.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A configured file could not be read.
    #[error("{0}")]
    Config(String),
    /// A route declaration is wrong (found before serving).
    #[error(transparent)]
    Contract(#[from] crate::openapi::ContractError),
    /// The address could not be bound.
    #[error("bind: {0}")]
    Bind(#[from] std::io::Error),
}

/// A built server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    shutdown: tokio::sync::watch::Sender<bool>,
    projector: Option<tokio::task::JoinHandle<()>>,
    webhook_worker: Option<tokio::task::JoinHandle<()>>,
    janitor: tokio::task::JoinHandle<()>,
}

/// Every ten minutes until shutdown: deletes expired idempotency keys and ended rate-limit
/// windows; every hour, signs a checkpoint of every workspace's trail.
async fn janitor(
    projector: sea_orm::DatabaseConnection,
    key: crm_app::audit_chain::CheckpointKey,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let mut round: u64 = 0;
    loop {
        // Every hour (every sixth round), a signed checkpoint of every workspace's trail.
        if round % 6 == 5 {
            if let Ok(tenants) = crm_store::audit_chain::tenants(&projector).await {
                for (tenant, _) in tenants {
                    if let Err(err) = crm_app::audit_chain::checkpoint(
                        &projector,
                        &key,
                        crm_domain::TenantId(tenant),
                        chrono::Utc::now(),
                    )
                    .await
                    {
                        tracing::warn!(error = %err, "checkpoint failed");
                    }
                }
            }
        }
        round += 1;
        if let Err(err) =
            crm_access::rate_limits::purge_rate_limits(&projector, chrono::Utc::now()).await
        {
            tracing::warn!(error = %err, "rate-limit purge failed");
        }
        if let Err(err) = crm_access::support::purge_sessions(&projector, chrono::Utc::now()).await
        {
            tracing::warn!(error = %err, "support session purge failed");
        }
        match crm_access::idempotency::purge_expired(&projector).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "expired idempotency keys purged"),
            Err(err) => tracing::warn!(error = %err, "idempotency key purge failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Migrates and connects: what the server and the command line both need.
///
/// # Errors
/// [`DbError`].
pub async fn connect(settings: &Settings) -> Result<(Pools, Commands), DbError> {
    db::prepare(&settings.database).await?;
    let keyring = settings.personal_data.keyring()?;
    let pools = db::connect(&settings.database).await?;
    keyring
        .verify(&sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(
            pools.store.clone(),
        ))
        .await
        .map_err(|e| DbError::Config(crm_app::config::ConfigError::Invalid(e.to_string())))?;
    let commands = Commands::new(&pools, keyring);
    Ok((pools, commands))
}

impl Application {
    /// Prepares the database, binds `server.host:server.port` and builds the server.
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with(
            settings,
            std::sync::Arc::new(crm_app::clock::SystemClock),
            std::sync::Arc::new(crm_app::mailer::LogMailer),
        )
        .await
    }

    /// [`Application::build`] with a given clock (tests move it instead of sleeping) and
    /// mailer.
    ///
    /// # Errors
    /// [`StartupError`].
    pub async fn build_with(
        settings: Settings,
        clock: std::sync::Arc<dyn crm_app::clock::Clock>,
        mailer: std::sync::Arc<dyn crm_app::mailer::Mailer>,
    ) -> Result<Self, StartupError> {
        let totp_box = crm_app::totp::SecretBox::new(settings.auth.totp_key());
        let checkpoint_key = crm_app::audit_chain::CheckpointKey::new(settings.audit.key());
        let common_passwords = std::sync::Arc::new(
            crm_app::password::load_common(settings.auth.common_passwords_file.as_deref())
                .map_err(|e| StartupError::Config(format!("common passwords file: {e}")))?,
        );
        let contract = crate::openapi::Contract::build()?;
        let (pools, commands) = connect(&settings).await?;
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))?;
        let port = listener.local_addr()?.port();
        let tokens = TokenKeys::new(
            settings.auth.jwt_secret.as_ref(),
            settings.auth.access_token_ttl_seconds,
        )
        .with_refresh_ttl(settings.auth.refresh_token_ttl_seconds);
        let (shutdown, watch) = tokio::sync::watch::channel(false);
        let projector = settings.projector.enabled.then(|| {
            let catch_up = CatchUp::new(pools.projector.clone(), commands.keyring().clone());
            tokio::spawn(catch_up.run(settings.projector.batch, settings.projector.idle(), watch))
        });
        let webhooks = crm_app::webhooks::Webhooks {
            secrets: totp_box.clone(),
            destinations: crm_app::webhooks::destinations::Destinations::new(
                &settings.webhooks.allow_hosts,
            ),
        };
        let webhook_worker = if settings.webhooks.enabled {
            let worker = crm_app::webhooks::delivery::Worker::new(
                pools.projector.clone(),
                pools.app.clone(),
                commands.clone(),
                webhooks.clone(),
                clock.clone(),
                settings.webhooks.concurrency,
            )
            .map_err(|e| StartupError::Config(format!("webhook client: {e}")))?;
            let idle = std::time::Duration::from_millis(settings.webhooks.idle_ms);
            Some(tokio::spawn(worker.run(idle, shutdown.subscribe())))
        } else {
            None
        };
        let janitor = tokio::spawn(janitor(
            pools.projector.clone(),
            checkpoint_key.clone(),
            shutdown.subscribe(),
        ));
        let reads = crm_app::replica::Reads::new(
            pools.app.clone(),
            pools.replica.clone(),
            std::time::Duration::from_millis(settings.database.replica_wait_ms),
            std::time::Duration::from_millis(settings.database.replica_retry_ms),
        );
        reads.warn_if_writes_are_async(&pools.command).await;
        let state = AppState {
            settings,
            pools,
            reads,
            tokens,
            commands,
            clock,
            mailer,
            common_passwords,
            totp_box,
            webhooks,
            checkpoint_key,
            contract,
        };
        let server = server(listener, state)?;
        tracing::info!(port, "listening");
        Ok(Self {
            port,
            server,
            shutdown,
            projector,
            webhook_worker,
            janitor,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server stops (SIGINT/SIGTERM), then stops the projector.
    ///
    /// # Errors
    /// The server's I/O error.
    pub async fn run_until_stopped(self) -> Result<(), std::io::Error> {
        let result = self.server.await;
        let _ = self.shutdown.send(true);
        if let Some(projector) = self.projector {
            let _ = projector.await;
        }
        if let Some(worker) = self.webhook_worker {
            let _ = worker.await;
        }
        let _ = self.janitor.await;
        result
    }
}

/// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
pub const SHUTDOWN_SECONDS: u64 = 20;

/// CORS for the configured origins only; with none configured, every cross-origin request
/// (preflight or not) is refused.
fn cors(origins: &[String]) -> actix_cors::Cors {
    let mut cors = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("traceparent"),
            HeaderName::from_static("tracestate"),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("idempotent-replayed"),
            HeaderName::from_static("traceparent"),
        ])
        .max_age(600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// The security headers of every response, errors included (OWASP Secure Headers):
/// a JSON API renders nothing, so the strictest content policy applies; HSTS for two
/// years (the preload list's minimum is one).
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .add((
            header::STRICT_TRANSPORT_SECURITY,
            "max-age=63072000; includeSubDomains",
        ))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "no-referrer"))
        .add((header::CACHE_CONTROL, "no-store"))
}

fn server(listener: TcpListener, state: AppState) -> Result<Server, std::io::Error> {
    let origins = state.settings.server.cors_origins();
    let json_limit = state.settings.server.json_limit_bytes;
    let import_limit = state.settings.server.import_limit_bytes;
    // Requests are counted only when a scraper can read the counts.
    let metrics_on = state.settings.metrics.token.is_some() && crate::metrics::handle().is_some();
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(json_limit))
            .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
            .configure(|cfg| {
                routes::configure(
                    &mut utoipa_actix_web::service_config::ServiceConfig::new(cfg),
                    import_limit,
                );
            })
            .default_service(web::to(no_route))
            .wrap(actix_web::middleware::from_fn(
                crate::idempotency::middleware,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::body_first::middleware,
            ))
            .wrap_fn(move |req, srv| {
                use actix_web::dev::Service;
                let started = std::time::Instant::now();
                let fut = crm_store::request_txn::serve(srv.call(req));
                async move {
                    let res = fut.await?;
                    if metrics_on {
                        crate::metrics::record(&res, started);
                    }
                    log_api_key_request(&res);
                    Ok(finish_response(res))
                }
            })
            .wrap(cors(&origins))
            .wrap(security_headers())
            .wrap(TracingLogger::default())
    })
    .listen(listener)?
    // On SIGTERM or SIGINT: stop accepting, give in-flight requests this long, then exit.
    .shutdown_timeout(SHUTDOWN_SECONDS)
    .run();
    Ok(server)
}

/// The answer when no route matches: 405 with `Allow` when the path has routes for other
/// methods (RFC 9110 §15.5.6), else 404.
async fn no_route(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let methods = state.contract.routes.methods_of(req.path());
    if methods.is_empty() {
        return ApiError::NotFound.error_response();
    }
    let allow = methods
        .iter()
        .map(actix_web::http::Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} is not allowed here; allowed: {allow}", req.method()),
        None,
    );
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Records a request made with an API key in the key request log (in the background: the
/// answer does not wait for it).
fn log_api_key_request<B>(res: &ServiceResponse<B>) {
    let req = res.request();
    let Some(used) = req
        .extensions()
        .get::<crate::auth::context::ApiKeyUse>()
        .copied()
    else {
        return;
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return;
    };
    let (method, path, status) = (
        req.method().to_string(),
        req.path().to_owned(),
        res.status().as_u16(),
    );
    let ip = crate::auth::context::client_ip(req).map(|ip| ip.to_string());
    tokio::spawn(async move {
        let scope =
            crm_store::TenantScope::for_credential(crm_store::Credential::ApiKey(used.tenant));
        let now = state.clock.now();
        if let Err(err) = crm_access::api_keys::log_request(
            &state.pools.app,
            &scope,
            used.key_id,
            &method,
            &path,
            status,
            ip,
            now,
        )
        .await
        {
            tracing::error!(error = %err, "could not log an API key request");
        }
    });
}

/// Adds `X-Request-Id` and `traceparent` to every response, and gives a 500 (whatever produced it) an opaque
/// problem body that quotes the request id.
fn finish_response<B: MessageBody + 'static>(res: ServiceResponse<B>) -> ServiceResponse<BoxBody> {
    let id = res
        .request()
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string);
    let mut res = if res.status() == StatusCode::INTERNAL_SERVER_ERROR {
        let detail = format!(
            "an internal error occurred; request id {}",
            id.as_deref().unwrap_or("unknown")
        );
        let (req, _) = res.into_parts();
        ServiceResponse::new(
            req,
            problem(StatusCode::INTERNAL_SERVER_ERROR, detail, None),
        )
    } else {
        res.map_into_boxed_body()
    };
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    // The request's span in W3C Trace Context form: the caller's trace id when it sent a
    // `traceparent`, with this server's span as the parent to name.
    let traceparent = res
        .request()
        .extensions()
        .get::<tracing_actix_web::RootSpan>()
        .and_then(|span| crate::telemetry::traceparent(span));
    if let Some(value) = traceparent.and_then(|t| HeaderValue::from_str(&t).ok()) {
        res.headers_mut()
            .insert(HeaderName::from_static("traceparent"), value);
    }
    res
}
