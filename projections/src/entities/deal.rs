//! `deals`: one row per deal, deleted ones included.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A deal's read row. Money is `amount_minor` with `currency` (both or neither);
/// `line_items` is the JSON of `crm_domain::deal::LineItem`s.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "deals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub status: String,
    pub owner_id: Option<Uuid>,
    pub company_id: Option<Uuid>,
    pub contact_ids: Vec<Uuid>,
    pub expected_close_date: Option<Date>,
    pub close_reason: Option<String>,
    pub closed_at: Option<DateTimeUtc>,
    pub line_items: Json,
    pub tags: Vec<String>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub created_by: String,
    pub updated_by: String,
    #[serde(skip)]
    pub sort_name: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
