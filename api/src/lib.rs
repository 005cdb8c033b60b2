//! # crm-api
//!
//! The CRM's HTTP API (actix-web) and the `crm` command line, over the application layer
//! (`crm-app`). Handlers are thin: extract, call the application layer, map the error.
//!
//! - [`routes`]: every route, declared with `#[utoipa::path]` beside its handler;
//!   [`openapi`]: the contract generated from those declarations and the route table the
//!   server obeys (permissions, two-factor exemptions, idempotency);
//! - [`startup`]: [`startup::Application`]; [`cli`]: the command line;
//! - [`auth`]: tokens, sessions, TOTP, the [`auth::AuthContext`] and [`auth::CommandContext`]
//!   extractors; [`extract`]: strict JSON and query extractors; [`idempotency`]: the
//!   `Idempotency-Key` middleware; [`spool`]: large bodies received to a temporary file;
//!   [`support`]: support staff's sign-in;
//! - [`error`]: [`error::ApiError`], the one mapping of every failure to RFC 9457;
//!   [`faults`]: fault injection, in test builds only.

pub mod auth;
pub mod body_first;
pub mod cli;
pub mod error;
pub mod extract;
pub mod faults;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod spool;
pub mod startup;
pub mod state;
pub mod support;
pub mod telemetry;
