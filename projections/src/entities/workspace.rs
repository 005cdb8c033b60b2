//! `workspaces`: one row per tenant.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A workspace's read row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "workspaces")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    pub slug: String,
    pub name: String,
    /// Owners and admins must have two-factor on before they can act.
    pub require_two_factor: bool,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
