//! `activities`: notes, calls, meetings, logged emails and tasks.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;
use serde::Serialize;

/// An activity's read row. `details` holds the kind's own fields; `title` is its subject,
/// title or the first line of a note; `occurred_at` orders timelines (a meeting's start,
/// an email's sending time, a task's due time, else the logging time).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
#[sea_orm(table_name = "activities")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub details: Json,
    pub occurred_at: DateTimeUtc,
    pub contact_ids: Vec<Uuid>,
    pub company_ids: Vec<Uuid>,
    pub deal_ids: Vec<Uuid>,
    pub due_at: Option<DateTimeUtc>,
    pub assignee_id: Option<Uuid>,
    pub priority: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub deleted: bool,
    pub version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub created_by: String,
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
