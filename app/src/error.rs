//! The application layer's error: what a use case can refuse or fail with, in terms of
//! the CRM, not of HTTP. The HTTP layer maps each variant to one status in one place
//! (`crm_api::error`); the command line prints it.

use crm_domain::DomainError;
use serde::Serialize;

/// One failing field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name in the request (a JSON member path, a CSV column or a query
    /// parameter).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every way a use case can refuse or fail.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No such record in the caller's workspace (also for other workspaces' ids).
    #[error("not found")]
    NotFound,
    /// The caller's role (or support grant) does not allow this, or the record is not
    /// theirs to change.
    #[error("forbidden")]
    Forbidden,
    /// The request conflicts with the record's state or another record.
    #[error("{0}")]
    Conflict(String),
    /// Another request changed the record at the same moment (a lost optimistic
    /// concurrency race); sending the request again may succeed.
    #[error("{0}")]
    ConcurrentWrite(String),
    /// The caller named a version the record is no longer at.
    #[error("{0}")]
    PreconditionFailed(String),
    /// The input fails validation; each failing field says why.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// A fault of ours or of a dependency; the cause is for the log, not the caller.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// A validation failure of one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// A fault from any error.
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(err))
    }
}

impl From<DomainError> for AppError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound => Self::NotFound,
            DomainError::AlreadyExists => Self::Conflict("the record already exists".into()),
            DomainError::Deleted | DomainError::NotDeleted | DomainError::Conflict(_) => {
                Self::Conflict(err.to_string())
            }
            DomainError::StaleVersion { .. } => Self::PreconditionFailed(err.to_string()),
            DomainError::Invalid { field, message } => Self::invalid(field, message),
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::internal(err)
    }
}

impl From<crm_projections::queries::page::ListError> for AppError {
    fn from(err: crm_projections::queries::page::ListError) -> Self {
        use crm_projections::queries::page::ListError;
        match err {
            ListError::Cursor(e) => Self::invalid("cursor", e.to_string()),
            ListError::Db(e) => Self::internal(e),
        }
    }
}
