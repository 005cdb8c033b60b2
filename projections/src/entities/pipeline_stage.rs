//! `pipeline_stages`: the stages of every pipeline, active ones ordered by `position`.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A stage's read row. `probability` is a percentage (numeric(5,2)); `kind` is `open`,
/// `won` or `lost`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "pipeline_stages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub pipeline_id: Uuid,
    pub name: String,
    pub probability: Decimal,
    pub kind: String,
    pub position: i32,
    pub retired: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
