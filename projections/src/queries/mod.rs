//! Tenant-scoped reads of the read models. Every function takes a
//! [`crm_store::TenantScope`], filters on its tenant and runs inside the scope's
//! transaction, so row-level security backs the filter.

pub mod activities;
pub mod companies;
pub mod contacts;
pub mod deals;
pub mod page;
pub mod pipelines;
pub mod users;

pub use page::{Cursor, Sort, SortField};
