//! Tenant-scoped reads. Every function takes a [`crate::TenantScope`], filters on its tenant
//! and runs inside the scope's transaction, so row-level security backs the filter.

pub mod activities;
pub mod api_keys;
pub mod audit;
pub mod audit_chain;
pub mod claims;
pub mod companies;
pub mod contacts;
pub mod deals;
pub mod history;
pub mod idempotency;
pub mod page;
pub mod pipelines;
pub mod sessions;
pub mod snapshots;
pub mod support;
pub mod two_factor;
pub mod users;

pub use page::{Cursor, CursorError, Page, Sort, SortField};
