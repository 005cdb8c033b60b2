//! # crm-app
//!
//! The application layer: every use case the HTTP API and the command line share, with no
//! web framework in its dependencies. Its functions take typed inputs and a tenant-scoped
//! context and return [`error::AppError`]; `crm-api` maps that to HTTP in one place.
//!
//! - [`caller`]: who a use case acts for and what they may do;
//! - [`commands`]: the write side (each command in one [`unit_of_work`]: its events,
//!   claims, contact data key and inline read rows commit together; the rules that span
//!   streams: contact email uniqueness, a contact's company in the same workspace);
//! - [`records`]: the record use cases (create, update, delete, restore, revert, and each
//!   type's own) and the rules that span streams; [`pipelines`]: pipelines, stages and
//!   the weighted summary;
//! - [`signup`]: a new workspace and its Owner; [`sign_in`]: the password step of a
//!   sign-in, with its limits; [`sessions`]: opening, refreshing and ending sessions, and
//!   password resets; [`access_token`]: the JWTs a session hands out; [`password`]: the
//!   password policy and argon2id hashing;
//! - [`two_factor`]: enrolling and checking a second factor; [`totp`]: RFC 6238 codes
//!   and their sealed secrets;
//! - [`account`]: the caller's profile and password; [`workspace`]: a workspace's
//!   settings; [`api_keys`]: keys for programs;
//! - [`invitations`]: inviting people into a workspace and accepting; [`members`]: role
//!   changes, deactivation and reactivation;
//! - [`support_accounts`]: support staff's accounts and sign-in; [`support_grants`]: an
//!   Owner's grants to them;
//! - [`data_requests`]: a contact's data-subject access export (GDPR art. 15);
//! - [`import`]: CSV imports; [`history`]: history, past states and snapshots;
//! - [`audit_chain`]: signed checkpoints of the hash-chained trail; [`backup`]: tenant
//!   backup and restore;
//! - [`config`]: layered settings; [`db`]: pools, migrations and the
//!   [`private_cluster`] fallback; [`replica`]: reads from a hot standby, consistent with
//!   the caller's writes; [`clock`] and [`mailer`]: the outside world.

pub mod access_token;
pub mod account;
pub mod api_keys;
pub mod audit_chain;
pub mod backup;
pub mod caller;
pub mod clock;
pub mod commands;
pub mod config;
pub mod data_requests;
pub mod db;
pub mod error;
pub mod feed;
pub mod field_copy;
pub mod fields;
pub mod history;
pub mod import;
pub mod invitations;
pub mod mailer;
pub mod members;
pub mod metrics;
pub mod opaque_token;
pub mod password;
pub mod pipelines;
pub mod private_cluster;
pub mod records;
pub mod replica;
pub mod sessions;
pub mod sign_in;
pub mod signup;
pub mod support_accounts;
pub mod support_grants;
pub mod totp;
pub mod two_factor;
pub mod unit_of_work;
pub mod webhooks;
pub mod workspace;

pub use error::{AppError, FieldError};
