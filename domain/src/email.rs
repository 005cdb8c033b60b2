//! Email addresses, validated and normalised.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An email address in normalised form: trimmed, the domain lowercased (RFC 5321 §2.4: the
/// domain is case-insensitive) and the local part lowercased too, because every mail
/// provider a CRM meets treats it so and duplicates must be caught.
///
/// Accepted shape (a pragmatic subset of RFC 5321/5322, as in the WHATWG HTML "valid email
/// address"): `local@domain`, at most 254 characters in all (RFC 5321 §4.5.3.1 path limit
/// less the brackets), local part at most 64, of letters, digits and ``.!#$%&'*+/=?^_`{|}~-``
/// with no leading, trailing or doubled dot; domain of at least two dot-separated labels of
/// letters, digits and hyphens, each 1 to 63 characters, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a text is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address: {reason}")]
pub struct EmailError {
    /// What is wrong, for the error response.
    pub reason: &'static str,
}

impl Email {
    /// Validates and normalises `text`.
    ///
    /// # Errors
    /// [`EmailError`] saying which rule failed.
    pub fn parse(text: &str) -> Result<Self, EmailError> {
        let fail = |reason| Err(EmailError { reason });
        let text = text.trim().to_lowercase();
        if text.len() > 254 {
            return fail("longer than 254 characters");
        }
        let Some((local, domain)) = text.rsplit_once('@') else {
            return fail("missing @");
        };
        if local.is_empty() || local.len() > 64 {
            return fail("local part must be 1 to 64 characters");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return fail("misplaced dot in local part");
        }
        if !local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c))
        {
            return fail("invalid character in local part");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return fail("domain needs a dot");
        }
        for label in labels {
            if label.is_empty() || label.len() > 63 {
                return fail("domain label must be 1 to 63 characters");
            }
            if label.starts_with('-') || label.ends_with('-') {
                return fail("domain label starts or ends with a hyphen");
            }
            if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return fail("invalid character in domain");
            }
        }
        Ok(Self(text))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ").map(|e| e.0),
            Ok("ada.lovelace@example.com".into())
        );
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@x.com",
            "a@",
            "a@b",
            "a..b@x.com",
            ".a@x.com",
            "a@-x.com",
            "a b@x.com",
            "a@x_y.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long_local = format!("{}@x.com", "a".repeat(65));
        assert!(Email::parse(&long_local).is_err());
    }

    #[test]
    fn serde_validates() {
        assert!(serde_json::from_str::<Email>("\"nope\"").is_err());
        assert!(serde_json::from_str::<Email>("\"A@B.io\"").is_ok());
    }
}
