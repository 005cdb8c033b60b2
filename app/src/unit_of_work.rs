//! One command, one transaction: the event store of the write side.
//!
//! cqrs-es's `CqrsFramework` commits a command's events through postgres-es and then hands
//! them to its queries, each on its own connection, so claims, events, inline read rows and
//! idempotency records used to commit separately (issue 10). A [`UnitOfWork`] is one
//! transaction of the `crm_command` role with the command's tenant set for row-level
//! security. In it, [`UnitOfWork::execute`] loads the stream, runs cqrs-es's
//! `Aggregate::handle`, seals the contact's personal data (its data key is made in the same
//! transaction), appends the events in one multi-row `INSERT` into postgres-es's table with
//! postgres-es's serialization (`event_type`, `event_version`, `payload`, `metadata` as
//! cqrs-es's `SerializedEvent` writes them, so the catch-up projector, history and
//! backups read them unchanged), and applies them to the read tables. The caller adds
//! what else must commit with them (claims, the mark on its `Idempotency-Key`) and
//! commits; dropping the unit of work rolls everything back.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use crm_domain::contact::Contact;
use crm_domain::{DomainError, EventMetadata, StreamId};
use crm_store::event::{AnyEvent, StoredEvent};
use crm_store::personal_data::{Keyring, PersonalDataError, Show};
use crm_store::TenantScope;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    PrimaryKeyTrait, SqlErr, Statement, Value as SqlValue,
};
use serde_json::Value;

use crate::error::AppError;

/// An open command transaction (role `crm_command`, `app.tenant_id` set to the command's
/// tenant). Commit with [`UnitOfWork::commit`]; dropped uncommitted, it rolls back.
pub struct UnitOfWork {
    txn: DatabaseTransaction,
    tenant: crm_domain::TenantId,
    /// Streams this unit marked on the request's `Idempotency-Key`, counted into the
    /// attempt once it commits.
    marked: std::sync::Mutex<Vec<String>>,
    /// Whether this is the transaction the request's session check opened (and counted
    /// the request in): see `crm_store::request_txn`.
    counts: bool,
    /// The read rows this unit's commands wrote, as the writes returned them
    /// (`crm_projections::apply::returning`): [`UnitOfWork::row`] answers from them.
    returned: std::sync::Mutex<crm_projections::apply::Returned>,
    /// Whether this unit is a savepoint of another ([`UnitOfWork::savepoint`]).
    nested: bool,
    /// The `transaction` span: from `BEGIN` to the unit's end, the parent of each
    /// `command` span run in it (a trace's view of what committed together).
    span: tracing::Span,
}

/// The `Idempotency-Key` attempt a request runs under (see [`under_key`]).
///
/// Each command the request runs adds its stream to the key's `committed` list in the
/// command's own transaction. When a retry of the request (the answer of an earlier attempt
/// was lost: a timeout, a 5xx, a cut connection, a killed server) reaches the n-th command
/// on a stream and the list holds that stream n times already, the command is not run
/// again: the use case goes on from the stream as it is, so the retry answers as the first
/// attempt would have, and nothing is applied twice.
#[derive(Debug)]
pub struct KeyedAttempt {
    user: uuid::Uuid,
    key: String,
    lease: uuid::Uuid,
    /// Whether commands mark the key (see [`unkeyed`]).
    marks: bool,
    /// Commands committed by this attempt, per stream.
    done: std::sync::Mutex<std::collections::HashMap<String, i32>>,
}

impl KeyedAttempt {
    /// The attempt holding `lease` on `key` of `user` (the key's principal).
    pub fn new(user: uuid::Uuid, key: String, lease: uuid::Uuid) -> Self {
        Self {
            user,
            key,
            lease,
            marks: true,
            done: std::sync::Mutex::default(),
        }
    }
}

tokio::task_local! {
    static ATTEMPT: KeyedAttempt;
}

/// Runs `work` (a request's handler) as `attempt`: every command it runs is marked on the
/// key, and skipped when an earlier attempt committed it.
pub async fn under_key<F: std::future::Future>(attempt: KeyedAttempt, work: F) -> F::Output {
    ATTEMPT.scope(attempt, work).await
}

/// Runs `work` with no command marking a key: for requests that may run thousands of
/// commands (imports and their undo), which are idempotent by their own rule instead (a
/// re-run skips what exists), so a key's list would only grow with every row.
pub async fn unkeyed<F: std::future::Future>(work: F) -> F::Output {
    let none = KeyedAttempt {
        user: uuid::Uuid::nil(),
        key: String::new(),
        lease: uuid::Uuid::nil(),
        marks: false,
        done: std::sync::Mutex::default(),
    };
    ATTEMPT.scope(none, work).await
}

/// Attempts [`again`] makes of a unit that lost a race.
const ATTEMPTS: u32 = 8;

/// Runs `unit` (a whole unit of work, from its begin to its commit) again when it loses
/// the race for a stream to another request ([`AppError::ConcurrentWrite`]: only an
/// unguarded command does), up to [`ATTEMPTS`] times in all, after 5, 10, 20 … 320 ms
/// each with up to as much again of random jitter (exponential backoff, so that racers
/// spread out). For units whose commands hold no version the caller chose: a sign-in's
/// `LoginSucceeded`, a failed sign-in's count, a workspace's or user's own command.
///
/// # Errors
/// The last attempt's error.
pub async fn again<T, F, Fut>(mut unit: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AppError>>,
{
    let mut attempt = 1;
    loop {
        match unit().await {
            Err(AppError::ConcurrentWrite(_)) if attempt < ATTEMPTS => {
                let base = 5_u64 << (attempt - 1);
                let jitter = rand::random::<u64>() % (base + 1);
                tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// What losing the race for a stream's next sequence means to the caller.
#[derive(Debug, Clone, Copy)]
enum Race {
    /// The caller named the version it expected (`If-Match`): that version is stale.
    Stale,
    /// Another request wrote the record at the same time: retry.
    Concurrent,
}

/// What the key says of a command.
enum Mark {
    /// No key, or this command is new under it: run it.
    Run,
    /// An earlier attempt with the key committed it.
    Done,
}

/// What [`UnitOfWork::execute`] appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The stream's version after the command: the sequence of its last event (the
    /// `ETag` of the record).
    pub version: u64,
    /// How many events the command appended (0 when it changed nothing).
    pub events: usize,
}

/// Streams [`UnitOfWork::create_many`] appends per statement (each event takes 6 bind
/// parameters and each contact's data key 3; PostgreSQL allows 65,535 per statement).
pub const STREAMS_PER_APPEND: usize = 1_000;

/// A new stream's first events, decided in memory ([`decide_create`]), and their metadata.
#[derive(Debug)]
pub struct NewStream<E> {
    /// The stream: a new id of the unit's tenant.
    pub stream: StreamId,
    /// The events the create decided, in order.
    pub events: Vec<E>,
    /// Who, when, from where (the `import_id` of an import).
    pub meta: EventMetadata,
}

/// The events `command` makes on a new, empty stream of `A`: the aggregate's own rules,
/// run in memory with no statement (a create needs no stream loaded).
///
/// # Errors
/// The aggregate's refusal.
pub async fn decide_create<A>(command: A::Command) -> Result<Vec<A::Event>, AppError>
where
    A: Aggregate<Error = DomainError, Services = ()>,
{
    let sink = EventSink::default();
    A::default().handle(command, &(), &sink).await?;
    Ok(sink.collect().await)
}

impl UnitOfWork {
    /// Begins a command transaction for `meta`'s tenant on `db` (the `crm_command` pool):
    /// the one the request's session check opened, when it left one for this tenant
    /// (`crm_store::request_txn`: no statement), else `BEGIN` and the tenant's
    /// `set_config`.
    ///
    /// # Errors
    /// [`AppError::Unavailable`] when no connection can be had; other database errors.
    pub async fn begin(db: &DatabaseConnection, meta: &EventMetadata) -> Result<Self, AppError> {
        Self::begin_in(db, &TenantScope::for_command(meta)).await
    }

    /// Begins a command transaction for `scope`'s tenant; its commands' metadata must
    /// name that tenant.
    ///
    /// # Errors
    /// As [`UnitOfWork::begin`].
    pub async fn begin_in(db: &DatabaseConnection, scope: &TenantScope) -> Result<Self, AppError> {
        let (txn, counts) = match crm_store::request_txn::take_command(scope.tenant()) {
            Some(txn) => (txn, true),
            None => (scope.begin(db).await?, false),
        };
        Ok(Self {
            txn,
            tenant: scope.tenant(),
            marked: std::sync::Mutex::default(),
            counts,
            returned: std::sync::Mutex::default(),
            nested: false,
            span: tracing::info_span!("transaction", tenant = %scope.tenant().0),
        })
    }

    /// The tenant the unit writes for.
    pub fn tenant(&self) -> crm_domain::TenantId {
        self.tenant
    }

    /// The transaction, for the reads and writes that must commit with the command
    /// (claims, the idempotency mark, the checks that span streams).
    pub fn connection(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The read row of `id` in table `E` of this tenant as this transaction sees it: the
    /// command's own result, projected inline, so the answer never waits for a projector.
    /// The row as this unit's last write of it returned it, when it wrote it; else one
    /// `SELECT`.
    ///
    /// # Errors
    /// Database errors.
    pub async fn row<E>(&self, id: uuid::Uuid) -> Result<Option<E::Model>, AppError>
    where
        E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = (uuid::Uuid, uuid::Uuid)>>,
    {
        let key = (E::default().table_name().to_owned(), id);
        let written = lock(&self.returned)
            .get(&key)
            .and_then(|row| row.downcast_ref::<E::Model>())
            .cloned();
        if written.is_some() {
            return Ok(written);
        }
        Ok(E::find_by_id((self.tenant.0, id)).one(&self.txn).await?)
    }

    /// A unit nested in this one (a savepoint): what it writes is undone alone by
    /// [`UnitOfWork::rollback`], or kept by [`UnitOfWork::commit`] until this one commits.
    /// An import runs each row in one, so a row refused after it wrote (a contact whose
    /// email claim fails) leaves the rest of its batch intact.
    ///
    /// # Errors
    /// Database errors.
    pub async fn savepoint(&self) -> Result<Self, AppError> {
        use sea_orm::TransactionTrait;
        // What the nested unit writes, this one has not seen returned.
        lock(&self.returned).clear();
        Ok(Self {
            txn: self.txn.begin().await?,
            tenant: self.tenant,
            marked: std::sync::Mutex::default(),
            counts: false,
            returned: std::sync::Mutex::default(),
            nested: true,
            span: tracing::info_span!(parent: &self.span, "savepoint"),
        })
    }

    /// Undoes everything the unit wrote (for a savepoint, back to where it began).
    ///
    /// # Errors
    /// Database errors.
    pub async fn rollback(self) -> Result<(), AppError> {
        Ok(self.txn.rollback().await?)
    }

    /// Commits everything the unit of work wrote. Under an `Idempotency-Key` (see
    /// [`under_key`]) the transaction is left for the request's answer to be recorded in
    /// first, and commits when the key's middleware has done so, or as soon as the request
    /// needs the database again: the command and its stored answer commit together.
    ///
    /// # Errors
    /// [`AppError::Unavailable`] when the connection is lost: the outcome is then unknown,
    /// which is why a create reserves its id under an `Idempotency-Key`.
    pub async fn commit(self) -> Result<(), AppError> {
        let keyed = ATTEMPT.try_with(|a| a.marks).unwrap_or(false);
        let parked = if keyed && !self.nested {
            // Under an `Idempotency-Key` the request's answer is recorded in this
            // transaction before it commits (`crm_store::request_txn::Purpose::Answer`):
            // whatever the request does next with the database commits it first.
            crm_store::request_txn::park(self.tenant, self.txn)
        } else {
            Err(self.txn)
        };
        if let Err(txn) = parked {
            txn.commit().await?;
            if self.counts {
                crm_store::request_txn::kept();
            }
        }
        let marked = std::mem::take(&mut *lock(&self.marked));
        let _ = ATTEMPT.try_with(|attempt| {
            let mut done = lock(&attempt.done);
            for stream in marked {
                *done.entry(stream).or_insert(0) += 1;
            }
        });
        Ok(())
    }

    /// Marks the command on `stream` on the request's key, if it has one (one statement,
    /// which also locks the key's row until this transaction ends).
    ///
    /// # Errors
    /// [`AppError::Conflict`] when a retry took the key's lease over (this attempt must
    /// not write); database errors.
    async fn mark(&self, stream: &str) -> Result<Mark, AppError> {
        let Ok(Some((user, key, lease, nth))) = ATTEMPT.try_with(|a| {
            if !a.marks {
                return None;
            }
            let before = lock(&a.done).get(stream).copied().unwrap_or(0);
            let pending = lock(&self.marked).iter().filter(|s| *s == stream).count();
            let nth = before + i32::try_from(pending).unwrap_or(i32::MAX) + 1;
            Some((a.user, a.key.clone(), a.lease, nth))
        }) else {
            return Ok(Mark::Run);
        };
        let row = self
            .txn
            .query_one(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "WITH k AS (
                     SELECT lease_id = $4 AS ours,
                            coalesce(cardinality(array_positions(committed, $5::text)), 0) >= $6 AS done
                       FROM idempotency_keys
                      WHERE tenant_id = $1 AND user_id = $2 AND key = $3
                        FOR UPDATE
                 ), marked AS (
                     UPDATE idempotency_keys SET committed = committed || $5::text
                       FROM k
                      WHERE tenant_id = $1 AND user_id = $2 AND key = $3 AND k.ours AND NOT k.done
                 )
                 SELECT ours, done FROM k",
                [
                    self.tenant.0.into(),
                    user.into(),
                    key.into(),
                    lease.into(),
                    stream.into(),
                    nth.into(),
                ],
            ))
            .await?;
        let (ours, done) = match row {
            Some(row) => (
                row.try_get::<bool>("", "ours")?,
                row.try_get::<bool>("", "done")?,
            ),
            None => (false, false),
        };
        if !ours {
            return Err(AppError::Conflict(
                "a retry with this Idempotency-Key took this request over; it wrote nothing".into(),
            ));
        }
        if done {
            return Ok(Mark::Done);
        }
        lock(&self.marked).push(stream.to_owned());
        Ok(Mark::Run)
    }

    /// Runs `command` on `stream` of aggregate `A`: loads the stream (opening a contact's
    /// sealed fields), handles the command, appends the events it decided (sealed) and
    /// projects them into the read tables, all inside this transaction.
    ///
    /// # Errors
    /// The aggregate's refusal ([`DomainError`] as [`AppError`]); a stream of another
    /// tenant is [`AppError::NotFound`]; losing a race for the stream's next sequence is
    /// [`AppError::PreconditionFailed`] when the command was guarded by a version
    /// (`guarded`), else [`AppError::ConcurrentWrite`]; personal fields for an erased
    /// contact are a conflict; database errors.
    pub async fn execute<A>(
        &self,
        keyring: &Keyring,
        stream: StreamId,
        command: A::Command,
        meta: &EventMetadata,
        guarded: bool,
    ) -> Result<(A, Appended), AppError>
    where
        A: Aggregate<Error = DomainError, Services = ()>,
        A::Event: Into<AnyEvent>,
    {
        let on_race = if guarded {
            Race::Stale
        } else {
            Race::Concurrent
        };
        self.run::<A>(keyring, stream, command, meta, Some(on_race))
            .await
    }

    /// As [`UnitOfWork::execute`], for a create on a stream whose id this request made up
    /// (a new UUIDv7, or the id an `Idempotency-Key` reserved): the stream is not loaded,
    /// since a create can only apply to an empty one. If it does exist (an earlier attempt
    /// under the same key committed it), the append's unique key refuses the events and
    /// the answer is the aggregate's own "already exists" conflict.
    ///
    /// # Errors
    /// As [`UnitOfWork::execute`].
    pub async fn create<A>(
        &self,
        keyring: &Keyring,
        stream: StreamId,
        command: A::Command,
        meta: &EventMetadata,
    ) -> Result<(A, Appended), AppError>
    where
        A: Aggregate<Error = DomainError, Services = ()>,
        A::Event: Into<AnyEvent>,
    {
        self.run::<A>(keyring, stream, command, meta, None).await
    }

    /// [`UnitOfWork::execute`] (`race` says what losing the race for the next sequence
    /// means) or, with `race` `None`, [`UnitOfWork::create`]; in a `command` span under
    /// the unit's `transaction` span, with the events it appended.
    #[tracing::instrument(
        name = "command",
        parent = &self.span,
        skip_all,
        fields(aggregate = A::TYPE, stream = %stream, events = tracing::field::Empty)
    )]
    async fn run<A>(
        &self,
        keyring: &Keyring,
        stream: StreamId,
        command: A::Command,
        meta: &EventMetadata,
        race: Option<Race>,
    ) -> Result<(A, Appended), AppError>
    where
        A: Aggregate<Error = DomainError, Services = ()>,
        A::Event: Into<AnyEvent>,
    {
        if stream.tenant != self.tenant || meta.tenant_id != self.tenant {
            // A stream of another tenant is never addressed; row-level security would
            // hide it anyway.
            return Err(AppError::NotFound);
        }
        let aggregate_id = stream.to_string();
        let mark = self.mark(&aggregate_id).await?;
        let (mut aggregate, version) = match race {
            Some(_) => self.load::<A>(keyring, &aggregate_id).await?,
            None => (A::default(), 0),
        };
        if let Mark::Done = mark {
            let state = match race {
                Some(_) => (aggregate, version),
                None => self.load::<A>(keyring, &aggregate_id).await?,
            };
            return Ok((
                state.0,
                Appended {
                    version: state.1,
                    events: 0,
                },
            ));
        }
        let sink = EventSink::default();
        aggregate.handle(command, &(), &sink).await?;
        let events = sink.collect().await;
        if events.is_empty() {
            return Ok((aggregate, Appended { version, events: 0 }));
        }
        self.append::<A>(keyring, &aggregate_id, version, &events, meta, race)
            .await?;
        let count = events.len();
        let (applied, rows) = crm_projections::apply::returning(async {
            for (i, event) in events.into_iter().enumerate() {
                let stored = StoredEvent {
                    stream,
                    sequence: sequence(version, i),
                    metadata: meta.clone(),
                    event: event.into(),
                };
                crm_projections::apply::apply(&self.txn, &stored).await?;
            }
            Ok::<_, sea_orm::DbErr>(())
        })
        .await;
        applied?;
        lock(&self.returned).extend(rows);
        tracing::Span::current().record("events", count);
        Ok((
            aggregate,
            Appended {
                version: version + count as u64,
                events: count,
            },
        ))
    }

    /// Appends the first events of many new streams of `A` at once, and projects them:
    /// one multi-row `INSERT` into `events` per [`STREAMS_PER_APPEND`] streams (new
    /// contacts' data keys made in memory and stored by the same statement), then the
    /// read rows many to a statement (`crm_projections::apply::apply_batch`). For imports,
    /// whose rows are creates decided in memory by [`decide_create`] (each stream's id new,
    /// so nothing needs loading), instead of a command and a savepoint per row.
    ///
    /// # Errors
    /// A stream of another tenant is [`AppError::NotFound`]; a stream that exists already
    /// (never, for new ids) is the aggregate's "already exists" conflict; database errors.
    /// On any error nothing of the batch may be committed: the caller rolls back.
    pub async fn create_many<A>(
        &self,
        keyring: &Keyring,
        streams: Vec<NewStream<A::Event>>,
    ) -> Result<(), AppError>
    where
        A: Aggregate,
        A::Event: Into<AnyEvent>,
    {
        if streams
            .iter()
            .any(|s| s.stream.tenant != self.tenant || s.meta.tenant_id != self.tenant)
        {
            return Err(AppError::NotFound);
        }
        for chunk in streams.chunks(STREAMS_PER_APPEND) {
            let mut keys = String::new();
            let mut rows = String::new();
            let mut values: Vec<SqlValue> = vec![A::TYPE.into()];
            for new in chunk {
                let aggregate_id = new.stream.to_string();
                let metadata =
                    serde_json::to_value(new.meta.to_map()).map_err(AppError::internal)?;
                let mut payloads = new
                    .events
                    .iter()
                    .map(serde_json::to_value)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(AppError::internal)?;
                // A new contact's data key, made here and stored by the same statement.
                if let Some((tenant, contact, wrapped)) = keyring
                    .seal_new(A::TYPE, &aggregate_id, &mut payloads)
                    .map_err(personal_data)?
                {
                    let n = values.len();
                    keys.push_str(if keys.is_empty() { "" } else { ", " });
                    keys.push_str(&format!("(${}, ${}, ${})", n + 1, n + 2, n + 3));
                    values.extend([tenant.into(), contact.into(), wrapped.into()]);
                }
                for (i, (event, payload)) in new.events.iter().zip(payloads).enumerate() {
                    let n = values.len();
                    rows.push_str(if rows.is_empty() { "" } else { ", " });
                    rows.push_str(&format!(
                        "($1, ${}, ${}, ${}, ${}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 6
                    ));
                    values.push(aggregate_id.clone().into());
                    values.push(sequence(0, i).into());
                    values.push(event.event_type().into());
                    values.push(event.event_version().into());
                    values.push(payload.into());
                    values.push(metadata.clone().into());
                }
            }
            if rows.is_empty() {
                continue;
            }
            let mut sql = String::new();
            if !keys.is_empty() {
                sql.push_str(&format!(
                    "WITH data_keys AS (INSERT INTO contact_keys (tenant_id, contact_id, wrapped) \
                     VALUES {keys}) "
                ));
            }
            sql.push_str(&format!(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
                 event_version, payload, metadata) VALUES {rows}"
            ));
            self.txn
                .execute(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    values,
                ))
                .await
                .map_err(|err| match err.sql_err() {
                    Some(SqlErr::UniqueConstraintViolation(_)) => DomainError::AlreadyExists.into(),
                    _ => AppError::from(err),
                })?;
        }
        let stored: Vec<StoredEvent> = streams
            .into_iter()
            .flat_map(|new| {
                let (stream, meta) = (new.stream, new.meta);
                new.events
                    .into_iter()
                    .enumerate()
                    .map(move |(i, event)| StoredEvent {
                        stream,
                        sequence: sequence(0, i),
                        metadata: meta.clone(),
                        event: event.into(),
                    })
            })
            .collect();
        crm_projections::apply::apply_batch(&self.txn, &stored).await?;
        Ok(())
    }

    /// The aggregate of `stream` as this transaction sees it, and the stream's version (0
    /// for a stream with no event). For a use case that decides from the state of a
    /// record (an unmerge reads what its merge moved).
    ///
    /// # Errors
    /// Database errors; an event that does not decode.
    pub async fn aggregate<A>(
        &self,
        keyring: &Keyring,
        stream: StreamId,
    ) -> Result<(A, u64), AppError>
    where
        A: Aggregate,
    {
        self.load::<A>(keyring, &stream.to_string()).await
    }

    /// The aggregate folded from its stream, and the stream's version. One statement
    /// (postgres-es's `select_events`), plus the data keys of a contact with sealed events.
    async fn load<A>(&self, keyring: &Keyring, aggregate_id: &str) -> Result<(A, u64), AppError>
    where
        A: Aggregate,
    {
        let rows = self
            .txn
            .query_all(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT payload FROM events
                  WHERE aggregate_type = $1 AND aggregate_id = $2
                  ORDER BY sequence",
                [A::TYPE.into(), aggregate_id.into()],
            ))
            .await?;
        let mut payloads = rows
            .iter()
            .map(|row| row.try_get::<Value>("", "payload"))
            .collect::<Result<Vec<_>, _>>()?;
        if A::TYPE == Contact::TYPE {
            let mut refs: Vec<(&str, &str, &mut Value)> = payloads
                .iter_mut()
                .map(|p| (A::TYPE, aggregate_id, p))
                .collect();
            keyring
                .open_all(&self.txn, &mut refs, Show::Domain)
                .await
                .map_err(personal_data)?;
        }
        let version = payloads.len() as u64;
        let mut aggregate = A::default();
        for payload in payloads {
            aggregate.apply(serde_json::from_value(payload).map_err(AppError::internal)?);
        }
        Ok((aggregate, version))
    }

    /// Appends `events` after `version` in one multi-row `INSERT` (the database's trigger
    /// stamps tenant, transaction, time and hash; a contact's personal fields are sealed
    /// first).
    async fn append<A: Aggregate>(
        &self,
        keyring: &Keyring,
        aggregate_id: &str,
        version: u64,
        events: &[A::Event],
        meta: &EventMetadata,
        race: Option<Race>,
    ) -> Result<(), AppError> {
        let metadata = serde_json::to_value(meta.to_map()).map_err(AppError::internal)?;
        let mut payloads = events
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()
            .map_err(AppError::internal)?;
        let mut sql = String::new();
        let mut values: Vec<SqlValue> = vec![A::TYPE.into(), aggregate_id.into(), metadata.into()];
        if race.is_none() {
            // A create: a new contact's data key is made here and stored by this statement.
            if let Some((tenant, contact, wrapped)) = keyring
                .seal_new(A::TYPE, aggregate_id, &mut payloads)
                .map_err(personal_data)?
            {
                sql.push_str(
                    "WITH data_key AS (INSERT INTO contact_keys (tenant_id, contact_id, wrapped) \
                     VALUES ($4, $5, $6)) ",
                );
                values.extend([tenant.into(), contact.into(), wrapped.into()]);
            }
        } else {
            for payload in &mut payloads {
                keyring
                    .seal(&self.txn, A::TYPE, aggregate_id, payload)
                    .await
                    .map_err(personal_data)?;
            }
        }
        sql.push_str(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata) VALUES ",
        );
        for (i, (event, payload)) in events.iter().zip(payloads).enumerate() {
            let n = values.len();
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!(
                "($1, $2, ${}, ${}, ${}, ${}, $3)",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ));
            values.push(sequence(version, i).into());
            values.push(event.event_type().into());
            values.push(event.event_version().into());
            values.push(payload.into());
        }
        match self
            .txn
            .execute(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await
        {
            Ok(_) => Ok(()),
            // Another command took the next sequence of this stream first (it commits, we
            // wait on its row and then collide): the optimistic-concurrency rule; for a
            // create, the stream exists already.
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                Err(match race {
                    Some(Race::Stale) => AppError::PreconditionFailed(
                        "the record changed while this request ran; reload it and retry".into(),
                    ),
                    Some(Race::Concurrent) => AppError::ConcurrentWrite(
                        "the record was changed by another request at the same time; retry".into(),
                    ),
                    None => DomainError::AlreadyExists.into(),
                })
            }
            Err(err) => Err(err.into()),
        }
    }
}

/// Locks `mutex`, taking the data of a poisoned one (a panic elsewhere leaves a plain
/// list or map, never a broken invariant).
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sequence of the `i`-th new event of a stream at `version`.
fn sequence(version: u64, i: usize) -> i64 {
    i64::try_from(version + i as u64 + 1).unwrap_or(i64::MAX)
}

fn personal_data(err: PersonalDataError) -> AppError {
    match err {
        PersonalDataError::Db(e) => e.into(),
        PersonalDataError::Erased(_) => {
            AppError::Conflict("the contact's personal data was erased".into())
        }
        other => AppError::internal(other),
    }
}
