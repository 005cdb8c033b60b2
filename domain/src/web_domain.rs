//! Company web domains, normalised from whatever a person or an export wrote.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A company's internet domain, normalised: scheme, credentials, port, path, query and a
/// leading `www.` are removed, the rest lowercased. `https://www.Ubisoft.com/de-de/` becomes
/// `ubisoft.com`.
///
/// Accepted result: at most 253 characters (RFC 1035 §2.3.4), at least two labels of
/// letters, digits and hyphens, 1 to 63 characters each, not starting or ending with `-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebDomain(String);

/// Text that does not normalise to a valid domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid domain name: {0:?}")]
pub struct WebDomainError(pub String);

impl WebDomain {
    /// Normalises and validates `text`.
    ///
    /// # Errors
    /// [`WebDomainError`] when the host part is not a valid domain name.
    pub fn parse(text: &str) -> Result<Self, WebDomainError> {
        let lower = text.trim().to_lowercase();
        let rest = lower.split_once("://").map_or(lower.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        let host = rest.split(['/', '?', '#', ':']).next().unwrap_or_default();
        let host = host
            .strip_prefix("www.")
            .unwrap_or(host)
            .trim_end_matches('.');
        let valid = host.len() <= 253
            && host.split('.').count() >= 2
            && host.split('.').all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if valid {
            Ok(Self(host.to_owned()))
        } else {
            Err(WebDomainError(text.to_owned()))
        }
    }

    /// The normalised domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WebDomain {
    type Error = WebDomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<WebDomain> for String {
    fn from(value: WebDomain) -> Self {
        value.0
    }
}

impl fmt::Display for WebDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_urls_to_domains() {
        let p = |s: &str| WebDomain::parse(s).map(|d| d.0);
        assert_eq!(p("www.ubisoft.com/de-de/"), Ok("ubisoft.com".into()));
        assert_eq!(
            p("https://Shop.Example.co.uk:8443/x?y"),
            Ok("shop.example.co.uk".into())
        );
        assert_eq!(p("ericsson.com"), Ok("ericsson.com".into()));
        for bad in ["", "localhost", "exa mple.com", "-x.com", "http://", "a..b"] {
            assert!(WebDomain::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
