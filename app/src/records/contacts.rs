//! Contacts: the view, the bodies, the record type, and erasure and company links.

use crm_domain::contact::{ContactCommand, ContactInput, ContactPatch};
use crm_domain::{EntityId, EventMetadata, Guarded};
use crm_projections::entities::contact::{self, Model};
use crm_projections::queries::contacts;
use crm_store::TenantScope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::listing::{Column, Listed};
use super::{Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;

crm_projections::contact_table!(crate::records::view::record_view);

/// `POST /v1/contacts` body: the command's input.
pub type CreateContact = ContactInput;
/// `PATCH /v1/contacts/{id}` body: the command's patch.
pub type PatchContact = ContactPatch;

/// Contacts in the record machinery.
pub struct Contacts;

impl Record for Contacts {
    const TYPE: RecordType = RecordType::Contact;
    type Row = Model;
    type Table = contact::Entity;
    type View = ContactView;
    type Detail = ContactDetail;
    type Create = CreateContact;
    type Patch = PatchContact;
    type Command = ContactCommand;

    async fn execute(
        s: Services<'_>,
        id: EntityId,
        command: Guarded<ContactCommand>,
        meta: &EventMetadata,
        _new: bool,
    ) -> Result<Option<Model>, AppError> {
        // A contact's create never loads its stream anyway (`Commands::contact_in`).
        s.commands.contact_record(id, command, meta).await
    }

    async fn create_command(
        _: Services<'_>,
        _: &Caller,
        body: CreateContact,
    ) -> Result<ContactCommand, AppError> {
        Ok(ContactCommand::Create(body))
    }

    async fn update_command(
        _: Services<'_>,
        _: &Caller,
        _: Uuid,
        if_version: Option<u64>,
        body: PatchContact,
    ) -> Result<Guarded<ContactCommand>, AppError> {
        Ok(Guarded {
            if_version,
            command: ContactCommand::Update(body),
        })
    }

    fn create_custom(
        body: &mut Self::Create,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Contact, &mut body.custom))
    }

    fn patch_custom(
        body: &mut Self::Patch,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Contact, &mut body.custom))
    }

    fn merged_into(row: &Model) -> Option<Uuid> {
        row.merged_into
    }

    fn delete_command() -> ContactCommand {
        ContactCommand::Delete
    }

    fn restore_command() -> ContactCommand {
        ContactCommand::Restore
    }

    /// A contact's `GET` shows its company associations too.
    async fn detail(
        s: Services<'_>,
        scope: &TenantScope,
        row: Model,
    ) -> Result<ContactDetail, AppError> {
        detail(s, scope, row).await
    }
}

/// `POST /v1/contacts/{id}/erase` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// Why, 1 to 500 characters (e.g. the request's reference); stored in the event's
    /// metadata, in clear, so it should not itself hold the person's data.
    pub reason: String,
}

/// A contact's association with a company.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyLink {
    /// The company.
    pub company_id: Uuid,
    /// The contact's role there.
    pub role: Option<String>,
}

/// A contact with its company associations (single-record answers).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactDetail {
    /// The contact.
    #[serde(flatten)]
    pub contact: ContactView,
    /// Companies the contact is associated with, besides or including `company_id`.
    pub companies: Vec<CompanyLink>,
}

/// The contact with its company associations.
///
/// # Errors
/// The database's errors.
pub async fn detail(
    s: Services<'_>,
    scope: &TenantScope,
    model: Model,
) -> Result<ContactDetail, AppError> {
    let links = contacts::companies_of(s.db, scope, model.id).await?;
    Ok(ContactDetail {
        contact: ContactView::from(model),
        companies: links
            .into_iter()
            .map(|(company_id, role)| CompanyLink { company_id, role })
            .collect(),
    })
}

/// `PUT /v1/contacts/{id}/companies/{company_id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// The contact's role at the company (e.g. "decision maker"), up to 100 characters.
    pub role: Option<String>,
}

/// Erases the contact's personal data for good (GDPR art. 17): a `ContactErased` event,
/// with `"erasure: <reason>"` in its metadata, destroys the contact's data key in the same
/// transaction, so the names, email, phone and job title of all its events can no longer
/// be decrypted by anyone, while the events stay in the trail and the chain still
/// verifies. The record stays with its personal fields `null` and `erased_at` set.
///
/// # Errors
/// Not found; a conflict when already erased; a stale `if_version`; a validation error
/// for a reason that is not 1 to 500 characters.
pub async fn erase(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    reason: &str,
) -> Result<Model, AppError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(AppError::invalid("reason", "must be 1 to 500 characters"));
    }
    let mut meta = meta.clone();
    meta.reason = Some(format!("erasure: {reason}"));
    super::run::<Contacts>(s, caller, &meta, id, if_version, ContactCommand::Erase).await
}

/// Associates contact `id` with `company_id` (or changes the role there).
///
/// # Errors
/// Forbidden (a Member's edit of another's contact), not found, conflict, a stale
/// `if_version`, a validation error for a company the workspace does not have.
pub async fn link_company(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    company_id: Uuid,
    role: Option<String>,
) -> Result<Model, AppError> {
    let command = ContactCommand::LinkCompany {
        company_id: EntityId(company_id),
        role,
    };
    super::run::<Contacts>(s, caller, meta, id, if_version, command).await
}

/// Ends contact `id`'s association with `company_id`.
///
/// # Errors
/// As [`link_company`]; a validation error when they are not associated.
pub async fn unlink_company(
    s: Services<'_>,
    caller: &Caller,
    meta: &EventMetadata,
    id: Uuid,
    if_version: Option<u64>,
    company_id: Uuid,
) -> Result<Model, AppError> {
    let command = ContactCommand::UnlinkCompany {
        company_id: EntityId(company_id),
    };
    super::run::<Contacts>(s, caller, meta, id, if_version, command).await
}

impl Listed for Contacts {
    type Conditions = contacts::ContactConditions;
    const COLUMNS: &'static [Column<Model>] = EXPORT;
    const FIELDS: Option<crm_domain::fields::RecordKind> =
        Some(crm_domain::fields::RecordKind::Contact);
    fn custom(row: &Model) -> Option<&serde_json::Value> {
        Some(&row.custom)
    }
}
