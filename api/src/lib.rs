//! # crm-api
//!
//! The CRM's HTTP API (actix-web), authentication, configuration, command line and
//! wiring. Handlers are thin: parse, authorise, build a command, execute, map the error.
//!
//! - [`config`]: layered settings; [`startup`]: [`startup::Application`];
//! - [`db`]: pools, migrations, the private-cluster fallback ([`private_cluster`]);
//! - [`auth`]: passwords, tokens, the [`auth::AuthContext`] and [`auth::CommandContext`]
//!   extractors; [`extract`]: strict JSON and query extractors;
//! - [`commands`]: the write side; [`routes`]: every route; [`import`]: CSV import;
//! - [`error`]: [`error::ApiError`] and its RFC 9457 mapping.

pub mod audit_chain;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod history;
pub mod idempotency;
pub mod import;
pub mod mailer;
pub mod openapi;
pub mod private_cluster;
pub mod routes;
pub mod sealed_store;
pub mod startup;
pub mod state;
pub mod support;
pub mod telemetry;
