//! Roles and the permission matrix (role x action), kept as data so that one guard can
//! apply it to every route and the README can print it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A user's role in a workspace, from most to least powerful.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Founder or owner: everything, including the audit trail and workspace settings.
    Owner,
    /// Administers the workspace: everything an owner does in daily work.
    Admin,
    /// Manages records and imports, restores deleted records.
    Manager,
    /// Works with records: reads, creates, updates and deletes them.
    Member,
    /// Reads records and changes nothing.
    ReadOnly,
}

/// Something a request may do; each route names exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read and list live records.
    ReadRecords,
    /// Create records.
    CreateRecords,
    /// Update records.
    UpdateRecords,
    /// Soft-delete records.
    DeleteRecords,
    /// Restore soft-deleted records.
    RestoreRecords,
    /// See soft-deleted records in lists (`include_deleted`).
    ViewDeleted,
    /// Import CSV files.
    ImportRecords,
    /// Read the workspace's audit trail.
    ReadAudit,
    /// Rename the workspace.
    ManageWorkspace,
    /// Create pipelines and change their stages.
    ManagePipelines,
    /// Define, rename, archive and restore custom fields.
    ManageFields,
    /// Export records as CSV (all of a list at once).
    ExportRecords,
    /// Invite users, change their roles, deactivate and reactivate them.
    ManageUsers,
    /// Create, list and revoke API keys, and read their request log.
    ManageApiKeys,
    /// Verify the trail's integrity and sign checkpoints.
    VerifyAudit,
    /// Give, list and revoke support staff access to the workspace.
    GrantSupport,
    /// Erase a contact's personal data for good (GDPR art. 17).
    ErasePersonalData,
    /// Make, change, rotate, replay and delete webhook endpoints and read their delivery
    /// log.
    ManageWebhooks,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Self; 5] = [
        Self::Owner,
        Self::Admin,
        Self::Manager,
        Self::Member,
        Self::ReadOnly,
    ];

    /// The name used in tokens, events and JSON: `owner`, `admin`, `manager`, `member`,
    /// `read_only`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Manager => "manager",
            Self::Member => "member",
            Self::ReadOnly => "read_only",
        }
    }

    /// Whether this role may perform `action` (looked up in [`PERMISSIONS`]).
    pub fn may(self, action: Action) -> bool {
        PERMISSIONS
            .iter()
            .any(|(a, roles)| *a == action && roles.contains(&self))
    }
}

/// The permission matrix: each action with the roles allowed to perform it.
pub const PERMISSIONS: &[(Action, &[Role])] = {
    use Role::{Admin, Manager, Member, Owner, ReadOnly};
    &[
        (
            Action::ReadRecords,
            &[Owner, Admin, Manager, Member, ReadOnly],
        ),
        (Action::CreateRecords, &[Owner, Admin, Manager, Member]),
        (Action::UpdateRecords, &[Owner, Admin, Manager, Member]),
        (Action::DeleteRecords, &[Owner, Admin, Manager, Member]),
        (Action::RestoreRecords, &[Owner, Admin, Manager]),
        (Action::ViewDeleted, &[Owner, Admin]),
        (Action::ImportRecords, &[Owner, Admin, Manager]),
        (Action::ReadAudit, &[Owner, Admin]),
        (Action::ManageWorkspace, &[Owner, Admin]),
        (Action::ManagePipelines, &[Owner, Admin, Manager]),
        (Action::ManageFields, &[Owner, Admin]),
        (Action::ExportRecords, &[Owner, Admin, Manager]),
        (Action::ManageUsers, &[Owner, Admin]),
        (Action::ManageApiKeys, &[Owner, Admin]),
        (Action::VerifyAudit, &[Owner]),
        (Action::GrantSupport, &[Owner]),
        (Action::ErasePersonalData, &[Owner]),
        (Action::ManageWebhooks, &[Owner, Admin]),
    ]
};

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_rules() {
        assert!(Role::ALL.iter().all(|r| r.may(Action::ReadRecords)));
        assert!(!Role::ReadOnly.may(Action::CreateRecords));
        assert!(!Role::ReadOnly.may(Action::DeleteRecords));
        assert!(!Role::Member.may(Action::ReadAudit));
        assert!(!Role::Manager.may(Action::ViewDeleted));
        assert!(Role::Admin.may(Action::ReadAudit));
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
    }
}
