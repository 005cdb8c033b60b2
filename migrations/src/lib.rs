//! # crm-migrations
//!
//! Every table, index, role, grant, row-level-security policy and trigger of the CRM
//! database, as sea-orm-migration migrations of plain SQL (kept in `sql/`, one file per
//! migration, so a reader sees exactly what the database enforces).
//!
//! Roles (created once per cluster, idempotently):
//! - the *owner*: whoever runs the migrations (the `DATABASE_URL` user); owns every table;
//! - `crm_store`: reads and appends `events` of any tenant (backup and restore);
//! - `crm_app`: what request handlers query as; owns nothing, has no `BYPASSRLS`, sees only
//!   the rows of the tenant set by `set_config('app.tenant_id', …, true)`;
//! - `crm_projector`: writes the read models of every tenant; reads every event.
//! - `crm_command`: runs a command in one transaction (its events, claims, data key,
//!   inline read rows, idempotency mark), under row-level security like `crm_app`.

use sea_orm_migration::prelude::*;

mod m20261121_000001_roles;
mod m20261121_000002_event_store;
mod m20261121_000003_identity;
mod m20261121_000004_read_models;
mod m20261121_000005_idempotency;
mod m20261121_000006_deals;
mod m20261121_000007_activities;
mod m20261121_000008_search_tags;
mod m20261121_000009_contact_companies;
mod m20261121_000010_idempotency_per_user;
mod m20261121_000011_sessions;
mod m20261121_000012_users_status_invitations;
mod m20261121_000013_password_resets;
mod m20261121_000014_two_factor;
mod m20261121_000015_api_keys;
mod m20261121_000016_two_factor_policy;
mod m20261121_000017_rate_limit_janitor;
mod m20261121_000018_hash_chain;
mod m20261121_000019_support_access;
mod m20261121_000020_personal_data_keys;
mod m20261121_000021_shadow_rebuild;
mod m20261121_000022_record_snapshots;
mod m20261121_000023_support_two_factor;
mod m20261204_000024_idempotency_reserved_id;
mod m20261204_000025_command_role;
mod m20261204_000026_request_counts_per_connection;
mod m20261204_000027_import_jobs;
mod m20261204_000028_search_under_row_security;
mod m20261204_000029_rebuild_analyze;
mod m20261204_000030_search_lexemes_per_workspace;
mod m20261204_000031_idempotency_claim_with_command;
mod m20261204_000032_search_prefix_last;
mod m20261205_000033_custom_fields;
mod m20261205_000034_authorize_with_fields;
mod m20261205_000035_duplicates;
mod m20261205_000036_merges;
mod m20261205_000037_search_custom_values;
mod m20261205_000038_changes_feed;
mod m20261206_000039_search_document_cap;
mod m20261206_000040_webhooks;
mod m20261206_000041_tenant_keys;

/// The names of the database roles the migrations create and the server connects as.
pub mod roles {
    /// Backup and restore: `SELECT, INSERT` on `events`, every tenant.
    pub const STORE: &str = "crm_store";
    /// The request handlers' role: row-level security applies.
    pub const APP: &str = "crm_app";
    /// The projector's role: writes every tenant's read models.
    pub const PROJECTOR: &str = "crm_projector";
    /// The command role: one tenant's events, claims, data keys, inline read rows and
    /// idempotency marks, in one transaction per command; row-level security applies.
    pub const COMMAND: &str = "crm_command";
}

/// The SQL of every migration, in order (for [`fingerprint`]).
const SQL: [&str; 82] = [
    include_str!("sql/000001_roles.up.sql"),
    include_str!("sql/000001_roles.down.sql"),
    include_str!("sql/000002_event_store.up.sql"),
    include_str!("sql/000002_event_store.down.sql"),
    include_str!("sql/000003_identity.up.sql"),
    include_str!("sql/000003_identity.down.sql"),
    include_str!("sql/000004_read_models.up.sql"),
    include_str!("sql/000004_read_models.down.sql"),
    include_str!("sql/000005_idempotency.up.sql"),
    include_str!("sql/000005_idempotency.down.sql"),
    include_str!("sql/000006_deals.up.sql"),
    include_str!("sql/000006_deals.down.sql"),
    include_str!("sql/000007_activities.up.sql"),
    include_str!("sql/000007_activities.down.sql"),
    include_str!("sql/000008_search_tags.up.sql"),
    include_str!("sql/000008_search_tags.down.sql"),
    include_str!("sql/000009_contact_companies.up.sql"),
    include_str!("sql/000009_contact_companies.down.sql"),
    include_str!("sql/000010_idempotency_per_user.up.sql"),
    include_str!("sql/000010_idempotency_per_user.down.sql"),
    include_str!("sql/000011_sessions.up.sql"),
    include_str!("sql/000011_sessions.down.sql"),
    include_str!("sql/000012_users_status_invitations.up.sql"),
    include_str!("sql/000012_users_status_invitations.down.sql"),
    include_str!("sql/000013_password_resets.up.sql"),
    include_str!("sql/000013_password_resets.down.sql"),
    include_str!("sql/000014_two_factor.up.sql"),
    include_str!("sql/000014_two_factor.down.sql"),
    include_str!("sql/000015_api_keys.up.sql"),
    include_str!("sql/000015_api_keys.down.sql"),
    include_str!("sql/000016_two_factor_policy.up.sql"),
    include_str!("sql/000016_two_factor_policy.down.sql"),
    include_str!("sql/000017_rate_limit_janitor.up.sql"),
    include_str!("sql/000017_rate_limit_janitor.down.sql"),
    include_str!("sql/000018_hash_chain.up.sql"),
    include_str!("sql/000018_hash_chain.down.sql"),
    include_str!("sql/000019_support_access.up.sql"),
    include_str!("sql/000019_support_access.down.sql"),
    include_str!("sql/000020_personal_data_keys.up.sql"),
    include_str!("sql/000020_personal_data_keys.down.sql"),
    include_str!("sql/000021_shadow_rebuild.up.sql"),
    include_str!("sql/000021_shadow_rebuild.down.sql"),
    include_str!("sql/000022_record_snapshots.up.sql"),
    include_str!("sql/000022_record_snapshots.down.sql"),
    include_str!("sql/000023_support_two_factor.up.sql"),
    include_str!("sql/000023_support_two_factor.down.sql"),
    include_str!("sql/000024_idempotency_reserved_id.up.sql"),
    include_str!("sql/000024_idempotency_reserved_id.down.sql"),
    include_str!("sql/000025_command_role.up.sql"),
    include_str!("sql/000025_command_role.down.sql"),
    include_str!("sql/000026_request_counts_per_connection.up.sql"),
    include_str!("sql/000026_request_counts_per_connection.down.sql"),
    include_str!("sql/000027_import_jobs.up.sql"),
    include_str!("sql/000027_import_jobs.down.sql"),
    include_str!("sql/000028_search_under_row_security.up.sql"),
    include_str!("sql/000028_search_under_row_security.down.sql"),
    include_str!("sql/000029_rebuild_analyze.up.sql"),
    include_str!("sql/000029_rebuild_analyze.down.sql"),
    include_str!("sql/000030_search_lexemes_per_workspace.up.sql"),
    include_str!("sql/000030_search_lexemes_per_workspace.down.sql"),
    include_str!("sql/000031_idempotency_claim_with_command.up.sql"),
    include_str!("sql/000031_idempotency_claim_with_command.down.sql"),
    include_str!("sql/000032_search_prefix_last.up.sql"),
    include_str!("sql/000032_search_prefix_last.down.sql"),
    include_str!("sql/000033_custom_fields.up.sql"),
    include_str!("sql/000033_custom_fields.down.sql"),
    include_str!("sql/000034_authorize_with_fields.up.sql"),
    include_str!("sql/000034_authorize_with_fields.down.sql"),
    include_str!("sql/000035_duplicates.up.sql"),
    include_str!("sql/000035_duplicates.down.sql"),
    include_str!("sql/000036_merges.up.sql"),
    include_str!("sql/000036_merges.down.sql"),
    include_str!("sql/000037_search_custom_values.up.sql"),
    include_str!("sql/000037_search_custom_values.down.sql"),
    include_str!("sql/000038_changes_feed.up.sql"),
    include_str!("sql/000038_changes_feed.down.sql"),
    include_str!("sql/000039_search_document_cap.up.sql"),
    include_str!("sql/000039_search_document_cap.down.sql"),
    include_str!("sql/000040_webhooks.up.sql"),
    include_str!("sql/000040_webhooks.down.sql"),
    include_str!("sql/000041_tenant_keys.up.sql"),
    include_str!("sql/000041_tenant_keys.down.sql"),
];

/// A 64-bit FNV-1a hash of every migration's SQL: changes whenever the schema does. Tests
/// name their migrated template database after it, so an edited migration never reuses a
/// stale template.
pub fn fingerprint() -> u64 {
    SQL.iter()
        .flat_map(|s| s.bytes())
        .fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_roles::Migration),
            Box::new(m20261121_000002_event_store::Migration),
            Box::new(m20261121_000003_identity::Migration),
            Box::new(m20261121_000004_read_models::Migration),
            Box::new(m20261121_000005_idempotency::Migration),
            Box::new(m20261121_000006_deals::Migration),
            Box::new(m20261121_000007_activities::Migration),
            Box::new(m20261121_000008_search_tags::Migration),
            Box::new(m20261121_000009_contact_companies::Migration),
            Box::new(m20261121_000010_idempotency_per_user::Migration),
            Box::new(m20261121_000011_sessions::Migration),
            Box::new(m20261121_000012_users_status_invitations::Migration),
            Box::new(m20261121_000013_password_resets::Migration),
            Box::new(m20261121_000014_two_factor::Migration),
            Box::new(m20261121_000015_api_keys::Migration),
            Box::new(m20261121_000016_two_factor_policy::Migration),
            Box::new(m20261121_000017_rate_limit_janitor::Migration),
            Box::new(m20261121_000018_hash_chain::Migration),
            Box::new(m20261121_000019_support_access::Migration),
            Box::new(m20261121_000020_personal_data_keys::Migration),
            Box::new(m20261121_000021_shadow_rebuild::Migration),
            Box::new(m20261121_000022_record_snapshots::Migration),
            Box::new(m20261121_000023_support_two_factor::Migration),
            Box::new(m20261204_000024_idempotency_reserved_id::Migration),
            Box::new(m20261204_000025_command_role::Migration),
            Box::new(m20261204_000026_request_counts_per_connection::Migration),
            Box::new(m20261204_000027_import_jobs::Migration),
            Box::new(m20261204_000028_search_under_row_security::Migration),
            Box::new(m20261204_000029_rebuild_analyze::Migration),
            Box::new(m20261204_000030_search_lexemes_per_workspace::Migration),
            Box::new(m20261204_000031_idempotency_claim_with_command::Migration),
            Box::new(m20261204_000032_search_prefix_last::Migration),
            Box::new(m20261205_000033_custom_fields::Migration),
            Box::new(m20261205_000034_authorize_with_fields::Migration),
            Box::new(m20261205_000035_duplicates::Migration),
            Box::new(m20261205_000036_merges::Migration),
            Box::new(m20261205_000037_search_custom_values::Migration),
            Box::new(m20261205_000038_changes_feed::Migration),
            Box::new(m20261206_000039_search_document_cap::Migration),
            Box::new(m20261206_000040_webhooks::Migration),
            Box::new(m20261206_000041_tenant_keys::Migration),
        ]
    }
}

/// Declares a migration whose `up` runs one SQL file and whose `down` runs another.
macro_rules! sql_migration {
    ($up:literal, $down:literal) => {
        use sea_orm_migration::prelude::*;

        /// See the SQL file of the same name.
        #[derive(DeriveMigrationName)]
        pub struct Migration;

        #[async_trait::async_trait]
        impl MigrationTrait for Migration {
            async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                manager
                    .get_connection()
                    .execute_unprepared(include_str!($up))
                    .await
                    .map(|_| ())
            }

            async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
                manager
                    .get_connection()
                    .execute_unprepared(include_str!($down))
                    .await
                    .map(|_| ())
            }
        }
    };
}
pub(crate) use sql_migration;
