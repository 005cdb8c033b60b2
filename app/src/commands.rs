//! The write side: runs commands through cqrs-es and postgres-es with their metadata, and
//! enforces the rules that span streams (contact email uniqueness, a contact's company
//! existing in the same tenant) before a command runs.

use cqrs_es::Aggregate;
use crm_domain::activity::{Activity, ActivityCommand};
use crm_domain::company::{Company, CompanyCommand};
use crm_domain::contact::{Contact, ContactCommand, ContactInput, ContactPatch};
use crm_domain::deal::{Deal, DealCommand};
use crm_domain::pipeline::{Pipeline, PipelineCommand};
use crm_domain::user::{User, UserCommand};
use crm_domain::workspace::{Workspace, WorkspaceCommand};
use crm_domain::{DomainError, Email, EntityId, EventMetadata, Guarded, StreamId};
use crm_projections::entities::{company, contact};
use crm_store::claims::{self, Claim};
use crm_store::event::AnyEvent;
use crm_store::personal_data::Keyring;
use crm_store::TenantScope;
use sea_orm::{DatabaseConnection, EntityTrait, PrimaryKeyTrait};
use uuid::Uuid;

use crate::db::Pools;
use crate::error::AppError;
use crate::unit_of_work::{Appended, UnitOfWork};

/// The write side: every command runs in one [`UnitOfWork`] of the `crm_command` pool.
#[derive(Clone)]
pub struct Commands {
    db: DatabaseConnection,
    keyring: Keyring,
}

impl Commands {
    /// The write side over the command pool; contacts' personal data is sealed with
    /// `keyring`.
    pub fn new(pools: &Pools, keyring: Keyring) -> Self {
        Self {
            db: pools.command.clone(),
            keyring,
        }
    }

    /// The keyring that seals and opens contacts' personal data.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Runs one command of aggregate `A` on entity `id` of `meta`'s tenant in its own
    /// transaction, again when an unguarded command loses a race
    /// ([`crate::unit_of_work::again`]).
    async fn run<A, C>(
        &self,
        id: EntityId,
        command: Guarded<C>,
        meta: &EventMetadata,
    ) -> Result<(), AppError>
    where
        A: Aggregate<Error = DomainError, Command = Guarded<C>, Services = ()>,
        A::Event: Into<AnyEvent>,
        C: Clone,
    {
        crate::unit_of_work::again(|| async {
            let uow = self.unit(meta).await?;
            self.run_in::<A, C>(&uow, id, command.clone(), meta).await?;
            uow.commit().await
        })
        .await
    }

    /// Opens a unit of work for commands of `meta`'s tenant that must commit together (a
    /// sign-up's workspace, Owner and pipeline).
    ///
    /// # Errors
    /// [`AppError::Unavailable`] when no connection can be had.
    pub async fn unit(&self, meta: &EventMetadata) -> Result<UnitOfWork, AppError> {
        UnitOfWork::begin(&self.db, meta).await
    }

    /// Opens a unit of work in `scope`'s tenant, for flows that learn their actor inside
    /// it (an invitation or a reset token names its user).
    ///
    /// # Errors
    /// [`AppError::Unavailable`] when no connection can be had.
    pub async fn unit_in(&self, scope: &TenantScope) -> Result<UnitOfWork, AppError> {
        UnitOfWork::begin_in(&self.db, scope).await
    }

    /// Runs one command of aggregate `A` on entity `id` of `meta`'s tenant inside `uow`,
    /// uncommitted; returns what it appended.
    ///
    /// # Errors
    /// As the aggregate's command.
    pub async fn run_in<A, C>(
        &self,
        uow: &UnitOfWork,
        id: EntityId,
        command: impl Into<Guarded<C>>,
        meta: &EventMetadata,
    ) -> Result<Appended, AppError>
    where
        A: Aggregate<Error = DomainError, Command = Guarded<C>, Services = ()>,
        A::Event: Into<AnyEvent>,
    {
        self.in_unit::<A, C>(uow, id, command.into(), meta, false)
            .await
    }

    /// Runs a create command of aggregate `A` on the new stream of entity `id` (an id this
    /// request made up, or one an `Idempotency-Key` reserved) inside `uow`, without
    /// loading it ([`UnitOfWork::create`]).
    ///
    /// # Errors
    /// As the aggregate's command; an "already exists" conflict when the stream exists.
    pub async fn create_in<A, C>(
        &self,
        uow: &UnitOfWork,
        id: EntityId,
        command: impl Into<Guarded<C>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError>
    where
        A: Aggregate<Error = DomainError, Command = Guarded<C>, Services = ()>,
        A::Event: Into<AnyEvent>,
    {
        self.in_unit::<A, C>(uow, id, command.into(), meta, true)
            .await
            .map(drop)
    }

    /// [`Commands::create_in`] when `new`, else [`Commands::run_in`].
    async fn in_unit<A, C>(
        &self,
        uow: &UnitOfWork,
        id: EntityId,
        command: Guarded<C>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Appended, AppError>
    where
        A: Aggregate<Error = DomainError, Command = Guarded<C>, Services = ()>,
        A::Event: Into<AnyEvent>,
    {
        let stream = StreamId::new(meta.tenant_id, id);
        let done = if new {
            uow.create::<A>(&self.keyring, stream, command, meta).await
        } else {
            let guarded = command.if_version.is_some();
            uow.execute::<A>(&self.keyring, stream, command, meta, guarded)
                .await
        };
        done.map(|(_, appended)| appended)
    }

    /// Runs one command of aggregate `A` on record `id` and reads the record's row of `E`
    /// back in the same transaction: the answer to a record command is its own result.
    /// `new`: the command creates the record on a stream whose id this request made up
    /// (see [`Commands::create_in`]).
    ///
    /// # Errors
    /// As the aggregate's command; `None` only when the read row lags the stream (events
    /// written by another path and not yet projected).
    pub async fn record<A, C, E>(
        &self,
        id: EntityId,
        command: Guarded<C>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Option<E::Model>, AppError>
    where
        A: Aggregate<Error = DomainError, Command = Guarded<C>, Services = ()>,
        A::Event: Into<AnyEvent>,
        E: EntityTrait<PrimaryKey: PrimaryKeyTrait<ValueType = (Uuid, Uuid)>>,
    {
        let uow = self.unit(meta).await?;
        self.in_unit::<A, C>(&uow, id, command, meta, new).await?;
        let row = uow.row::<E>(id.0).await?;
        uow.commit().await?;
        Ok(row)
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
        self.run::<Workspace, _>(EntityId(meta.tenant_id.0), command.into(), meta)
            .await
    }

    /// Runs a command of the workspace's custom field schema (the stream is
    /// `<tenant>:<tenant>`).
    ///
    /// # Errors
    /// [`AppError`] from the aggregate or the store.
    pub async fn schema(
        &self,
        command: impl Into<Guarded<crm_domain::fields::FieldSchemaCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        self.run::<crm_domain::fields::FieldSchema, _>(
            EntityId(meta.tenant_id.0),
            command.into(),
            meta,
        )
        .await
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
        self.run::<User, _>(user, command.into(), meta).await
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
        self.run::<Company, _>(company, command.into(), meta).await
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
        self.run::<Pipeline, _>(pipeline, command.into(), meta)
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
        self.run::<Deal, _>(deal, command.into(), meta).await
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
        self.run::<Activity, _>(activity, command.into(), meta)
            .await
    }

    /// Runs a contact command with what spans streams, all in one transaction: the linked
    /// company exists (live) in the tenant, and a new email is claimed for this contact
    /// (409 when another contact holds it); the email it replaces or clears is released.
    ///
    /// # Errors
    /// 404 for a contact the workspace does not have, 409 for a duplicate email, 422 for a
    /// missing company, and the aggregate's errors.
    pub async fn contact(
        &self,
        contact: EntityId,
        command: impl Into<Guarded<ContactCommand>>,
        meta: &EventMetadata,
    ) -> Result<(), AppError> {
        self.contact_uow(contact, command.into(), meta)
            .await?
            .commit()
            .await
    }

    /// As [`Commands::contact`], reading the contact's row back in the same transaction.
    ///
    /// # Errors
    /// As [`Commands::contact`].
    pub async fn contact_record(
        &self,
        contact: EntityId,
        command: Guarded<ContactCommand>,
        meta: &EventMetadata,
    ) -> Result<Option<contact::Model>, AppError> {
        let uow = self.contact_uow(contact, command, meta).await?;
        let row = uow.row::<contact::Entity>(contact.0).await?;
        uow.commit().await?;
        Ok(row)
    }

    /// A contact command and its claims, uncommitted.
    async fn contact_uow(
        &self,
        contact: EntityId,
        command: Guarded<ContactCommand>,
        meta: &EventMetadata,
    ) -> Result<UnitOfWork, AppError> {
        let uow = UnitOfWork::begin(&self.db, meta).await?;
        self.contact_in(&uow, contact, command, meta).await?;
        Ok(uow)
    }

    /// A contact command and its claims inside `uow`, uncommitted (an import runs each
    /// row in a savepoint of its batch's unit).
    ///
    /// # Errors
    /// As [`Commands::contact`].
    pub async fn contact_in(
        &self,
        uow: &UnitOfWork,
        contact: EntityId,
        command: Guarded<ContactCommand>,
        meta: &EventMetadata,
    ) -> Result<Appended, AppError> {
        let Guarded {
            if_version,
            command,
        } = command;
        let scope = TenantScope::for_command(meta);
        let tenant = meta.tenant_id.0;
        // Another tenant's contact id is a 404 before anything else is checked, exactly as
        // an id that does not exist.
        let current = match &command {
            ContactCommand::Create(_) => None,
            _ => Some(
                contact::Entity::find_by_id((tenant, contact.0))
                    .one(uow.connection())
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
            // A contact back from a merge claims its email again.
            ContactCommand::Unmerge => (None, current.as_ref().and_then(|c| c.email.clone())),
            ContactCommand::Delete
            | ContactCommand::Restore
            | ContactCommand::Erase
            | ContactCommand::MergeInto { .. }
            | ContactCommand::SwapCompany(_)
            | ContactCommand::RecordMerge { .. }
            | ContactCommand::UndoMerge { .. }
            | ContactCommand::UnlinkCompany { .. } => (None, None),
        };
        if let Some(company) = company {
            let row = company::Entity::find_by_id((tenant, company.0))
                .one(uow.connection())
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
            ContactCommand::Update(_) | ContactCommand::MergeInto { .. } => {
                current.and_then(|c| c.email)
            }
            _ => None,
        };
        // A patch that names the email and leaves it blank or null clears it; a contact
        // merged into another gives its email up (the survivor may take it).
        let clears_email = matches!(&command, ContactCommand::Update(ContactPatch { email: Some(e), .. }) if e.as_deref().is_none_or(|e| e.trim().is_empty()))
            || matches!(&command, ContactCommand::MergeInto { .. });
        let changes_email = new_email
            .as_ref()
            .is_some_and(|e| old_email.as_deref() != Some(e.as_str()));
        let guarded = if_version.is_some();
        let creates = matches!(command, ContactCommand::Create(_));
        let (stream, command) = (
            StreamId::new(meta.tenant_id, contact),
            Guarded {
                if_version,
                command,
            },
        );
        let (_, appended) = if creates {
            uow.create::<Contact>(&self.keyring, stream, command, meta)
                .await?
        } else {
            uow.execute::<Contact>(&self.keyring, stream, command, meta, guarded)
                .await?
        };
        // The command was accepted: its claims commit with its events or not at all.
        if let Some(email) = new_email.as_ref().filter(|_| changes_email) {
            if let Claim::Taken { by } =
                claims::claim_contact_email(uow.connection(), &scope, email.as_str(), contact.0)
                    .await?
            {
                return Err(AppError::Conflict(format!(
                    "another contact ({by}) of this workspace has this email"
                )));
            }
        }
        if changes_email || clears_email {
            if let Some(old) = old_email {
                claims::release_contact_email(uow.connection(), &scope, &old, contact.0).await?;
            }
        }
        Ok(appended)
    }
}
