//! The inline projector: cqrs-es hands it the events of each command right after commit,
//! so the caller reads its own write. If the process dies in between, or a write here
//! fails, the catch-up projector applies the event later.

use async_trait::async_trait;
use cqrs_es::{Aggregate, EventEnvelope, Query};
use sea_orm::DatabaseConnection;

use crate::apply::apply;
use crm_store::event::{AnyEvent, StoredEvent};

/// A cqrs-es query that applies each committed event to the read tables, as the
/// projector role.
#[derive(Debug, Clone)]
pub struct InlineProjector {
    db: DatabaseConnection,
}

impl InlineProjector {
    /// A projector writing through `db` (connected as `crm_projector`).
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl<A> Query<A> for InlineProjector
where
    A: Aggregate,
    A::Event: Into<AnyEvent>,
{
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<A>]) {
        for envelope in events {
            let event = envelope.payload.clone().into();
            let stored = match StoredEvent::from_envelope(
                aggregate_id,
                envelope.sequence,
                event,
                &envelope.metadata,
            ) {
                Ok(stored) => stored,
                Err(err) => {
                    tracing::error!(%aggregate_id, sequence = envelope.sequence, error = %err, "inline projection: undecodable event");
                    return;
                }
            };
            if let Err(err) = apply(&self.db, &stored).await {
                tracing::warn!(%aggregate_id, sequence = envelope.sequence, error = %err, "inline projection failed; the catch-up projector will apply it");
                return;
            }
        }
    }
}
