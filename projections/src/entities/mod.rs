//! sea-orm entities of the read tables (see `migrations/src/sql/000004_read_models.up.sql`).

pub mod activity;
pub mod company;
pub mod contact;
pub mod deal;
pub mod pipeline;
pub mod pipeline_stage;
pub mod user;
pub mod workspace;
