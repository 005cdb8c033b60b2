//! Shared rules for free-text fields of records.

/// Why a text field was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// The field is required and was empty (after trimming white space).
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// The field is longer than its limit, counted in Unicode scalar values.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field's name in the API.
        field: &'static str,
        /// The limit.
        max: usize,
    },
    /// The field contains a control character (other than none: names are one line).
    #[error("{0} contains a control character")]
    Control(&'static str),
}

/// Trims `value` and checks it is non-empty, at most `max` characters and free of control
/// characters. Returns the trimmed text.
///
/// # Errors
/// [`TextError`] naming `field`.
pub fn required(field: &'static str, value: &str, max: usize) -> Result<String, TextError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(TextError::Empty(field));
    }
    bounded(field, value, max)
}

/// Like [`required`], but an empty value becomes `None` (the field is cleared).
///
/// # Errors
/// [`TextError`] naming `field`.
pub fn optional(field: &'static str, value: &str, max: usize) -> Result<Option<String>, TextError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    bounded(field, value, max).map(Some)
}

/// The first character of `value` that no text of the API accepts: NUL (which
/// PostgreSQL's `text` and `jsonb` cannot hold) and every other control character
/// (Unicode category Cc) except tab, line feed and carriage return. Fields that are one
/// line refuse those three as well ([`required`], [`optional`]).
pub fn forbidden_char(value: &str) -> Option<char> {
    value
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

fn bounded(field: &'static str, value: &str, max: usize) -> Result<String, TextError> {
    if value.chars().count() > max {
        return Err(TextError::TooLong { field, max });
    }
    if value.chars().any(char::is_control) {
        return Err(TextError::Control(field));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert_eq!(required("name", "  Acme ", 10), Ok("Acme".into()));
        assert_eq!(required("name", "   ", 10), Err(TextError::Empty("name")));
        assert!(matches!(
            required("name", "abcdefghijk", 10),
            Err(TextError::TooLong { .. })
        ));
        assert_eq!(
            required("name", "a\u{0}b", 10),
            Err(TextError::Control("name"))
        );
        assert_eq!(optional("phone", " ", 10), Ok(None));
        assert_eq!(forbidden_char("a\u{0}b"), Some('\u{0}'));
        assert_eq!(forbidden_char("bell\u{7}"), Some('\u{7}'));
        assert_eq!(forbidden_char("c1\u{85}"), Some('\u{85}'));
        assert_eq!(forbidden_char("two\nlines\tand a tab\r\n"), None);
    }
}
