//! The `Activity` aggregate: what happened with a contact, company or deal — a note, a
//! call, a meeting, a logged email — and tasks to do.
//!
//! Rules: a note, call, meeting or email links to at least one record (a task may stand
//! alone); an edit keeps the activity's kind; a meeting ends after it starts; only tasks
//! are completed and reopened, and a completed task keeps its completion time until it is
//! reopened. Links are checked to exist in the tenant by the caller.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::command::check_version;
use crate::error::ensure_live;
use crate::fields::{CustomChanges, CustomInput, CustomValues};
use crate::merge::{LinkTo, Swap};
use crate::{text, DomainError, Email, EntityId, Guarded, UserId};

#[cfg(test)]
mod tests;

/// Longest title or subject, in characters.
pub const TITLE_MAX: usize = 500;
/// Longest note or description, in characters.
pub const BODY_MAX: usize = 65_535;
/// Longest call, in seconds (a day).
pub const MAX_CALL_SECONDS: u32 = 86_400;
/// Most links of each kind, and most meeting attendees.
pub const MAX_LINKS: usize = 100;

/// Inbound or outbound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From them to us.
    Inbound,
    /// From us to them.
    Outbound,
}

/// A task's priority.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Low.
    Low,
    /// Normal.
    #[default]
    Normal,
    /// High.
    High,
}

/// What kind of activity, with its own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ActivityKind {
    /// A note.
    Note {
        /// Text, 1 to 65,535 characters.
        body: String,
    },
    /// A phone call.
    Call {
        /// Who called whom.
        direction: Direction,
        /// Length in seconds, 0 to 86,400.
        duration_seconds: u32,
        /// How it went (e.g. "connected", "left voicemail").
        outcome: Option<String>,
        /// Notes.
        body: Option<String>,
    },
    /// A meeting.
    Meeting {
        /// Title.
        title: String,
        /// Start.
        starts_at: DateTime<Utc>,
        /// End, after the start.
        ends_at: DateTime<Utc>,
        /// Attendees' emails (normalised), at most 100.
        attendees: Vec<Email>,
        /// Notes.
        body: Option<String>,
    },
    /// A logged email.
    Email {
        /// Subject.
        subject: String,
        /// Sent or received.
        direction: Direction,
        /// When it was sent.
        sent_at: DateTime<Utc>,
        /// Text.
        body: Option<String>,
    },
    /// Something to do.
    Task {
        /// Title.
        title: String,
        /// Due time.
        due_at: Option<DateTime<Utc>>,
        /// Who should do it.
        assignee_id: Option<UserId>,
        /// Priority.
        priority: Priority,
        /// Details.
        body: Option<String>,
    },
}

impl ActivityKind {
    /// `note`, `call`, `meeting`, `email` or `task`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Note { .. } => "note",
            Self::Call { .. } => "call",
            Self::Meeting { .. } => "meeting",
            Self::Email { .. } => "email",
            Self::Task { .. } => "task",
        }
    }

    /// When it happened, for the timeline: a meeting's start, an email's sending time, a
    /// task's due time; else `logged_at`.
    pub fn occurred_at(&self, logged_at: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::Meeting { starts_at, .. } => *starts_at,
            Self::Email { sent_at, .. } => *sent_at,
            Self::Task {
                due_at: Some(due), ..
            } => *due,
            _ => logged_at,
        }
    }

    fn validate(self) -> Result<Self, DomainError> {
        let body = |b: Option<String>| -> Result<Option<String>, DomainError> {
            Ok(b.map(|b| text::optional("body", &b, BODY_MAX))
                .transpose()?
                .flatten())
        };
        Ok(match self {
            Self::Note { body: b } => Self::Note {
                body: long_text("body", &b)?,
            },
            Self::Call {
                direction,
                duration_seconds,
                outcome,
                body: b,
            } => {
                if duration_seconds > MAX_CALL_SECONDS {
                    return Err(DomainError::invalid(
                        "duration_seconds",
                        format!("must be 0 to {MAX_CALL_SECONDS}"),
                    ));
                }
                let outcome = outcome
                    .map(|o| text::optional("outcome", &o, TITLE_MAX))
                    .transpose()?
                    .flatten();
                Self::Call {
                    direction,
                    duration_seconds,
                    outcome,
                    body: body(b)?,
                }
            }
            Self::Meeting {
                title,
                starts_at,
                ends_at,
                attendees,
                body: b,
            } => {
                if ends_at <= starts_at {
                    return Err(DomainError::invalid("ends_at", "must be after starts_at"));
                }
                if attendees.len() > MAX_LINKS {
                    return Err(DomainError::invalid(
                        "attendees",
                        format!("at most {MAX_LINKS}"),
                    ));
                }
                Self::Meeting {
                    title: text::required("title", &title, TITLE_MAX)?,
                    starts_at,
                    ends_at,
                    attendees,
                    body: body(b)?,
                }
            }
            Self::Email {
                subject,
                direction,
                sent_at,
                body: b,
            } => Self::Email {
                subject: text::required("subject", &subject, TITLE_MAX)?,
                direction,
                sent_at,
                body: body(b)?,
            },
            Self::Task {
                title,
                due_at,
                assignee_id,
                priority,
                body: b,
            } => Self::Task {
                title: text::required("title", &title, TITLE_MAX)?,
                due_at,
                assignee_id,
                priority,
                body: body(b)?,
            },
        })
    }
}

/// Multi-line text: required, at most [`BODY_MAX`] characters (line breaks allowed).
fn long_text(field: &'static str, value: &str) -> Result<String, DomainError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(DomainError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().count() > BODY_MAX {
        return Err(DomainError::invalid(
            field,
            format!("{field} is longer than {BODY_MAX} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// The records an activity is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Links {
    /// Contacts.
    pub contact_ids: Vec<EntityId>,
    /// Companies.
    pub company_ids: Vec<EntityId>,
    /// Deals.
    pub deal_ids: Vec<EntityId>,
}

impl Links {
    /// Whether it links to nothing.
    pub fn is_empty(&self) -> bool {
        self.contact_ids.is_empty() && self.company_ids.is_empty() && self.deal_ids.is_empty()
    }

    fn validate(self) -> Result<Self, DomainError> {
        let dedupe =
            |field: &'static str, ids: Vec<EntityId>| -> Result<Vec<EntityId>, DomainError> {
                let mut out: Vec<EntityId> = Vec::with_capacity(ids.len());
                for id in ids {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
                if out.len() > MAX_LINKS {
                    return Err(DomainError::invalid(field, format!("at most {MAX_LINKS}")));
                }
                Ok(out)
            };
        Ok(Self {
            contact_ids: dedupe("contact_ids", self.contact_ids)?,
            company_ids: dedupe("company_ids", self.company_ids)?,
            deal_ids: dedupe("deal_ids", self.deal_ids)?,
        })
    }
}

/// Commands of an activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivityCommand {
    /// Record the activity, linked to these records.
    Log {
        /// What.
        kind: ActivityKind,
        /// About what.
        links: Links,
        /// Custom values, checked against the workspace's schema.
        custom: CustomInput,
    },
    /// Replace its fields (the kind stays) and, when given, its links: one command, so both
    /// change or neither does.
    Edit {
        /// The new fields.
        kind: ActivityKind,
        /// The new links, if they change.
        links: Option<Links>,
        /// Custom values to change, checked against the workspace's schema.
        custom: CustomInput,
    },
    /// Change its links to one contact or company (a merge moves them to the survivor,
    /// an unmerge back): no event when nothing changes.
    SwapLink {
        /// Contacts or companies.
        to: LinkTo,
        /// The change.
        swap: Swap,
    },
    /// Mark a task done at `at`.
    Complete {
        /// When (the command's time).
        at: DateTime<Utc>,
    },
    /// Mark a done task open again.
    Reopen,
    /// Soft-delete.
    Delete,
    /// Undo a soft delete.
    Restore,
}

/// Events of an activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityEvent {
    /// Recorded.
    ActivityLogged {
        /// What.
        #[serde(flatten)]
        kind: ActivityKind,
        /// About what.
        links: Links,
        /// Custom values keyed by field id.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        custom: CustomValues,
    },
    /// Custom values changed (keyed by field id; `null`: cleared).
    ActivityCustomChanged {
        /// The changes.
        custom: CustomChanges,
    },
    /// Fields replaced.
    ActivityEdited {
        /// The new fields.
        #[serde(flatten)]
        kind: ActivityKind,
    },
    /// Links replaced.
    ActivityRelinked {
        /// The new links.
        links: Links,
    },
    /// A task was done.
    TaskCompleted {
        /// When.
        completed_at: DateTime<Utc>,
    },
    /// A done task was reopened.
    TaskReopened,
    /// Soft-deleted.
    ActivityDeleted,
    /// Restored.
    ActivityRestored,
}

impl DomainEvent for ActivityEvent {
    fn event_type(&self) -> String {
        match self {
            Self::ActivityLogged { .. } => "ActivityLogged",
            Self::ActivityEdited { .. } => "ActivityEdited",
            Self::ActivityCustomChanged { .. } => "ActivityCustomChanged",
            Self::ActivityRelinked { .. } => "ActivityRelinked",
            Self::TaskCompleted { .. } => "TaskCompleted",
            Self::TaskReopened => "TaskReopened",
            Self::ActivityDeleted => "ActivityDeleted",
            Self::ActivityRestored => "ActivityRestored",
        }
        .to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

/// An activity's state.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Activity {
    version: u64,
    kind: Option<ActivityKind>,
    links: Links,
    deleted: bool,
    completed: bool,
    #[serde(default)]
    custom: CustomValues,
}

impl Activity {
    fn is_task(&self) -> bool {
        matches!(self.kind, Some(ActivityKind::Task { .. }))
    }
}

impl Aggregate for Activity {
    const TYPE: &'static str = "Activity";
    type Command = Guarded<ActivityCommand>;
    type Event = ActivityEvent;
    type Error = DomainError;
    type Services = ();

    async fn handle(
        &mut self,
        guarded: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // An empty stream is a 404 whatever the guard says, as for any missing record.
        check_version(
            self.version,
            guarded.if_version.filter(|_| self.version > 0),
        )?;
        let exists = self.kind.is_some();
        let event = match guarded.command {
            ActivityCommand::Log {
                kind,
                links,
                custom,
            } => {
                if exists {
                    return Err(DomainError::AlreadyExists);
                }
                let kind = kind.validate()?;
                let links = links.validate()?;
                if links.is_empty() && !matches!(kind, ActivityKind::Task { .. }) {
                    return Err(DomainError::invalid(
                        "links",
                        "a note, call, meeting or email must link to a contact, company or deal",
                    ));
                }
                ActivityEvent::ActivityLogged {
                    kind,
                    links,
                    custom: crate::fields::values::created(&custom)?,
                }
            }
            ActivityCommand::Edit {
                kind,
                links,
                custom,
            } => {
                ensure_live(exists, self.deleted)?;
                let kind = kind.validate()?;
                if self.kind.as_ref().map(ActivityKind::name) != Some(kind.name()) {
                    return Err(DomainError::invalid("kind", "an activity keeps its kind"));
                }
                let links = links
                    .map(Links::validate)
                    .transpose()?
                    .filter(|l| *l != self.links);
                if links
                    .as_ref()
                    .is_some_and(|l| l.is_empty() && !self.is_task())
                {
                    return Err(DomainError::invalid(
                        "links",
                        "a note, call, meeting or email must link to a contact, company or deal",
                    ));
                }
                if self.kind.as_ref() != Some(&kind) {
                    sink.write(ActivityEvent::ActivityEdited { kind }, self)
                        .await;
                }
                if let Some(links) = links {
                    sink.write(ActivityEvent::ActivityRelinked { links }, self)
                        .await;
                }
                let new = crate::fields::values::created(&crate::fields::values::patched(
                    &self.custom,
                    &custom,
                )?)?;
                let changes = crate::fields::diff(&self.custom, &new);
                if !changes.is_empty() {
                    sink.write(
                        ActivityEvent::ActivityCustomChanged { custom: changes },
                        self,
                    )
                    .await;
                }
                return Ok(());
            }
            ActivityCommand::SwapLink { to, swap } => {
                // A merge re-points deleted activities too (see the deal's).
                if !exists {
                    return Err(DomainError::NotFound);
                }
                let mut links = self.links.clone();
                match to {
                    LinkTo::Contact => links.contact_ids = swap.apply(&links.contact_ids),
                    LinkTo::Company => links.company_ids = swap.apply(&links.company_ids),
                }
                if links == self.links {
                    return Ok(());
                }
                ActivityEvent::ActivityRelinked {
                    links: links.validate()?,
                }
            }
            ActivityCommand::Complete { at } => {
                ensure_live(exists, self.deleted)?;
                if !self.is_task() {
                    return Err(DomainError::invalid("kind", "only tasks are completed"));
                }
                if self.completed {
                    return Err(DomainError::Conflict("the task is done already".into()));
                }
                ActivityEvent::TaskCompleted { completed_at: at }
            }
            ActivityCommand::Reopen => {
                ensure_live(exists, self.deleted)?;
                if !self.is_task() {
                    return Err(DomainError::invalid("kind", "only tasks are reopened"));
                }
                if !self.completed {
                    return Err(DomainError::Conflict("the task is open already".into()));
                }
                ActivityEvent::TaskReopened
            }
            ActivityCommand::Delete => {
                ensure_live(exists, self.deleted)?;
                ActivityEvent::ActivityDeleted
            }
            ActivityCommand::Restore => {
                if !exists {
                    return Err(DomainError::NotFound);
                }
                if !self.deleted {
                    return Err(DomainError::NotDeleted);
                }
                ActivityEvent::ActivityRestored
            }
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        self.version += 1;
        match event {
            ActivityEvent::ActivityLogged {
                kind,
                links,
                custom,
            } => {
                self.kind = Some(kind);
                self.links = links;
                self.custom = custom;
            }
            ActivityEvent::ActivityCustomChanged { custom } => {
                crate::fields::values::apply(&mut self.custom, custom);
            }
            ActivityEvent::ActivityEdited { kind } => self.kind = Some(kind),
            ActivityEvent::ActivityRelinked { links } => self.links = links,
            ActivityEvent::TaskCompleted { .. } => self.completed = true,
            ActivityEvent::TaskReopened => self.completed = false,
            ActivityEvent::ActivityDeleted => self.deleted = true,
            ActivityEvent::ActivityRestored => self.deleted = false,
        }
    }
}
