//! # crm-projections
//!
//! The read side: sea-orm entities of the read tables ([`entities`]), the projector that
//! turns events into rows ([`apply`], called inline inside each command's transaction by
//! `crm_app::unit_of_work` and by the durable [`catchup`] projector that tails `events`), full rebuilds
//! ([`rebuild`]) and the tenant-scoped queries of the read models ([`queries`], each
//! taking a [`crm_store::TenantScope`]).
//!
//! The event store's own side (the scope, stored events, sealed personal data, history,
//! audit) is `crm-store`; sessions, keys and the other non-event state are `crm-access`.

pub mod apply;
mod apply_activities;
mod apply_deals;
pub mod catchup;
pub mod custom;
pub mod entities;
pub mod queries;
pub mod rebuild;
