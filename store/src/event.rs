//! Events as the projector sees them: any aggregate's event with its stream, version and
//! metadata, whether it came inline from cqrs-es or from a row of `events`.

use std::collections::HashMap;

use cqrs_es::Aggregate;
use crm_domain::activity::{Activity, ActivityEvent};
use crm_domain::company::{Company, CompanyEvent};
use crm_domain::contact::{Contact, ContactEvent};
use crm_domain::deal::{Deal, DealEvent};
use crm_domain::fields::{FieldSchema, FieldSchemaEvent};
use crm_domain::pipeline::{Pipeline, PipelineEvent};
use crm_domain::user::{User, UserEvent};
use crm_domain::workspace::{Workspace, WorkspaceEvent};
use crm_domain::{EventMetadata, StreamId};

/// An event of any aggregate this projector knows.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyEvent {
    /// A workspace event.
    Workspace(WorkspaceEvent),
    /// A user event.
    User(UserEvent),
    /// A company event.
    Company(CompanyEvent),
    /// A contact event.
    Contact(ContactEvent),
    /// A pipeline event.
    Pipeline(PipelineEvent),
    /// A deal event.
    Deal(DealEvent),
    /// An activity event.
    Activity(ActivityEvent),
    /// A workspace's custom field schema event.
    FieldSchema(FieldSchemaEvent),
}

impl From<FieldSchemaEvent> for AnyEvent {
    fn from(e: FieldSchemaEvent) -> Self {
        Self::FieldSchema(e)
    }
}
impl From<ActivityEvent> for AnyEvent {
    fn from(e: ActivityEvent) -> Self {
        Self::Activity(e)
    }
}
impl From<PipelineEvent> for AnyEvent {
    fn from(e: PipelineEvent) -> Self {
        Self::Pipeline(e)
    }
}
impl From<DealEvent> for AnyEvent {
    fn from(e: DealEvent) -> Self {
        Self::Deal(e)
    }
}

impl From<WorkspaceEvent> for AnyEvent {
    fn from(e: WorkspaceEvent) -> Self {
        Self::Workspace(e)
    }
}
impl From<UserEvent> for AnyEvent {
    fn from(e: UserEvent) -> Self {
        Self::User(e)
    }
}
impl From<CompanyEvent> for AnyEvent {
    fn from(e: CompanyEvent) -> Self {
        Self::Company(e)
    }
}
impl From<ContactEvent> for AnyEvent {
    fn from(e: ContactEvent) -> Self {
        Self::Contact(e)
    }
}

/// Why a stored row could not be read as an event.
#[derive(Debug, thiserror::Error)]
pub enum EventDecodeError {
    /// The aggregate id is not `<tenant>:<entity>`.
    #[error(transparent)]
    Stream(#[from] crm_domain::StreamIdError),
    /// The metadata lacks a key.
    #[error(transparent)]
    Metadata(#[from] crm_domain::MetadataError),
    /// The payload does not match the aggregate's event type.
    #[error("payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// An aggregate type this projector does not know.
    #[error("unknown aggregate type {0:?}")]
    UnknownAggregate(String),
}

/// One event with everything the projector needs.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// The stream (tenant and entity).
    pub stream: StreamId,
    /// The stream's version after this event (1 for the first).
    pub sequence: i64,
    /// Who, when, from where.
    pub metadata: EventMetadata,
    /// The event itself.
    pub event: AnyEvent,
}

impl StoredEvent {
    /// Builds from cqrs-es's envelope parts.
    ///
    /// # Errors
    /// [`EventDecodeError`] for a malformed stream id or metadata.
    pub fn from_envelope(
        aggregate_id: &str,
        sequence: usize,
        event: AnyEvent,
        metadata: &HashMap<String, String>,
    ) -> Result<Self, EventDecodeError> {
        Ok(Self {
            stream: aggregate_id.parse()?,
            sequence: i64::try_from(sequence).unwrap_or(i64::MAX),
            metadata: EventMetadata::from_map(metadata)?,
            event,
        })
    }

    /// Builds from the columns of an `events` row.
    ///
    /// # Errors
    /// [`EventDecodeError`] when any part does not decode.
    pub fn from_row(
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
        payload: serde_json::Value,
        metadata: serde_json::Value,
    ) -> Result<Self, EventDecodeError> {
        let event = match aggregate_type {
            Workspace::TYPE => AnyEvent::Workspace(serde_json::from_value(payload)?),
            User::TYPE => AnyEvent::User(serde_json::from_value(payload)?),
            Company::TYPE => AnyEvent::Company(serde_json::from_value(payload)?),
            Contact::TYPE => AnyEvent::Contact(serde_json::from_value(payload)?),
            Pipeline::TYPE => AnyEvent::Pipeline(serde_json::from_value(payload)?),
            Deal::TYPE => AnyEvent::Deal(serde_json::from_value(payload)?),
            Activity::TYPE => AnyEvent::Activity(serde_json::from_value(payload)?),
            FieldSchema::TYPE => AnyEvent::FieldSchema(serde_json::from_value(payload)?),
            other => return Err(EventDecodeError::UnknownAggregate(other.to_owned())),
        };
        let metadata: HashMap<String, String> = serde_json::from_value(metadata)?;
        Ok(Self {
            stream: aggregate_id.parse()?,
            sequence,
            metadata: EventMetadata::from_map(&metadata)?,
            event,
        })
    }
}
