//! # crm-store
//!
//! The event-store side of persistence: what is appended, and what is read back from the
//! `events` table itself rather than from the read models.
//!
//! - [`scope`]: [`TenantScope`], the one way to open a tenant-scoped transaction (row-level
//!   security), and the only constructors there are for it; [`request_txn`], the read
//!   transaction a `GET`'s session check opens and its query goes on in.
//! - [`event`]: events of any aggregate as stored ([`AnyEvent`], [`StoredEvent`]), decoded
//!   from cqrs-es envelopes or rows of `events`.
//! - [`personal_data`]: the per-contact data keys (`contact_keys`) that seal personal
//!   fields inside events, and their destruction on erasure (crypto-shredding).
//! - [`claims`]: the contact-email claims written before a contact command is appended
//!   (uniqueness across streams, which no single aggregate can enforce).
//! - Reads of the store: a record's stream ([`history`]), its snapshots ([`snapshots`]),
//!   the workspace's audit trail ([`audit`]) and the hash chain with its signed
//!   checkpoints ([`audit_chain`]).
//! - [`page`]: the page shape every list returns, shared with the read models.
//!
//! Depends on `crm-domain` only; `crm-projections` and `crm-access` build on it.

pub mod audit;
pub mod audit_chain;
pub mod claims;
pub mod event;
pub mod history;
pub mod page;
pub mod personal_data;
pub mod request_txn;
pub mod scope;
pub mod snapshots;

pub use event::{AnyEvent, StoredEvent};
pub use scope::{Credential, TenantScope};
