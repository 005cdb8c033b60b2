//! Black-box tests: each starts a server on port 0 over its own database.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod activities;
mod api_keys;
mod append_only;
mod associations;
mod audit_chain;
mod audit_filters;
mod auth;
mod backup;
mod batch;
mod catchup;
mod cli;
mod concurrency;
mod contract;
mod data_requests;
mod deals;
mod erasure;
mod exports;
mod hardening;
mod helpers;
mod history;
mod idempotency;
mod import;
mod import_undo;
mod isolation;
mod matrix;
mod passwords;
mod private_cluster;
mod rebuild;
mod search;
mod sessions;
mod support;
mod two_factor;
mod users;
mod validation;
mod walkthrough;
