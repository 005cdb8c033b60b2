//! Activities: the view, the body (one for every kind), and the record type. A create
//! or edit parses the kind's fields and checks links and assignee in the caller's
//! workspace.

use chrono::{DateTime, Utc};
use crm_domain::activity::{ActivityCommand, ActivityKind, Direction, Links, Priority};
use crm_domain::{Email, EntityId, EventMetadata, Guarded, UserId};
use crm_projections::entities::activity::{self, Model};
use crm_projections::queries::users;
use crm_store::TenantScope;
use serde::Deserialize;
use uuid::Uuid;

use super::companies::Companies;
use super::contacts::Contacts;
use super::deals::Deals;
use super::{Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;
crm_projections::activity_table!(crate::records::view::record_view);

/// `POST /v1/activities` and `PATCH /v1/activities/{id}` body: `kind` and the fields of
/// that kind, plus links. Fields of another kind are refused.
///
/// | kind | required | optional |
/// |---|---|---|
/// | `note` | `body` | |
/// | `call` | `direction`, `duration_seconds` | `outcome`, `body` |
/// | `meeting` | `title`, `starts_at`, `ends_at` | `attendees` (emails), `body` |
/// | `email` | `subject`, `direction`, `sent_at` | `body` |
/// | `task` | `title` | `due_at`, `assignee_id`, `priority` (`low`, `normal`, `high`), `body` |
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "call", "direction": "outbound", "duration_seconds": 540,
    "outcome": "Interested, send a quote", "body": "Talked about the renewal."}))]
pub struct ActivityBody {
    /// `note`, `call`, `meeting`, `email` or `task` (required to create; fixed
    /// afterwards).
    pub kind: Option<String>,
    /// Text.
    pub body: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: Option<Direction>,
    /// Call length in seconds.
    pub duration_seconds: Option<u32>,
    /// Call outcome.
    pub outcome: Option<String>,
    /// Meeting or task title.
    pub title: Option<String>,
    /// Meeting start (RFC 3339).
    pub starts_at: Option<DateTime<Utc>>,
    /// Meeting end.
    pub ends_at: Option<DateTime<Utc>>,
    /// Meeting attendees' emails.
    pub attendees: Option<Vec<String>>,
    /// Email subject.
    pub subject: Option<String>,
    /// Email time.
    pub sent_at: Option<DateTime<Utc>>,
    /// Task due time (`null` clears it).
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub due_at: Option<Option<DateTime<Utc>>>,
    /// Task assignee, a user of the workspace (`null` clears it).
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub assignee_id: Option<Option<Uuid>>,
    /// Task priority.
    pub priority: Option<Priority>,
    /// Linked contacts (on a change: replaces the links when any list is given).
    pub contact_ids: Option<Vec<Uuid>>,
    /// Linked companies.
    pub company_ids: Option<Vec<Uuid>>,
    /// Linked deals.
    pub deal_ids: Option<Vec<Uuid>>,
    /// Custom values keyed by API key (`GET /v1/schema` lists the fields); on a change a
    /// key given sets its value, `null` clears it, a key left out stays.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom: crm_domain::fields::CustomInput,
}

fn required<T>(field: &'static str, value: Option<T>) -> Result<T, AppError> {
    value.ok_or_else(|| AppError::invalid(field, "is required for this kind"))
}

impl ActivityBody {
    /// The fields of the body that `kind` does not take.
    fn foreign_fields(&self, kind: &str) -> Vec<&'static str> {
        let present = [
            ("body", self.body.is_some(), "note call meeting email task"),
            ("direction", self.direction.is_some(), "call email"),
            ("duration_seconds", self.duration_seconds.is_some(), "call"),
            ("outcome", self.outcome.is_some(), "call"),
            ("title", self.title.is_some(), "meeting task"),
            ("starts_at", self.starts_at.is_some(), "meeting"),
            ("ends_at", self.ends_at.is_some(), "meeting"),
            ("attendees", self.attendees.is_some(), "meeting"),
            ("subject", self.subject.is_some(), "email"),
            ("sent_at", self.sent_at.is_some(), "email"),
            ("due_at", self.due_at.is_some(), "task"),
            ("assignee_id", self.assignee_id.is_some(), "task"),
            ("priority", self.priority.is_some(), "task"),
        ];
        present
            .iter()
            .filter(|(_, set, kinds)| *set && !kinds.split(' ').any(|k| k == kind))
            .map(|(f, _, _)| *f)
            .collect()
    }

    /// Lays this body over `base` (the current fields when editing) to build the kind.
    fn kind(self, kind: &str, base: Option<ActivityKind>) -> Result<ActivityKind, AppError> {
        if let Some(field) = self.foreign_fields(kind).first() {
            return Err(AppError::invalid(
                *field,
                format!("is not a field of a {kind}"),
            ));
        }
        let attendees = match self.attendees {
            Some(list) => Some(
                list.iter()
                    .map(|a| {
                        Email::parse(a).map_err(|e| AppError::invalid("attendees", e.to_string()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(match (kind, base) {
            ("note", Some(ActivityKind::Note { body })) => ActivityKind::Note {
                body: self.body.unwrap_or(body),
            },
            ("note", _) => ActivityKind::Note {
                body: required("body", self.body)?,
            },
            (
                "call",
                Some(ActivityKind::Call {
                    direction,
                    duration_seconds,
                    outcome,
                    body,
                }),
            ) => ActivityKind::Call {
                direction: self.direction.unwrap_or(direction),
                duration_seconds: self.duration_seconds.unwrap_or(duration_seconds),
                outcome: self.outcome.or(outcome),
                body: self.body.or(body),
            },
            ("call", _) => ActivityKind::Call {
                direction: required("direction", self.direction)?,
                duration_seconds: required("duration_seconds", self.duration_seconds)?,
                outcome: self.outcome,
                body: self.body,
            },
            (
                "meeting",
                Some(ActivityKind::Meeting {
                    title,
                    starts_at,
                    ends_at,
                    attendees: old,
                    body,
                }),
            ) => ActivityKind::Meeting {
                title: self.title.unwrap_or(title),
                starts_at: self.starts_at.unwrap_or(starts_at),
                ends_at: self.ends_at.unwrap_or(ends_at),
                attendees: attendees.unwrap_or(old),
                body: self.body.or(body),
            },
            ("meeting", _) => ActivityKind::Meeting {
                title: required("title", self.title)?,
                starts_at: required("starts_at", self.starts_at)?,
                ends_at: required("ends_at", self.ends_at)?,
                attendees: attendees.unwrap_or_default(),
                body: self.body,
            },
            (
                "email",
                Some(ActivityKind::Email {
                    subject,
                    direction,
                    sent_at,
                    body,
                }),
            ) => ActivityKind::Email {
                subject: self.subject.unwrap_or(subject),
                direction: self.direction.unwrap_or(direction),
                sent_at: self.sent_at.unwrap_or(sent_at),
                body: self.body.or(body),
            },
            ("email", _) => ActivityKind::Email {
                subject: required("subject", self.subject)?,
                direction: required("direction", self.direction)?,
                sent_at: required("sent_at", self.sent_at)?,
                body: self.body,
            },
            (
                "task",
                Some(ActivityKind::Task {
                    title,
                    due_at,
                    assignee_id,
                    priority,
                    body,
                }),
            ) => ActivityKind::Task {
                title: self.title.unwrap_or(title),
                due_at: self.due_at.unwrap_or(due_at),
                assignee_id: self.assignee_id.map_or(assignee_id, |a| a.map(UserId)),
                priority: self.priority.unwrap_or(priority),
                body: self.body.or(body),
            },
            ("task", _) => ActivityKind::Task {
                title: required("title", self.title)?,
                due_at: self.due_at.flatten(),
                assignee_id: self.assignee_id.flatten().map(UserId),
                priority: self.priority.unwrap_or_default(),
                body: self.body,
            },
            (other, _) => {
                return Err(AppError::invalid(
                    "kind",
                    format!("unknown kind {other:?}: note, call, meeting, email or task"),
                ))
            }
        })
    }
}

/// Checks that linked records and the assignee exist (live) in the caller's workspace.
async fn check_links(
    s: Services<'_>,
    caller: &Caller,
    links: &Links,
    assignee: Option<UserId>,
) -> Result<(), AppError> {
    let db = s.db;
    for id in &links.contact_ids {
        super::ensure_live::<Contacts>(s, &caller.scope, id.0, "contact_ids").await?;
    }
    for id in &links.company_ids {
        super::ensure_live::<Companies>(s, &caller.scope, id.0, "company_ids").await?;
    }
    for id in &links.deal_ids {
        super::ensure_live::<Deals>(s, &caller.scope, id.0, "deal_ids").await?;
    }
    if let Some(user) = assignee {
        if users::get_user(db, &caller.scope, user.0).await?.is_none() {
            return Err(AppError::invalid(
                "assignee_id",
                "no such user in this workspace",
            ));
        }
    }
    Ok(())
}

fn links_of(
    contact_ids: Option<Vec<Uuid>>,
    company_ids: Option<Vec<Uuid>>,
    deal_ids: Option<Vec<Uuid>>,
) -> Links {
    let ids = |v: Option<Vec<Uuid>>| v.unwrap_or_default().into_iter().map(EntityId).collect();
    Links {
        contact_ids: ids(contact_ids),
        company_ids: ids(company_ids),
        deal_ids: ids(deal_ids),
    }
}

fn assignee(kind: &ActivityKind) -> Option<UserId> {
    match kind {
        ActivityKind::Task { assignee_id, .. } => *assignee_id,
        _ => None,
    }
}

/// Activities in the record machinery: a create or edit parses the kind's fields and
/// checks links and assignee in the caller's workspace; an edit merges onto the current
/// fields and, without `If-Match`, is guarded by the version it merged onto, so a
/// concurrent change is never overwritten silently.
pub struct Activities;

impl Record for Activities {
    const TYPE: RecordType = RecordType::Activity;
    type Row = Model;
    type Table = activity::Entity;
    type View = ActivityView;
    type Detail = ActivityView;
    type Create = ActivityBody;
    type Patch = ActivityBody;
    type Command = ActivityCommand;

    async fn execute(
        s: Services<'_>,
        id: EntityId,
        command: Guarded<ActivityCommand>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Option<Model>, AppError> {
        s.commands
            .record::<crm_domain::activity::Activity, _, activity::Entity>(id, command, meta, new)
            .await
    }

    async fn create_command(
        s: Services<'_>,
        caller: &Caller,
        mut body: ActivityBody,
    ) -> Result<ActivityCommand, AppError> {
        let kind_name = required("kind", body.kind.take())?;
        let links = links_of(
            body.contact_ids.take(),
            body.company_ids.take(),
            body.deal_ids.take(),
        );
        let custom = std::mem::take(&mut body.custom);
        let kind = body.kind(&kind_name, None)?;
        check_links(s, caller, &links, assignee(&kind)).await?;
        Ok(ActivityCommand::Log {
            kind,
            links,
            custom,
        })
    }

    async fn update_command(
        s: Services<'_>,
        caller: &Caller,
        id: Uuid,
        if_version: Option<u64>,
        mut body: ActivityBody,
    ) -> Result<Guarded<ActivityCommand>, AppError> {
        let current = super::load::<Self>(s, caller, id).await?;
        if body.kind.take().is_some_and(|k| k != current.kind) {
            return Err(AppError::invalid("kind", "an activity keeps its kind"));
        }
        let relink =
            body.contact_ids.is_some() || body.company_ids.is_some() || body.deal_ids.is_some();
        let ids = |given: Option<Vec<Uuid>>, now: &[Uuid]| -> Vec<EntityId> {
            given
                .unwrap_or_else(|| now.to_vec())
                .into_iter()
                .map(EntityId)
                .collect()
        };
        let links = Links {
            contact_ids: ids(body.contact_ids.take(), &current.contact_ids),
            company_ids: ids(body.company_ids.take(), &current.company_ids),
            deal_ids: ids(body.deal_ids.take(), &current.deal_ids),
        };
        let base: ActivityKind =
            serde_json::from_value(current.details.clone()).map_err(AppError::internal)?;
        let custom = std::mem::take(&mut body.custom);
        let kind = body.kind(&current.kind, Some(base))?;
        let unchanged = Links::default();
        check_links(
            s,
            caller,
            if relink { &links } else { &unchanged },
            assignee(&kind),
        )
        .await?;
        Ok(Guarded {
            if_version: if_version.or(u64::try_from(current.version).ok()),
            command: ActivityCommand::Edit {
                kind,
                links: relink.then_some(links),
                custom,
            },
        })
    }

    async fn detail(
        _: Services<'_>,
        _: &TenantScope,
        row: Model,
    ) -> Result<ActivityView, AppError> {
        Ok(row.into())
    }

    fn create_custom(
        body: &mut Self::Create,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Activity, &mut body.custom))
    }

    fn patch_custom(
        body: &mut Self::Patch,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Activity, &mut body.custom))
    }

    fn delete_command() -> ActivityCommand {
        ActivityCommand::Delete
    }

    fn restore_command() -> ActivityCommand {
        ActivityCommand::Restore
    }
}

/// A page of the activities linked to `subject` `id` of the scope's workspace, newest
/// first (`crm_projections::queries::activities::timeline`), after `cursor`, `limit` rows
/// (the store's default when `None`).
/// Read through `db` (the primary or a hot standby).
///
/// # Errors
/// [`AppError::NotFound`] when the workspace has no such contact, company or deal (another
/// workspace's id included); a validation error for a malformed cursor; the store's.
pub async fn timeline(
    db: &sea_orm::DatabaseConnection,
    scope: &TenantScope,
    subject: crm_projections::queries::activities::Subject,
    id: Uuid,
    cursor: Option<&str>,
    limit: Option<u64>,
) -> Result<crm_store::page::Page<Model>, AppError> {
    use crm_projections::entities::{company, contact, deal};
    use crm_projections::queries::activities::Subject;
    use crm_projections::queries::row;
    let exists = match subject {
        Subject::Contact => row::<contact::Entity>(db, scope, id).await?.is_some(),
        Subject::Company => row::<company::Entity>(db, scope, id).await?.is_some(),
        Subject::Deal => row::<deal::Entity>(db, scope, id).await?.is_some(),
    };
    if !exists {
        return Err(AppError::NotFound);
    }
    Ok(
        crm_projections::queries::activities::timeline(db, scope, subject, id, cursor, limit)
            .await?,
    )
}
