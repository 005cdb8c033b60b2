//! # crm-domain
//!
//! The CRM's write model: aggregates (`Workspace`, `User`, `Company`, `Contact`), their
//! commands and events (cqrs-es 0.5), and the value objects they are made of
//! ([`TenantId`], [`Email`], [`Money`], [`Currency`], [`Role`]).
//!
//! Nothing here talks to a network or a database: every rule is a pure function of the
//! aggregate's past events and the command, tested given / when / then with
//! `cqrs_es::test::TestFramework`.
//!
//! Stream identity: every aggregate id is `<tenant uuid>:<entity uuid>` ([`StreamId`]), so a
//! command can only ever address a stream of the tenant that issued it
//! (ARCHITECTURE.md, invariant 1).

pub mod activity;
pub mod command;
pub mod company;
pub mod contact;
pub mod deal;
pub mod email;
pub mod error;
pub mod fields;
pub mod ids;
pub mod merge;
pub mod metadata;
pub mod money;
pub mod patch;
pub mod pipeline;
pub mod role;
pub mod tags;
pub mod text;
pub mod time;
pub mod user;
pub mod web_domain;
pub mod workspace;

pub use command::Guarded;
pub use email::{Email, EmailError};
pub use error::DomainError;
pub use ids::{EntityId, StreamId, StreamIdError, TenantId, UserId};
pub use metadata::{Actor, EventMetadata, MetadataError};
pub use money::{Currency, Money, MoneyError};
pub use role::{Action, Role};
pub use web_domain::WebDomain;
