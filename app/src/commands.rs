//! The write side: runs commands through cqrs-es and postgres-es with their metadata, and
//! enforces the rules that span streams (contact email uniqueness, a contact's company
//! existing in the same tenant) before a command runs.

use std::sync::Arc;

use cqrs_es::persist::PersistedEventStore;
use cqrs_es::{Aggregate, AggregateError, CqrsFramework, EventStore};
use crm_domain::activity::{Activity, ActivityCommand};
use crm_domain::company::{Company, CompanyCommand};
use crm_domain::contact::{Contact, ContactCommand, ContactInput, ContactPatch};
use crm_domain::deal::{Deal, DealCommand};
use crm_domain::pipeline::{Pipeline, PipelineCommand};
use crm_domain::user::{User, UserCommand};
use crm_domain::workspace::{Workspace, WorkspaceCommand};
use crm_domain::{DomainError, Email, EntityId, EventMetadata, Guarded, StreamId};
use crm_projections::entities::{company, contact};
use crm_projections::inline::InlineProjector;
use crm_store::claims::{self, Claim};
use crm_store::personal_data::Keyring;
use crm_store::TenantScope;
use postgres_es::{PostgresCqrs, PostgresEventRepository};
use sea_orm::DatabaseConnection;

use crate::db::Pools;
use crate::error::AppError;
use crate::sealed_store::SealedRepository;

/// The contact's framework: its events go through [`SealedRepository`].
type SealedCqrs<A> = CqrsFramework<A, PersistedEventStore<SealedRepository, A>>;

/// The command frameworks of every aggregate, each with the inline projector attached.
#[derive(Clone)]
pub struct Commands {
    workspace: Arc<PostgresCqrs<Workspace>>,
    user: Arc<PostgresCqrs<User>>,
    company: Arc<PostgresCqrs<Company>>,
    contact: Arc<SealedCqrs<Contact>>,
    pipeline: Arc<PostgresCqrs<Pipeline>>,
    deal: Arc<PostgresCqrs<Deal>>,
    activity: Arc<PostgresCqrs<Activity>>,
    app: DatabaseConnection,
    keyring: Keyring,
}

fn framework<A>(pools: &Pools) -> Arc<PostgresCqrs<A>>
where
    A: Aggregate<Services = ()>,
    A::Event: Into<crm_store::AnyEvent>,
{
    let projector = InlineProjector::new(pools.projector.clone());
    Arc::new(postgres_es::postgres_cqrs(
        pools.store.clone(),
        vec![Box::new(projector)],
        (),
    ))
}

/// Maps cqrs-es's error: a domain refusal keeps its meaning; a lost optimistic-concurrency
/// race is a 412 when the caller named a version (that version is stale now), else a
/// retryable 409; the rest is ours.
fn map_error(err: AggregateError<DomainError>, guarded: bool) -> AppError {
    match err {
        AggregateError::UserError(e) => e.into(),
        AggregateError::AggregateConflict if guarded => AppError::PreconditionFailed(
            "the record changed while this request ran; reload it and retry".into(),
        ),
        AggregateError::AggregateConflict => AppError::ConcurrentWrite(
            "the record was changed by another request at the same time; retry".into(),
        ),
        AggregateError::DatabaseConnectionError(cause) => AppError::Unavailable(cause),
        AggregateError::UnexpectedError(cause) | AggregateError::DeserializationError(cause) => {
            AppError::from_boxed(cause)
        }
    }
}

impl Commands {
    /// Frameworks over the store pool, projecting inline through the projector pool; the
    /// contact's seals its personal data with `keyring`.
    pub fn new(pools: &Pools, keyring: Keyring) -> Self {
        let repo = SealedRepository::new(
            PostgresEventRepository::new(pools.store.clone()),
            sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool(pools.store.clone()),
            keyring.clone(),
        );
        let contact = Arc::new(CqrsFramework::new(
            PersistedEventStore::new_event_store(repo),
            vec![Box::new(InlineProjector::new(pools.projector.clone()))],
            (),
        ));
        Self {
            workspace: framework(pools),
            user: framework(pools),
            company: framework(pools),
            contact,
            pipeline: framework(pools),
            deal: framework(pools),
            activity: framework(pools),
            app: pools.app.clone(),
            keyring,
        }
    }

    /// The keyring that seals and opens contacts' personal data.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    async fn run<A, C, ES>(
        cqrs: &CqrsFramework<A, ES>,
        stream: StreamId,
        command: Guarded<C>,
        meta: &EventMetadata,
    ) -> Result<(), AppError>
    where
        A: Aggregate<Error = DomainError, Command = Guarded<C>>,
        ES: EventStore<A>,
    {
        let guarded = command.if_version.is_some();
        if stream.tenant != meta.tenant_id {
            // A stream of another tenant is never addressed; the database would refuse too.
            return Err(AppError::NotFound);
        }
        cqrs.execute_with_metadata(&stream.to_string(), command, meta.to_map())
            .await
            .map_err(|e| map_error(e, guarded))
    }

    /// Runs a workspace command (the stream is `<tenant>:<tenant>`).
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn workspace(
        &self,
        command: impl Into<Guarded<WorkspaceCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        let stream = StreamId::new(meta.tenant_id, EntityId(meta.tenant_id.0));
        Self::run(&self.workspace, stream, command.into(), meta).await
    }

    /// Runs a user command.
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn user(
        &self,
        user: EntityId,
        command: UserCommand,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        Self::run(
            &self.user,
            StreamId::new(meta.tenant_id, user),
            command.into(),
            meta,
        )
        .await
    }

    /// Runs a company command.
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn company(
        &self,
        company: EntityId,
        command: impl Into<Guarded<CompanyCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        Self::run(
            &self.company,
            StreamId::new(meta.tenant_id, company),
            command.into(),
            meta,
        )
        .await
    }

    /// Runs a pipeline command.
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn pipeline(
        &self,
        pipeline: EntityId,
        command: impl Into<Guarded<PipelineCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        Self::run(
            &self.pipeline,
            StreamId::new(meta.tenant_id, pipeline),
            command.into(),
            meta,
        )
        .await
    }

    /// Runs a deal command (the caller has resolved its stages and checked its links).
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn deal(
        &self,
        deal: EntityId,
        command: impl Into<Guarded<DealCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        Self::run(
            &self.deal,
            StreamId::new(meta.tenant_id, deal),
            command.into(),
            meta,
        )
        .await
    }

    /// Runs an activity command (the caller has checked its links).
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn activity(
        &self,
        activity: EntityId,
        command: impl Into<Guarded<ActivityCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        Self::run(
            &self.activity,
            StreamId::new(meta.tenant_id, activity),
            command.into(),
            meta,
        )
        .await
    }

    /// Runs a contact command, first checking what spans streams: the linked company
    /// exists (live) in the tenant, and a new email is not another contact's (409).
    ///
    /// # Errors
    /// 409 for a duplicate email, 422 for a missing company, and the aggregate's errors.
    pub async fn contact(
        &self,
        contact: EntityId,
        command: impl Into<Guarded<ContactCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        let Guarded {
            if_version,
            command,
        } = command.into();
        let scope = TenantScope::for_command(meta);
        // Another tenant's contact id is a 404 before anything else is checked, exactly as
        // an id that does not exist.
        let current = match &command {
            ContactCommand::Create(_) => None,
            _ => Some(
                crm_projections::queries::row::<contact::Entity>(&self.app, &scope, contact.0)
                    .await?
                    .ok_or(AppError::NotFound)?,
            ),
        };
        let (company, new_email) = match &command {
            ContactCommand::Create(ContactInput {
                company_id, email, ..
            }) => (*company_id, email.clone()),
            ContactCommand::Update(ContactPatch {
                company_id, email, ..
            }) => (company_id.flatten(), email.clone().flatten()),
            ContactCommand::LinkCompany { company_id, .. } => (Some(*company_id), None),
            ContactCommand::Delete
            | ContactCommand::Restore
            | ContactCommand::Erase
            | ContactCommand::UnlinkCompany { .. } => (None, None),
        };
        if let Some(company) = company {
            let row =
                crm_projections::queries::row::<company::Entity>(&self.app, &scope, company.0)
                    .await?;
            if row.is_none_or(|c| c.deleted) {
                return Err(AppError::invalid(
                    "company_id",
                    "no such company in this workspace",
                ));
            }
        }
        let new_email = match new_email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty())
        {
            Some(text) => {
                Some(Email::parse(text).map_err(|e| AppError::invalid("email", e.to_string()))?)
            }
            None => None,
        };
        let old_email = match &command {
            ContactCommand::Update(_) => current.and_then(|c| c.email),
            _ => None,
        };
        let claimed = match &new_email {
            Some(email) if old_email.as_deref() != Some(email.as_str()) => {
                match claims::claim_contact_email(&self.app, &scope, email.as_str(), contact.0)
                    .await?
                {
                    Claim::Claimed { new } => new.then(|| email.clone()),
                    Claim::Taken { by } => {
                        return Err(AppError::Conflict(format!(
                            "another contact ({by}) of this workspace has this email"
                        )));
                    }
                }
            }
            _ => None,
        };
        // A patch that names the email and leaves it blank or null clears it.
        let clears_email = matches!(&command, ContactCommand::Update(ContactPatch { email: Some(e), .. }) if e.as_deref().is_none_or(|e| e.trim().is_empty()));
        let changes_email = new_email
            .as_ref()
            .is_some_and(|e| old_email.as_deref() != Some(e.as_str()));
        let result = Self::run(
            &self.contact,
            StreamId::new(meta.tenant_id, contact),
            Guarded {
                if_version,
                command,
            },
            meta,
        )
        .await;
        match &result {
            // Another attempt with this contact id (a retry under the same Idempotency-Key)
            // wrote the contact: the claim is that contact's now.
            Err(AppError::Conflict(why)) if why == crate::error::ALREADY_EXISTS => {}
            Err(_) => {
                if let Some(email) = claimed {
                    claims::release_contact_email(&self.app, &scope, email.as_str(), contact.0)
                        .await?;
                }
            }
            Ok(()) if changes_email || clears_email => {
                if let Some(old) = old_email {
                    claims::release_contact_email(&self.app, &scope, &old, contact.0).await?;
                }
            }
            Ok(()) => {}
        }
        result
    }
}
