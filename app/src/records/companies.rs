//! Companies: the view, the bodies, and the record type.

use crm_domain::company::{CompanyCommand, CompanyInput, CompanyPatch};
use crm_domain::{EntityId, EventMetadata, Guarded};
use crm_projections::entities::company::{self, Model};
use crm_store::TenantScope;
use uuid::Uuid;

use super::listing::{Column, Listed};
use super::{Record, Services};
use crate::caller::Caller;
use crate::error::AppError;
use crate::history::RecordType;

crm_projections::company_table!(crate::records::view::record_view);

/// `POST /v1/companies` body: the command's input.
pub type CreateCompany = CompanyInput;
/// `PATCH /v1/companies/{id}` body: the command's patch.
pub type PatchCompany = CompanyPatch;

/// Companies in the record machinery.
pub struct Companies;

impl Record for Companies {
    const TYPE: RecordType = RecordType::Company;
    type Row = Model;
    type Table = company::Entity;
    type View = CompanyView;
    type Detail = CompanyView;
    type Create = CreateCompany;
    type Patch = PatchCompany;
    type Command = CompanyCommand;

    async fn execute(
        s: Services<'_>,
        id: EntityId,
        command: Guarded<CompanyCommand>,
        meta: &EventMetadata,
        new: bool,
    ) -> Result<Option<Model>, AppError> {
        s.commands
            .record::<crm_domain::company::Company, _, company::Entity>(id, command, meta, new)
            .await
    }

    async fn create_command(
        _: Services<'_>,
        _: &Caller,
        body: CreateCompany,
    ) -> Result<CompanyCommand, AppError> {
        Ok(CompanyCommand::Create(body))
    }

    async fn update_command(
        _: Services<'_>,
        _: &Caller,
        _: Uuid,
        if_version: Option<u64>,
        body: PatchCompany,
    ) -> Result<Guarded<CompanyCommand>, AppError> {
        Ok(Guarded {
            if_version,
            command: CompanyCommand::Update(body),
        })
    }

    async fn detail(_: Services<'_>, _: &TenantScope, row: Model) -> Result<CompanyView, AppError> {
        Ok(row.into())
    }

    fn create_custom(
        body: &mut Self::Create,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Company, &mut body.custom))
    }

    fn patch_custom(
        body: &mut Self::Patch,
    ) -> Option<(
        crm_domain::fields::RecordKind,
        &mut crm_domain::fields::CustomInput,
    )> {
        Some((crm_domain::fields::RecordKind::Company, &mut body.custom))
    }

    fn merged_into(row: &Model) -> Option<Uuid> {
        row.merged_into
    }

    fn delete_command() -> CompanyCommand {
        CompanyCommand::Delete
    }

    fn restore_command() -> CompanyCommand {
        CompanyCommand::Restore
    }
}

impl Listed for Companies {
    type Conditions = ();
    const COLUMNS: &'static [Column<Model>] = EXPORT;
    const FIELDS: Option<crm_domain::fields::RecordKind> =
        Some(crm_domain::fields::RecordKind::Company);
    fn custom(row: &Model) -> Option<&serde_json::Value> {
        Some(&row.custom)
    }
}
