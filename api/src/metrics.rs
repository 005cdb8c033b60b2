//! Metrics in the Prometheus text format (`metrics` with `metrics-exporter-prometheus`):
//! the recorder, installed once per process; the middleware that counts and times every
//! request by route template, method and status; and the readings taken when a scrape
//! comes (pools, the event readers' lag, the webhook backlog). The application layer
//! records its own through `crm_app::metrics`. `GET /metrics` itself is in
//! `routes::metrics`; every metric is listed in `docs/operations.md`.

use std::sync::OnceLock;

use actix_web::dev::ServiceResponse;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

/// Request latency buckets, seconds: 1 ms to 10 s, about three a decade.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's recorder, installed on first use; `None` when another recorder was
/// installed first (then nothing is recorded here).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("crm_http_request_duration_seconds".into()),
                    &LATENCY_BUCKETS,
                )
                .ok()?;
            match builder.install_recorder() {
                Ok(handle) => Some(handle),
                Err(err) => {
                    tracing::warn!(error = %err, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Counts and times a finished request: `crm_http_requests_total` and
/// `crm_http_request_duration_seconds`, labelled by method, route template (`/v1/companies/{id}`,
/// never the path itself, so that ids do not make new series; `unmatched` for no route)
/// and status.
pub fn record<B>(res: &ServiceResponse<B>, started: std::time::Instant) {
    let req = res.request();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let labels = [
        ("method", method_label(req.method()).to_owned()),
        ("route", route),
        ("status", res.status().as_str().to_owned()),
    ];
    metrics::counter!("crm_http_requests_total", &labels).increment(1);
    metrics::histogram!("crm_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
}

/// Counts, in `crm_db_pool_waiting{pool}`, a request waiting for a connection to open
/// its transaction while it is held (dropped when the connection came, or the request
/// gave up).
pub struct Waiting(&'static str);

impl Waiting {
    /// Starts waiting on `pool`.
    pub fn on(pool: &'static str) -> Self {
        metrics::gauge!("crm_db_pool_waiting", "pool" => pool).increment(1.0);
        Self(pool)
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!("crm_db_pool_waiting", "pool" => self.0).decrement(1.0);
    }
}

/// The method as a label: one of RFC 9110's methods, or `other` (a client may send any
/// token as a method; each would otherwise be series of its own, kept for good).
fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Takes the readings a scrape needs and renders every metric as Prometheus text.
/// A reading that fails is logged and left at its last value: the scrape still answers.
pub async fn render(state: &AppState) -> String {
    let pools = [
        ("app", state.pools.app.get_postgres_connection_pool()),
        (
            "command",
            state.pools.command.get_postgres_connection_pool(),
        ),
        (
            "projector",
            state.pools.projector.get_postgres_connection_pool(),
        ),
        ("store", &state.pools.store),
    ];
    for (name, pool) in pools {
        let (size, idle) = (f64::from(pool.size()), pool.num_idle() as f64);
        metrics::gauge!("crm_db_pool_connections", "pool" => name, "state" => "idle").set(idle);
        metrics::gauge!("crm_db_pool_connections", "pool" => name, "state" => "in_use")
            .set(size - idle);
        metrics::gauge!("crm_db_pool_max_connections", "pool" => name)
            .set(f64::from(pool.options().get_max_connections()));
    }
    if let Some(replica) = &state.pools.replica {
        let pool = replica.get_postgres_connection_pool();
        let (size, idle) = (f64::from(pool.size()), pool.num_idle() as f64);
        metrics::gauge!("crm_db_pool_connections", "pool" => "replica", "state" => "idle")
            .set(idle);
        metrics::gauge!("crm_db_pool_connections", "pool" => "replica", "state" => "in_use")
            .set(size - idle);
        metrics::gauge!("crm_db_pool_max_connections", "pool" => "replica")
            .set(f64::from(pool.options().get_max_connections()));
    }
    state.reads.observe().await;
    if let Err(err) = crm_app::metrics::observe_backlogs(&state.pools.projector).await {
        tracing::warn!(error = %err, "metrics: backlog readings failed");
    }
    match handle() {
        Some(handle) => {
            handle.run_upkeep();
            handle.render()
        }
        None => String::new(),
    }
}
