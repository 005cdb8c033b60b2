//! Who is calling: the [`Caller`] every use case acts for, proved by the HTTP layer (an
//! access token, an API key, a support grant) before any use case runs, and what it may
//! do (the permission matrix of `crm_domain::role`, or a support grant's scope).

use crm_domain::{Action, Role, TenantId, UserId};
use crm_store::TenantScope;
use uuid::Uuid;

use crate::error::AppError;

/// The caller, as proved by a valid access token. The tenant comes from the token, never
/// from the path or the body.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's workspace.
    pub tenant: TenantId,
    /// The caller.
    pub user: UserId,
    /// The caller's role.
    pub role: Role,
    /// The caller's session (`sid` of the token); nil for an API key.
    pub session: Uuid,
    /// The API key the request came with, if it came with one (then `user` is the key's
    /// creator, and events name the key as their actor).
    pub api_key: Option<Uuid>,
    /// The scope every query of this request goes through.
    pub scope: TenantScope,
    /// Set when a support account calls under an Owner's grant (then `user` is the
    /// support account and `role` is `read_only`; [`Caller::may`] uses the grant).
    pub support: Option<SupportAccess>,
    /// The workspace's custom field schema as the session check read it with the
    /// request's other checks (`None`: not read; [`crate::fields::schema`] reads it).
    pub schema: Option<std::sync::Arc<crm_domain::fields::FieldSchema>>,
    /// The primary's WAL flush position (`pg_lsn` text, e.g. `0/3000148`) when the
    /// request's session check ran: every write answered before the request lies at or
    /// before it, so a standby that has replayed it may serve the request's reads
    /// ([`crate::replica`]). `None` when the check did not read it (API keys, support
    /// sessions, use cases outside HTTP): it is then read when needed.
    pub primary_lsn: Option<String>,
}

/// A support request's grant.
#[derive(Debug, Clone, Copy)]
pub struct SupportAccess {
    /// The support account.
    pub account: Uuid,
    /// The grant it acts under.
    pub grant: Uuid,
    /// `true` for a `recovery` grant, `false` for `read`.
    pub recovery: bool,
}

impl SupportAccess {
    /// What a grant allows: `read` reads records (deleted ones too), history and the
    /// audit trail; `recovery` also updates, deletes and restores (revert, undo import,
    /// restore). Never users, keys, settings, imports or exports.
    pub fn may(self, action: Action) -> bool {
        match action {
            Action::ReadRecords | Action::ViewDeleted | Action::ReadAudit => true,
            Action::UpdateRecords | Action::DeleteRecords | Action::RestoreRecords => self.recovery,
            _ => false,
        }
    }

    /// The `actor_role` recorded on support events: `support:read` or `support:recovery`.
    pub fn role_name(self) -> &'static str {
        if self.recovery {
            "support:recovery"
        } else {
            "support:read"
        }
    }
}

impl Caller {
    /// Whether the caller may perform `action`: the role's row of the matrix in
    /// `crm_domain::role`, or for support the grant's scope.
    pub fn may(&self, action: Action) -> bool {
        match self.support {
            Some(support) => support.may(action),
            None => self.role.may(action),
        }
    }

    /// Succeeds when the caller may perform `action` ([`Caller::may`]).
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub fn require(&self, action: Action) -> Result<(), AppError> {
        if self.may(action) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Succeeds for a person of the workspace signed in with a session, not an API key
    /// nor support staff: neither acts on a user's own account (sessions, password,
    /// two-factor) nor manages keys or grants.
    ///
    /// # Errors
    /// [`AppError::Forbidden`].
    pub fn require_person(&self) -> Result<(), AppError> {
        if self.api_key.is_some() || self.support.is_some() {
            return Err(AppError::Forbidden);
        }
        Ok(())
    }

    /// The principal that owns what this request creates: the API key, the support
    /// account, or the user.
    pub fn principal(&self) -> Uuid {
        self.api_key.unwrap_or(self.user.0)
    }
}
