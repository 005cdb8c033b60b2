//! Outgoing mail the server asks for (password-reset and invitation tokens). No mail transport is built in:
//! the default [`LogMailer`] only records that a message is due; a deployment plugs in its
//! own [`Mailer`], and tests read the [`MemoryMailer`].

#[cfg(feature = "test-support")]
use std::sync::Mutex;

/// Sends the server's messages.
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends `email` the single-use password-reset `token`.
    fn password_reset(&self, email: &str, token: &str);
    /// Sends `email` the single-use invitation `token` into a workspace.
    fn invitation(&self, email: &str, token: &str);
}

/// Logs that a message is due, never its secret, and warns that nothing was sent.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogMailer;

impl Mailer for LogMailer {
    fn password_reset(&self, _email: &str, _token: &str) {
        tracing::warn!(
            "a password reset was requested, but no mail transport is configured: nothing was sent"
        );
    }

    fn invitation(&self, _email: &str, _token: &str) {
        tracing::warn!(
            "an invitation was created, but no mail transport is configured: nothing was sent"
        );
    }
}

/// Keeps every message in memory (for tests; feature `test-support`).
#[cfg(feature = "test-support")]
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<(String, String)>>,
}

#[cfg(feature = "test-support")]
impl MemoryMailer {
    /// The last token sent to `email`, if any.
    pub fn last_token_for(&self, email: &str) -> Option<String> {
        let sent = self.sent.lock().ok()?;
        sent.iter()
            .rev()
            .find(|(to, _)| to == email)
            .map(|(_, token)| token.clone())
    }

    /// How many messages were sent.
    pub fn count(&self) -> usize {
        self.sent.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(feature = "test-support")]
impl Mailer for MemoryMailer {
    fn password_reset(&self, email: &str, token: &str) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push((email.to_owned(), token.to_owned()));
        }
    }

    fn invitation(&self, email: &str, token: &str) {
        self.password_reset(email, token);
    }
}
