//! Commands with a precondition on the aggregate's version (HTTP `If-Match`).

use crate::DomainError;

/// A command, optionally guarded by the version the caller last saw.
///
/// The version of an aggregate is the number of events in its stream (the sequence of the
/// last one); read models store it and the API sends it as the `ETag`. With
/// `if_version: Some(v)` the command runs only if the stream is still at `v`: two browser
/// tabs editing one record cannot overwrite each other silently (RFC 9110 §13.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guarded<C> {
    /// The version the caller expects, if any.
    pub if_version: Option<u64>,
    /// The command.
    pub command: C,
}

impl<C> Guarded<C> {
    /// `command`, run only if the aggregate is at `version`.
    pub fn at(version: u64, command: C) -> Self {
        Self {
            if_version: Some(version),
            command,
        }
    }
}

impl<C> From<C> for Guarded<C> {
    fn from(command: C) -> Self {
        Self {
            if_version: None,
            command,
        }
    }
}

/// Checks a guard against the aggregate's current version.
///
/// # Errors
/// [`DomainError::StaleVersion`] when they differ.
pub fn check_version(current: u64, expected: Option<u64>) -> Result<(), DomainError> {
    match expected {
        Some(expected) if expected != current => {
            Err(DomainError::StaleVersion { expected, current })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_rules() {
        assert_eq!(check_version(3, None), Ok(()));
        assert_eq!(check_version(3, Some(3)), Ok(()));
        assert_eq!(
            check_version(4, Some(3)),
            Err(DomainError::StaleVersion {
                expected: 3,
                current: 4
            })
        );
    }
}
