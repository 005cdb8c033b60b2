//! Reads of `activities`: one activity, a record's timeline, task lists.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::extension::postgres::PgBinOper;
use sea_orm::sea_query::{Alias, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::page::{keyset_page, Sort, SortField};
use crate::entities::activity::{self, Column as A};
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;

/// The kind of record a timeline is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A contact.
    Contact,
    /// A company.
    Company,
    /// A deal.
    Deal,
}

/// The live activities linked to a record, newest first (by `occurred_at`, then id),
/// keyset-paginated.
///
/// # Errors
/// [`ListError`].
pub async fn timeline(
    db: &DatabaseConnection,
    scope: &TenantScope,
    subject: Subject,
    id: Uuid,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<Page<activity::Model>, ListError> {
    let txn = scope.read(db).await?;
    let column = match subject {
        Subject::Contact => A::ContactIds,
        Subject::Company => A::CompanyIds,
        Subject::Deal => A::DealIds,
    };
    let select = activity::Entity::find()
        .filter(A::TenantId.eq(scope.tenant().0))
        .filter(A::Deleted.eq(false))
        .filter(Expr::col(column).binary(
            PgBinOper::Contains,
            Expr::val(vec![id]).cast_as(Alias::new("uuid[]")),
        ));
    let sort = Sort {
        field: SortField::CreatedAt,
        descending: true,
    };
    let page = keyset_page(
        &txn,
        select,
        sort,
        cursor,
        limit,
        (A::Title, A::OccurredAt, A::Id),
        |r| (r.title.clone(), r.occurred_at, r.id),
    )
    .await?;
    txn.commit().await?;
    Ok(page)
}

/// What a task list asks for.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Assigned to this user.
    pub assignee_id: Option<Uuid>,
    /// Due before this time.
    pub due_before: Option<DateTime<Utc>>,
    /// Due at or after this time.
    pub due_after: Option<DateTime<Utc>>,
    /// `Some(true)`: completed only; `Some(false)`: open only.
    pub completed: Option<bool>,
    /// Page size.
    pub limit: Option<u64>,
    /// Cursor.
    pub cursor: Option<String>,
}

/// Live tasks, soonest first (by due time, undated ones by logging time), keyset-paginated.
///
/// # Errors
/// [`ListError`].
pub async fn tasks(
    db: &DatabaseConnection,
    scope: &TenantScope,
    f: &TaskFilter,
) -> Result<Page<activity::Model>, ListError> {
    let txn = scope.read(db).await?;
    let mut select = activity::Entity::find()
        .filter(A::TenantId.eq(scope.tenant().0))
        .filter(A::Kind.eq("task"))
        .filter(A::Deleted.eq(false));
    if let Some(v) = f.assignee_id {
        select = select.filter(A::AssigneeId.eq(v));
    }
    if let Some(v) = f.due_before {
        select = select.filter(A::DueAt.lt(v));
    }
    if let Some(v) = f.due_after {
        select = select.filter(A::DueAt.gte(v));
    }
    match f.completed {
        Some(true) => select = select.filter(A::CompletedAt.is_not_null()),
        Some(false) => select = select.filter(A::CompletedAt.is_null()),
        None => {}
    }
    let sort = Sort {
        field: SortField::CreatedAt,
        descending: false,
    };
    let page = keyset_page(
        &txn,
        select,
        sort,
        f.cursor.as_deref(),
        f.limit,
        (A::Title, A::OccurredAt, A::Id),
        |r| (r.title.clone(), r.occurred_at, r.id),
    )
    .await?;
    txn.commit().await?;
    Ok(page)
}
