//! Contacts: the view, the bodies, the record type, and erasure and company links.

use chrono::{DateTime, Utc};
use crm_domain::contact::{ContactCommand, ContactInput, ContactPatch};
use crm_domain::{EntityId, EventMetadata, Guarded};
use crm_projections::entities::contact::{self, Model};
use crm_projections::queries::contacts;
use crm_store::page::{ListError, Page};
use crm_store::TenantScope;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::listing::{opt, text, Column, Listed};
use super::{Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;

/// A contact as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContactView {
    /// Id.
    pub id: Uuid,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Normalised email.
    pub email: Option<String>,
    /// Phone as written.
    pub phone: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// The company the contact works for.
    pub company_id: Option<Uuid>,
    /// Tags (lowercase).
    pub tags: Vec<String>,
    /// Soft-deleted.
    pub deleted: bool,
    /// Aggregate version (also the `ETag`).
    pub version: i64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change time.
    pub updated_at: DateTime<Utc>,
    /// Creating actor.
    pub created_by: String,
    /// Last changing actor.
    pub updated_by: String,
    /// When the contact's personal data was erased; `null` while it is not. An erased
    /// contact has its names, email, phone and job title `null` for good.
    pub erased_at: Option<DateTime<Utc>>,
}

impl From<Model> for ContactView {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            first_name: m.first_name,
            last_name: m.last_name,
            email: m.email,
            phone: m.phone,
            job_title: m.job_title,
            company_id: m.company_id,
            tags: m.tags,
            deleted: m.deleted,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            created_by: m.created_by,
            updated_by: m.updated_by,
            erased_at: m.erased_at,
        }
    }
}

/// `POST /v1/contacts` body. A contact needs a first name, a last name or an email.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContact {
    /// Given name, up to 100 characters.
    pub first_name: Option<String>,
    /// Family name, up to 100 characters.
    pub last_name: Option<String>,
    /// Email, unique in the workspace (409 otherwise).
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Job title.
    pub job_title: Option<String>,
    /// A company of the workspace.
    pub company_id: Option<Uuid>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `PATCH /v1/contacts/{id}` body: absent fields stay, `null` clears (RFC 7396).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchContact {
    /// New given name or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub first_name: Option<Option<String>>,
    /// New family name or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub last_name: Option<Option<String>>,
    /// New email or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub email: Option<Option<String>>,
    /// New phone or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub phone: Option<Option<String>>,
    /// New job title or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub job_title: Option<Option<String>>,
    /// New company or null.
    #[serde(default, deserialize_with = "crm_domain::patch::double_option")]
    pub company_id: Option<Option<Uuid>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
}

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
        Ok(ContactCommand::Create(ContactInput {
            first_name: body.first_name,
            last_name: body.last_name,
            email: body.email,
            phone: body.phone,
            job_title: body.job_title,
            company_id: body.company_id.map(EntityId),
            tags: body.tags,
        }))
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
            command: ContactCommand::Update(ContactPatch {
                first_name: body.first_name,
                last_name: body.last_name,
                email: body.email,
                phone: body.phone,
                job_title: body.job_title,
                company_id: body.company_id.map(|o| o.map(EntityId)),
                tags: body.tags,
            }),
        })
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
    type Filter = contacts::ContactFilter;
    const COLUMNS: &'static [Column<Model>] = &[
        Column {
            name: "id",
            cell: |c| c.id.to_string(),
        },
        Column {
            name: "first_name",
            cell: |c| text(c.first_name.as_deref()),
        },
        Column {
            name: "last_name",
            cell: |c| text(c.last_name.as_deref()),
        },
        Column {
            name: "email",
            cell: |c| text(c.email.as_deref()),
        },
        Column {
            name: "phone",
            cell: |c| text(c.phone.as_deref()),
        },
        Column {
            name: "job_title",
            cell: |c| text(c.job_title.as_deref()),
        },
        Column {
            name: "company_id",
            cell: |c| opt(c.company_id),
        },
        Column {
            name: "tags",
            cell: |c| text(Some(&c.tags.join(";"))),
        },
        Column {
            name: "deleted",
            cell: |c| c.deleted.to_string(),
        },
        Column {
            name: "created_at",
            cell: |c| c.created_at.to_rfc3339(),
        },
        Column {
            name: "updated_at",
            cell: |c| c.updated_at.to_rfc3339(),
        },
    ];

    async fn page(
        db: &DatabaseConnection,
        scope: &TenantScope,
        filter: &Self::Filter,
    ) -> Result<Page<Model>, ListError> {
        contacts::list(db, scope, filter).await
    }

    fn paged(filter: &Self::Filter, limit: u64, cursor: Option<String>) -> Self::Filter {
        contacts::ContactFilter {
            limit: Some(limit),
            cursor,
            ..filter.clone()
        }
    }
}
