//! The one error type of every aggregate's command handler.

use crate::money::MoneyError;
use crate::text::TextError;
use crate::EmailError;

/// Why an aggregate refused a command. The API maps each variant to one HTTP status
/// (404, 409 or 422) in one place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The stream is empty: the record does not exist in this tenant (404).
    #[error("not found")]
    NotFound,
    /// A create command addressed a stream that already has events (409).
    #[error("already exists")]
    AlreadyExists,
    /// The record is deleted; it must be restored before it can change (409).
    #[error("the record is deleted; restore it first")]
    Deleted,
    /// The command conflicts with the record's state for the reason given (409).
    #[error("{0}")]
    Conflict(String),
    /// Restore was asked of a record that is not deleted (409).
    #[error("the record is not deleted")]
    NotDeleted,
    /// The caller's `If-Match` version is not the aggregate's (412).
    #[error("the record is at version {current}, not {expected}: reload it and retry")]
    StaleVersion {
        /// The version the caller expected.
        expected: u64,
        /// The aggregate's version.
        current: u64,
    },
    /// A field failed validation (422).
    #[error("{field}: {message}")]
    Invalid {
        /// The field's name in the API.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl DomainError {
    /// An [`DomainError::Invalid`] for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Maps a money error on `field` to [`DomainError::Invalid`].
    pub fn money(field: &'static str, err: &MoneyError) -> Self {
        Self::invalid(field, err.to_string())
    }
}

impl From<TextError> for DomainError {
    fn from(err: TextError) -> Self {
        let field = match &err {
            TextError::Empty(f) | TextError::Control(f) => f,
            TextError::TooLong { field, .. } => field,
        };
        Self::invalid(field, err.to_string())
    }
}

impl From<(&'static str, EmailError)> for DomainError {
    fn from((field, err): (&'static str, EmailError)) -> Self {
        Self::invalid(field, err.to_string())
    }
}

/// `Ok(current)` when the record can change: it exists and is not deleted.
///
/// # Errors
/// [`DomainError::NotFound`] or [`DomainError::Deleted`].
pub fn ensure_live(exists: bool, deleted: bool) -> Result<(), DomainError> {
    match (exists, deleted) {
        (false, _) => Err(DomainError::NotFound),
        (true, true) => Err(DomainError::Deleted),
        (true, false) => Ok(()),
    }
}

/// The change a patch field makes to a current value: `Some(new)` only when the patch names
/// a value that differs from `current`.
pub fn changed<T: PartialEq>(current: &T, proposed: Option<T>) -> Option<T> {
    proposed.filter(|p| p != current)
}
