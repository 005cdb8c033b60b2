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
        types: q
            .types
            .as_deref()
            .map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        entity_type: q.entity_type,
        limit: q.limit,
        wait: q.wait,
    };
    Ok(HttpResponse::Ok().json(feed::page(state.services(), &auth, query).await?))
}

/// Registers the feed.
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(changes_feed);
}
