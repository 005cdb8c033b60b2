//! Support requests: support staff (accounts outside every workspace,
//! [`crm_app::support_accounts`]) reach one only through an Owner's grant.
//!
//! A support account signs in at `POST /v1/auth/support/login` and gets an opaque bearer
//! token (`crms_…`). Each request names its workspace in
//! `X-Support-Workspace: <workspace id>`; without an active grant there (unrevoked,
//! unexpired) the answer is 404, as for any record the caller may not see. With one, the
//! request runs with the grant's scope ([`crate::auth::SupportAccess::may`]), is written
//! to the workspace's access record, and every event it causes names the support account
//! (`actor_type` `support`).

use actix_web::HttpRequest;
use chrono::{DateTime, Utc};
use crm_access::support;
use crm_domain::{Role, TenantId, UserId};
use crm_store::{Credential, TenantScope};
use uuid::Uuid;

use crate::auth::context::{client_ip, workspace_rate_limit};
use crate::auth::{AuthContext, Caller, SupportAccess};
use crate::error::ApiError;
use crate::state::AppState;

/// The header that names the workspace of a support request.
pub const WORKSPACE_HEADER: &str = "x-support-workspace";

/// Authenticates a support request: a live session, a workspace named in
/// [`WORKSPACE_HEADER`], an active grant there. Records the access.
///
/// # Errors
/// 401 for a bad or expired token; 404 without a workspace header or an active grant.
pub(crate) async fn authenticate(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    now: DateTime<Utc>,
) -> Result<AuthContext, ApiError> {
    let account =
        support::session_account(&state.pools.app, crm_app::opaque_token::hash(token), now)
            .await?
            .ok_or(ApiError::Unauthorized("invalid or expired support token"))?;
    let tenant = req
        .headers()
        .get(WORKSPACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::parse_str(v.trim()).ok())
        .map(TenantId)
        .ok_or(ApiError::NotFound)?;
    let scope = TenantScope::for_credential(Credential::SupportSession(tenant));
    let (grant, grant_scope) = support::active_grant(&state.pools.app, &scope, account, now)
        .await?
        .ok_or(ApiError::NotFound)?;
    support::record_access(
        &state.pools.app,
        &scope,
        support::Access {
            grant_id: grant,
            support_id: account,
            method: req.method().to_string(),
            path: req.path().to_owned(),
            ip: client_ip(req).map(|ip| ip.to_string()),
            at: now,
        },
    )
    .await?;
    workspace_rate_limit(state, tenant, now).await?;
    Ok(AuthContext(Caller {
        tenant,
        user: UserId(account),
        role: Role::ReadOnly,
        session: Uuid::nil(),
        api_key: None,
        scope,
        schema: None,
        primary_lsn: None,
        support: Some(SupportAccess {
            account,
            grant,
            recovery: grant_scope == "recovery",
        }),
    }))
}
