//! Applying activity events to `activities` (see [`crate::apply`] for the version rule).

use crm_domain::activity::{ActivityEvent, ActivityKind, Links, Priority};
use sea_orm::sea_query::{Expr, SimpleExpr};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr};
use uuid::Uuid;

use crate::apply::update_next;
use crate::entities::activity::{self, Column as A};
use crm_store::event::StoredEvent;

/// Longest derived title, in characters.
const TITLE_CHARS: usize = 200;

/// The one-line title of an activity.
fn title(kind: &ActivityKind) -> String {
    let text = match kind {
        ActivityKind::Note { body } => body.lines().next().unwrap_or_default().to_owned(),
        ActivityKind::Call {
            outcome, direction, ..
        } => outcome
            .clone()
            .unwrap_or_else(|| format!("{direction:?} call")),
        ActivityKind::Meeting { title, .. } | ActivityKind::Task { title, .. } => title.clone(),
        ActivityKind::Email { subject, .. } => subject.clone(),
    };
    text.chars().take(TITLE_CHARS).collect()
}

fn priority(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Normal => "normal",
        Priority::High => "high",
    }
}

/// The columns a kind sets: title, details, task fields. `occurred_at` is set by the caller.
fn kind_columns(kind: &ActivityKind) -> Vec<(A, SimpleExpr)> {
    let (due_at, assignee, prio) = match kind {
        ActivityKind::Task {
            due_at,
            assignee_id,
            priority: p,
            ..
        } => (*due_at, assignee_id.map(|u| u.0), Some(priority(*p))),
        _ => (None, None, None),
    };
    vec![
        (A::Title, Expr::value(title(kind))),
        (
            A::Details,
            Expr::value(serde_json::to_value(kind).unwrap_or_default()),
        ),
        (A::DueAt, Expr::value(due_at)),
        (A::AssigneeId, Expr::value(assignee)),
        (A::Priority, Expr::value(prio.map(str::to_owned))),
    ]
}

fn ids(v: &[crm_domain::EntityId]) -> Vec<Uuid> {
    v.iter().map(|e| e.0).collect()
}

fn link_columns(links: &Links) -> Vec<(A, SimpleExpr)> {
    vec![
        (A::ContactIds, Expr::value(ids(&links.contact_ids))),
        (A::CompanyIds, Expr::value(ids(&links.company_ids))),
        (A::DealIds, Expr::value(ids(&links.deal_ids))),
    ]
}

pub(crate) async fn apply_activity<C: ConnectionTrait>(
    conn: &C,
    ev: &StoredEvent,
    e: &ActivityEvent,
) -> Result<u64, DbErr> {
    let by = ev.metadata.actor.id();
    let at = ev.metadata.occurred_at;
    let sets: Vec<(A, SimpleExpr)> = match e {
        ActivityEvent::ActivityLogged {
            kind,
            links,
            custom,
        } => {
            if ev.sequence != 1 {
                return Ok(0);
            }
            let (due_at, assignee_id, prio) = match kind {
                ActivityKind::Task {
                    due_at,
                    assignee_id,
                    priority: p,
                    ..
                } => (
                    *due_at,
                    assignee_id.map(|u| u.0),
                    Some(priority(*p).to_owned()),
                ),
                _ => (None, None, None),
            };
            let row = activity::ActiveModel {
                kind: Set(kind.name().to_owned()),
                title: Set(title(kind)),
                details: Set(serde_json::to_value(kind).unwrap_or_default()),
                occurred_at: Set(kind.occurred_at(at)),
                contact_ids: Set(ids(&links.contact_ids)),
                company_ids: Set(ids(&links.company_ids)),
                deal_ids: Set(ids(&links.deal_ids)),
                due_at: Set(due_at),
                assignee_id: Set(assignee_id),
                priority: Set(prio),
                completed_at: Set(None),
                custom: Set(crate::custom::column(custom)),
                ..activity::ActiveModel::created(ev, ())
            };
            let custom = (crm_domain::fields::RecordKind::Activity, custom);
            return crate::apply::insert_record(conn, ev, row, [A::TenantId, A::Id], custom).await;
        }
        ActivityEvent::ActivityCustomChanged { custom } => {
            let kind = crm_domain::fields::RecordKind::Activity;
            let sets = vec![
                (A::Custom, crate::custom::merge(kind, custom)),
                (A::UpdatedBy, Expr::value(by)),
            ];
            return crate::apply::update_record::<_, activity::Entity>(
                conn,
                ev,
                sets,
                (kind, custom),
            )
            .await;
        }
        ActivityEvent::ActivityEdited { kind } => {
            let mut sets = kind_columns(kind);
            // Kinds without a time of their own keep the time they were logged.
            let own_time = match kind {
                ActivityKind::Meeting { .. }
                | ActivityKind::Email { .. }
                | ActivityKind::Task {
                    due_at: Some(_), ..
                } => Some(kind.occurred_at(at)),
                _ => None,
            };
            let occurred: SimpleExpr = match own_time {
                Some(time) => Expr::value(time),
                None => Expr::col(A::CreatedAt).into(),
            };
            sets.push((A::OccurredAt, occurred));
            sets
        }
        ActivityEvent::ActivityRelinked { links } => link_columns(links),
        ActivityEvent::TaskCompleted { completed_at } => {
            vec![(A::CompletedAt, Expr::value(Some(*completed_at)))]
        }
        ActivityEvent::TaskReopened => vec![(
            A::CompletedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )],
        ActivityEvent::ActivityDeleted => vec![(A::Deleted, Expr::value(true))],
        ActivityEvent::ActivityRestored => vec![(A::Deleted, Expr::value(false))],
    };
    let mut sets = sets;
    sets.push((A::UpdatedBy, Expr::value(by)));
    update_next::<_, activity::Entity>(conn, ev, sets).await
}
