//! The event repository of the `Contact` aggregate: postgres-es's, with the personal fields
//! of every event sealed on the way in and opened on the way out
//! ([`crm_store::personal_data`]), so a contact's names, email, phone and job title
//! are never stored in clear, and an erased contact's aggregate loads without them.

use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use cqrs_es::Aggregate;
use crm_store::personal_data::{Keyring, PersonalDataError, Show};
use postgres_es::PostgresEventRepository;
use sea_orm::DatabaseConnection;
use serde_json::Value;

/// postgres-es's repository with sealing: `persist` seals, `get_events` and
/// `get_last_events` open (erased fields, and any that do not decrypt, come back absent,
/// so an erasure can always be recorded). Snapshots are passed through
/// untouched (this project takes none, see [`crate::commands`]).
pub struct SealedRepository {
    inner: PostgresEventRepository,
    /// The same `crm_store` pool as `inner`, for the key table.
    keys_db: DatabaseConnection,
    keyring: Keyring,
}

impl SealedRepository {
    /// Wraps `inner`; `keys_db` must reach the same database as the store role.
    pub fn new(
        inner: PostgresEventRepository,
        keys_db: DatabaseConnection,
        keyring: Keyring,
    ) -> Self {
        Self {
            inner,
            keys_db,
            keyring,
        }
    }

    async fn open(
        &self,
        mut events: Vec<SerializedEvent>,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let mut refs: Vec<(&str, &str, &mut Value)> = events
            .iter_mut()
            .map(|e| {
                (
                    e.aggregate_type.as_str(),
                    e.aggregate_id.as_str(),
                    &mut e.payload,
                )
            })
            .collect();
        self.keyring
            .open_all(&self.keys_db, &mut refs, Show::Domain)
            .await
            .map_err(failure)?;
        Ok(events)
    }
}

fn failure(err: PersonalDataError) -> PersistenceError {
    match err {
        PersonalDataError::Db(e) => PersistenceError::ConnectionError(Box::new(e)),
        other => PersistenceError::UnknownError(Box::new(other)),
    }
}

impl PersistedEventRepository for SealedRepository {
    async fn get_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self.inner.get_events::<A>(aggregate_id).await?;
        self.open(events).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        let events = self
            .inner
            .get_last_events::<A>(aggregate_id, last_sequence)
            .await?;
        self.open(events).await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.inner.get_snapshot::<A>(aggregate_id).await
    }

    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let mut sealed = events.to_vec();
        for event in &mut sealed {
            self.keyring
                .seal(
                    &self.keys_db,
                    &event.aggregate_type,
                    &event.aggregate_id,
                    &mut event.payload,
                )
                .await
                .map_err(failure)?;
        }
        self.inner.persist::<A>(&sealed, snapshot_update).await
    }

    async fn stream_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        let events = self.get_events::<A>(aggregate_id).await?;
        let (mut feed, stream) = ReplayStream::new(events.len().max(1));
        for event in events {
            feed.push(Ok(event)).await?;
        }
        Ok(stream)
    }

    /// Refused: a replay of every stream goes through the catch-up projector, which opens
    /// personal data in batches ([`crm_projections::catchup`]).
    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        Err(PersistenceError::UnknownError(
            "replaying every contact stream goes through the catch-up projector".into(),
        ))
    }
}
