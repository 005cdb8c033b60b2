//! The workspace's audit trail.

use actix_web::http::header;
use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use crm_domain::Action;
use crm_store::audit::{self, AuditEntry, AuditFilter};
use crm_store::audit_chain::{Break, Head};
use crm_store::page::Page;
use futures::stream;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::AuthContext;
use crate::error::ApiError;
use crate::extract::Query;
use crate::openapi::IdempotencyKey;
use crate::state::AppState;

/// The filters of `GET /v1/audit` and `GET /v1/audit/export`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1 to 200; default 50 (list only).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// The `next_cursor` of the previous page (list only).
    pub cursor: Option<String>,
    /// The acting user's id, API key id or system actor name.
    pub actor: Option<String>,
    /// `Workspace`, `User`, `Company`, `Contact`, `Pipeline`, `Deal` or `Activity`.
    #[param(pattern = "^(Workspace|User|Company|Contact|Pipeline|Deal|Activity)$")]
    pub entity_type: Option<String>,
    /// One entity's id.
    pub entity_id: Option<Uuid>,
    /// E.g. `ContactUpdated`.
    pub event_type: Option<String>,
    /// RFC 3339: stored at or after. Default: 12 months ago.
    pub from: Option<DateTime<Utc>>,
    /// RFC 3339: stored before.
    pub to: Option<DateTime<Utc>>,
    /// Export only: `ndjson` (default) or `csv`.
    #[param(pattern = "^(ndjson|csv)$")]
    pub format: Option<String>,
}

impl AuditQuery {
    fn filter(&self) -> Result<AuditFilter, ApiError> {
        const TYPES: [&str; 7] = [
            "Workspace",
            "User",
            "Company",
            "Contact",
            "Pipeline",
            "Deal",
            "Activity",
        ];
        if let Some(t) = &self.entity_type {
            if !TYPES.contains(&t.as_str()) {
                return Err(ApiError::invalid(
                    "entity_type",
                    format!("must be one of {}", TYPES.join(", ")),
                ));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                return Err(ApiError::invalid("to", "must be after from"));
            }
        }
        Ok(AuditFilter {
            actor: self.actor.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            event_type: self.event_type.clone(),
            from: self.from,
            to: self.to,
        })
    }
}

/// Lists the workspace's events, newest first (Owner, Admin).
///
/// Each with actor, role, time, address, event type, entity and payload;
/// keyset-paginated; filtered by `actor`, `entity_type`, `entity_id`, `event_type`, `from`
/// and `to` (default window: the last 12 months).
///
/// # Errors
/// 403 for other roles; 422 for a bad limit, cursor or filter, or `format`.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses((status = 200, description = "A page of events.", body = Page<AuditEntry>)),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[get("/audit")]
pub async fn list(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(query): Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    if query.limit.is_some_and(|n| !(1..=200).contains(&n)) {
        return Err(ApiError::invalid("limit", "must be 1 to 200"));
    }
    if query.format.is_some() {
        return Err(ApiError::invalid("format", "only for /v1/audit/export"));
    }
    let filter = query.filter()?;
    let (keyring, scope, filter, cursor) = (
        state.commands.keyring(),
        &auth.scope,
        &filter,
        query.cursor.as_deref(),
    );
    let page = state
        .reads
        .run(&auth, |db| async move {
            Ok(audit::list(&db, keyring, scope, filter, cursor, query.limit).await?)
        })
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

const CSV_HEADER: [&str; 17] = [
    "position",
    "recorded_at",
    "occurred_at",
    "entity_type",
    "entity_id",
    "version",
    "event_type",
    "actor",
    "actor_type",
    "actor_role",
    "ip",
    "user_agent",
    "request_id",
    "import_id",
    "initiated_by",
    "reason",
    "payload",
];

fn csv_cell(text: String) -> String {
    // OWASP "CSV Injection": a cell a spreadsheet would run as a formula gets a `'`.
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

fn csv_row(e: AuditEntry) -> Vec<String> {
    let o = Option::unwrap_or_default;
    [
        e.position.to_string(),
        e.recorded_at.to_rfc3339(),
        o(e.occurred_at),
        e.entity_type,
        e.entity_id,
        e.version.to_string(),
        e.event_type,
        o(e.actor),
        o(e.actor_type),
        o(e.actor_role),
        o(e.ip),
        o(e.user_agent),
        o(e.request_id),
        o(e.import_id),
        o(e.initiated_by),
        o(e.reason),
        e.payload.to_string(),
    ]
    .into_iter()
    .map(csv_cell)
    .collect()
}

fn encode(csv: bool, rows: Vec<AuditEntry>, header: bool) -> Result<web::Bytes, ApiError> {
    if csv {
        let mut writer = ::csv::Writer::from_writer(Vec::new());
        if header {
            writer
                .write_record(CSV_HEADER)
                .map_err(ApiError::internal)?;
        }
        for row in rows {
            writer
                .write_record(csv_row(row))
                .map_err(ApiError::internal)?;
        }
        return writer
            .into_inner()
            .map(web::Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string().into()));
    }
    let mut out = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut out, &row).map_err(ApiError::internal)?;
        out.push(b'\n');
    }
    Ok(web::Bytes::from(out))
}

/// Exports every event that passes the filters, as NDJSON or CSV (Owner, Admin).
///
/// The filters are those of `GET /v1/audit`; newest first, streamed 200 at a time
/// (NDJSON: one `AuditEntry` per line; CSV per RFC 4180 with a header row and the payload
/// as JSON text). Needs the export right as well as the audit one.
///
/// # Errors
/// 403 for other roles and support staff; 422 for `limit`, `cursor`, an unknown format
/// or a bad filter.
#[utoipa::path(
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The events: `format=ndjson` (default) one `AuditEntry` JSON object per line; `format=csv` a header row then one row per event.",
            content(
                (String = "application/x-ndjson"),
                (String = "text/csv"),
            ),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"audit.ndjson\"` or `\"audit.csv\"`."))),
    ),
    extensions(("x-permission" = json!("read_audit"))),
)]
#[get("/audit/export")]
pub async fn export(
    state: web::Data<AppState>,
    auth: AuthContext,
    Query(query): Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    // Reading the trail (`x-permission`) and taking data away in bulk: both rights
    // (support grants never carry the second).
    auth.require(Action::ExportRecords)?;
    if query.limit.is_some() || query.cursor.is_some() {
        return Err(ApiError::invalid(
            "cursor",
            "an export has no pages: drop limit and cursor",
        ));
    }
    let csv = match query.format.as_deref() {
        None | Some("ndjson") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::invalid("format", "must be ndjson or csv")),
    };
    let filter = query.filter()?;
    let scope = auth.scope;
    // The whole export reads where its first page does.
    let (db, _) = state.reads.pick(&auth).await?;
    let pages = stream::unfold(Some((None::<String>, true)), move |next| {
        let (state, scope, filter, db) = (state.clone(), scope, filter.clone(), db.clone());
        async move {
            let (cursor, first) = next?;
            match audit::list(
                &db,
                state.commands.keyring(),
                &scope,
                &filter,
                cursor.as_deref(),
                Some(200),
            )
            .await
            {
                Ok(page) => {
                    let after = page.next_cursor.map(|c| (Some(c), false));
                    Some((encode(csv, page.items, first), after))
                }
                Err(err) => {
                    tracing::error!(error = %err, "audit export page failed");
                    Some((Err(ApiError::from(err)), None))
                }
            }
        }
    });
    let (content_type, name) = if csv {
        ("text/csv; charset=utf-8", "audit.csv")
    } else {
        ("application/x-ndjson", "audit.ndjson")
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .streaming(pages))
}

/// A verification's answer: whether every hash of the workspace's trail re-derives, and
/// how many events were checked.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    /// True when no check failed.
    pub intact: bool,
    /// Events walked.
    pub events_checked: i64,
    /// The first event whose chain breaks, if any.
    pub first_break: Option<Break>,
    /// The checkpoint compared against, if any.
    pub checkpoint: Option<CheckpointCheck>,
}

/// What the latest signed checkpoint showed: whether the stream heads it signed still
/// match.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckpointCheck {
    /// Its id.
    pub id: i64,
    /// When it was taken.
    pub taken_at: DateTime<Utc>,
    /// Whether its signature holds.
    pub signature_valid: bool,
    /// The first signed stream head no longer in the store as signed, if any.
    pub missing_head: Option<Head>,
}

impl From<crm_app::audit_chain::Report> for ChainReport {
    fn from(report: crm_app::audit_chain::Report) -> Self {
        let crm_app::audit_chain::Report {
            intact,
            events_checked,
            first_break,
            checkpoint: compared,
        } = report;
        Self {
            intact,
            events_checked,
            first_break,
            checkpoint: compared.map(|c| {
                let crm_app::audit_chain::CheckpointReport {
                    id,
                    taken_at,
                    signature_valid,
                    missing_head,
                } = c;
                CheckpointCheck {
                    id,
                    taken_at,
                    signature_valid,
                    missing_head,
                }
            }),
        }
    }
}

/// Verifies the audit trail (Owner): walks the workspace's hash chains and checks the
/// latest signed checkpoint.
///
/// Answers `intact`, or the first event that does not match and why.
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "audit",
    responses((status = 200, description = "The verification's result.", body = ChainReport)),
    extensions(("x-permission" = json!("verify_audit"))),
)]
#[get("/audit/verify")]
pub async fn verify(
    state: web::Data<AppState>,
    auth: AuthContext,
) -> Result<HttpResponse, ApiError> {
    let report =
        crm_app::audit_chain::verify(&state.pools.app, &state.checkpoint_key, auth.tenant).await?;
    Ok(HttpResponse::Ok().json(ChainReport::from(report)))
}

/// A new checkpoint.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewCheckpoint {
    /// The checkpoint's id.
    pub id: i64,
}

/// Signs a checkpoint of the workspace's stream heads now (Owner).
///
/// # Errors
/// 403.
#[utoipa::path(
    tag = "audit",
    params(IdempotencyKey),
    responses((status = 201, description = "The checkpoint is signed and stored.", body = NewCheckpoint)),
    extensions(("x-permission" = json!("verify_audit"))),
)]
#[post("/audit/checkpoints")]
pub async fn checkpoint(
    state: web::Data<AppState>,
    auth: AuthContext,
) -> Result<HttpResponse, ApiError> {
    let id = crm_app::audit_chain::checkpoint(
        &state.pools.app,
        &state.checkpoint_key,
        auth.tenant,
        state.clock.now(),
    )
    .await?;
    Ok(HttpResponse::Created().json(NewCheckpoint { id }))
}

/// Registers this module's routes (under `/v1`).
pub fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.service(verify)
        .service(checkpoint)
        .service(list)
        .service(export);
}
