//! `GET /v1/events`: the workspace's changes feed (`crm_app::feed`).

use actix_web::{get, web, HttpResponse};
use crm_app::feed::{self, FeedPage, FeedQuery};
use serde::Deserialize;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// The query of the feed. Unknown parameters are refused (422).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The previous page's `next_cursor`; from the first event when absent.
    pub after: Option<String>,
    /// Comma-separated event types (`contact.updated`) or families (`deal.*`).
    pub types: Option<String>,
    /// Only events of `company`, `contact`, `deal`, `activity` or `pipeline`.
    pub entity_type: Option<String>,
    /// Events to read, 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u64>,
    /// Seconds to wait for a new event after `after` when there is none (long polling),
    /// 0 to 30.
    #[param(minimum = 0, maximum = 30)]
    pub wait: Option<u64>,
}

/// The workspace's domain events in commit order, from any point (no retention limit
/// beyond the event store's): each with a stable `id`, its `type`
/// (`<entity>.<event>`), who and when, and, for records, the field-level changes and the
/// record's state after it. The cursor never skips or repeats an event, a transaction
/// that commits late included; `wait` long-polls when nothing is new (the answer then
/// carries the same cursor). Owner, Admin, and API keys with that right.
///
/// # Errors
/// 403 for other roles; 422 for a bad parameter.
#[utoipa::path(
    tag = "audit",
    params(EventsQuery),
    responses((status = 200, description = "A page of the feed.", body = FeedPage)),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[get("/events")]
pub async fn changes_feed(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(q): Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = FeedQuery {
        after: q.after,
        types: split_types(q.types.as_deref()),
        entity_type: q.entity_type,
        limit: q.limit,
        wait: q.wait,
    };
    Ok(HttpResponse::Ok().json(feed::page(state.services(), &auth, query).await?))
}

/// `GET /v1/events/stream` query (or the `Last-Event-ID` header for `after`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Where to start (a feed cursor); `Last-Event-ID` wins when both are sent; from the
    /// first event when neither.
    pub after: Option<String>,
    /// As for `GET /v1/events`.
    pub types: Option<String>,
    /// As for `GET /v1/events`.
    pub entity_type: Option<String>,
}

/// Seconds a stream stays open before it ends (the client reconnects with
/// `Last-Event-ID`), so a stream never outlives its access token by long.
pub const STREAM_SECONDS: u64 = 600;
/// Seconds between keep-alive comments when nothing happens.
pub const KEEP_ALIVE_SECONDS: u64 = 15;

fn split_types(types: Option<&str>) -> Vec<String> {
    types
        .map(|t| {
            t.split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// One feed event as a Server-Sent Event: `id` is the cursor after it, `event` its type,
/// `data` the same JSON as `GET /v1/events` gives.
fn sse(event: &crm_app::feed::FeedEvent) -> String {
    let data = serde_json::to_string(event).unwrap_or_default();
    format!(
        "id: {}\nevent: {}\ndata: {data}\n\n",
        event.cursor, event.kind
    )
}

/// The changes feed as Server-Sent Events (WHATWG HTML, "Server-sent events"): every
/// event of `GET /v1/events` with `id` (its cursor), `event` (its type) and `data` (its
/// JSON), then new ones as they commit; a comment every 15 s keeps the connection open.
/// Resume with `Last-Event-ID` (or `after`). A stream ends after 10 minutes; the client
/// reconnects. Owner, Admin, and API keys with that right.
///
/// # Errors
/// 403 for other roles; 422 for a bad parameter or `Last-Event-ID` (before the stream
/// starts).
#[utoipa::path(
    tag = "audit",
    params(StreamQuery, ("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last event received.")),
    responses((status = 200, description = "An event stream.", content_type = "text/event-stream", body = String)),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[get("/events/stream")]
pub async fn changes_stream(
    state: web::Data<AppState>,
    auth: AuthContext,
    req: actix_web::HttpRequest,
    Query(q): Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .or(q.after);
    let query = FeedQuery {
        after,
        types: split_types(q.types.as_deref()),
        entity_type: q.entity_type,
        limit: Some(100),
        wait: None,
    };
    // The first page checks the role and every parameter before the stream starts.
    let first = feed::page(state.services(), &auth, query.clone()).await?;
    let caller = auth.0.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(STREAM_SECONDS);
    let start = (Some(first), query, false);
    let stream = futures::stream::unfold(start, move |(page, mut query, ended)| {
        let state = state.clone();
        let caller = caller.clone();
        async move {
            if ended {
                return None;
            }
            let page = match page {
                Some(page) => page,
                None if std::time::Instant::now() >= deadline => return None,
                None => {
                    let mut next = query.clone();
                    next.wait = Some(KEEP_ALIVE_SECONDS);
                    match feed::page(state.services(), &caller, next).await {
                        Ok(page) => page,
                        Err(err) => {
                            tracing::warn!(error = %err, "changes stream ended by an error");
                            let text = "event: error\ndata: {\"detail\":\"the stream failed; reconnect with Last-Event-ID\"}\n\n";
                            return Some((
                                Ok::<_, std::convert::Infallible>(web::Bytes::from(text)),
                                (None, query, true),
                            ));
                        }
                    }
                }
            };
            let mut chunk: String = page.items.iter().map(sse).collect();
            if chunk.is_empty() {
                chunk = ": keep-alive\n\n".to_owned();
            }
            query.after = Some(page.next_cursor);
            Some((Ok(web::Bytes::from(chunk)), (None, query, false)))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream))
}

/// Registers the feed.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(changes_feed).service(changes_stream);
}
