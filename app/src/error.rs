//! The application layer's error: what a use case can refuse or fail with, in terms of
//! the CRM, not of HTTP. The HTTP layer maps each variant to one status in one place
//! (`crm_api::error`); the command line prints it.

use crm_domain::DomainError;
use serde::Serialize;

/// The conflict of a create whose record exists already.
pub const ALREADY_EXISTS: &str = "the record already exists";

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
    /// The credentials are missing, wrong or expired; the message says which in terms
    /// safe to show (never whether an account exists).
    #[error("{0}")]
    Unauthenticated(&'static str),
    /// Too many attempts; the caller may try again after this many seconds.
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
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
    /// The request's effect is saved, or being saved by an earlier attempt, but the answer
    /// cannot be built yet (its read model lags); the same request sent again shortly
    /// gets it. The text says what to do.
    #[error("{0}")]
    Pending(String),
    /// The server is at capacity for this kind of work (password hashing) and waited as
    /// long as it may; the same request may succeed in a moment. The text says which.
    #[error("{0}")]
    Busy(String),
    /// The database cannot be reached now (refused or lost connections, no connection
    /// free within the pool's acquire timeout, a server shutting down); the same request
    /// may succeed later. The cause is for the log.
    #[error("the database cannot be reached: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A fault of ours or of a dependency; the cause is for the log, not the caller.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What a failure of the database says about the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// The database cannot be reached now.
    Unreachable,
    /// PostgreSQL refused a value (SQLSTATE class 22, "data exception"): input the
    /// boundary should have refused.
    Data,
    /// PostgreSQL rolled the transaction back to resolve a conflict with another one
    /// (SQLSTATE class 40: a deadlock, a serialization failure): nothing was written, and
    /// the same request sent again normally succeeds.
    Rollback,
}

/// Classifies `err` by the first database error in its chain of sources: a connection
/// that cannot be had or was lost (sqlx's pool timeout, I/O and TLS errors; SQLSTATE
/// classes 08 "connection exception" and 57P "operator intervention", and 53300
/// "too many connections") is [`Fault::Unreachable`]; class 22 is [`Fault::Data`]; class 40
/// is [`Fault::Rollback`] (PostgreSQL documentation, appendix A, "PostgreSQL Error Codes").
fn classify(err: &(dyn std::error::Error + 'static)) -> Option<Fault> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(db) = e.downcast_ref::<sea_orm::DbErr>() {
            use sea_orm::{DbErr, RuntimeErr};
            match db {
                DbErr::ConnectionAcquire(_) => return Some(Fault::Unreachable),
                DbErr::Conn(RuntimeErr::SqlxError(x))
                | DbErr::Exec(RuntimeErr::SqlxError(x))
                | DbErr::Query(RuntimeErr::SqlxError(x)) => return classify_sqlx(x),
                _ => {}
            }
        }
        if let Some(x) = e.downcast_ref::<sqlx::Error>() {
            return classify_sqlx(x);
        }
        // A `DbErr` wrapped transparently shows its source alone.
        if e.downcast_ref::<sea_orm::error::ConnAcquireErr>().is_some() {
            return Some(Fault::Unreachable);
        }
        current = e.source();
    }
    None
}

fn classify_sqlx(err: &sqlx::Error) -> Option<Fault> {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Some(Fault::Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            if code.starts_with("08") || code == "53300" || code.starts_with("57P") {
                Some(Fault::Unreachable)
            } else if code.starts_with("22") {
                Some(Fault::Data)
            } else if code.starts_with("40") {
                Some(Fault::Rollback)
            } else {
                None
            }
        }
        _ => None,
    }
}

impl AppError {
    /// A validation failure of one field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }

    /// The error for a failure of ours or of a dependency: [`AppError::Unavailable`] when
    /// the database cannot be reached, a validation error when PostgreSQL refused a value
    /// of the request, [`AppError::Internal`] otherwise.
    pub fn internal(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::from_boxed(Box::new(err))
    }

    /// As [`AppError::internal`], for a boxed error.
    pub fn from_boxed(err: Box<dyn std::error::Error + Send + Sync>) -> Self {
        match classify(err.as_ref()) {
            Some(Fault::Unreachable) => Self::Unavailable(err),
            Some(Fault::Data) => {
                // Input the boundary should have refused: a bug to fix, told as one.
                tracing::error!(error = %err, "PostgreSQL refused a value (SQLSTATE class 22)");
                Self::invalid("request", "a value of the request cannot be stored")
            }
            Some(Fault::Rollback) => {
                tracing::warn!(error = %err, "PostgreSQL rolled a command back (SQLSTATE class 40)");
                Self::ConcurrentWrite(
                    "the database stopped this request to resolve a conflict with another; \
                     nothing was written: retry"
                        .into(),
                )
            }
            None => Self::Internal(err),
        }
    }
}

impl From<DomainError> for AppError {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::NotFound => Self::NotFound,
            DomainError::AlreadyExists => Self::Conflict(ALREADY_EXISTS.into()),
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
        match taken_value(&err) {
            Some(why) => Self::Conflict(why),
            None => Self::internal(err),
        }
    }
}

/// SQLSTATE of a unique custom value another record holds (`crm_claim_custom`,
/// migration 000033): an implementation-defined class, as SQL:2016 allows (classes
/// starting `I`–`Z`).
const VALUE_TAKEN: &str = "Z0409";

/// The message of a refused unique custom value (`custom.<key>: another company has this
/// value (<id>)`), when `err` is one.
fn taken_value(err: &sea_orm::DbErr) -> Option<String> {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx::Error::Database(db)))
        | DbErr::Query(RuntimeErr::SqlxError(sqlx::Error::Database(db)))
            if db.code().as_deref() == Some(VALUE_TAKEN) =>
        {
            Some(db.message().to_owned())
        }
        _ => None,
    }
}

impl From<crm_store::page::ListError> for AppError {
    fn from(err: crm_store::page::ListError) -> Self {
        use crm_store::page::ListError;
        match err {
            ListError::Cursor(e) => Self::invalid("cursor", e.to_string()),
            ListError::Db(e) => Self::internal(e),
        }
    }
}
