//! # crm-projections
//!
//! The read side: sea-orm entities of the read tables ([`entities`]), the projector that
//! turns events into rows ([`apply`], fed inline by [`inline::InlineProjector`] after each
//! commit and by the durable [`catchup`] projector that tails `events`), full rebuilds
//! ([`rebuild`]), the sealing of contacts' personal data in their events
//! ([`personal_data`], for erasure) and the tenant-scoped queries the API reads through ([`queries`], each
//! taking a [`TenantScope`]).

pub mod apply;
mod apply_activities;
mod apply_deals;
pub mod catchup;
pub mod entities;
pub mod event;
pub mod inline;
pub mod personal_data;
pub mod queries;
pub mod rebuild;
pub mod scope;

pub use event::{AnyEvent, StoredEvent};
pub use scope::TenantScope;
