//! Tags on companies, contacts and deals.

use crate::DomainError;

/// Longest tag, in characters.
pub const TAG_MAX: usize = 50;
/// Most tags on one record.
pub const MAX_TAGS: usize = 50;

/// Normalises a tag list: each tag trimmed and lowercased (so filters need no case rules),
/// 1 to 50 characters without control characters, commas or semicolons (so a list of tags survives CSV export),
/// duplicates dropped keeping the first, at most 50 tags.
///
/// # Errors
/// [`DomainError::Invalid`] on field `tags`.
pub fn normalize(tags: Vec<String>) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty()
            || tag.chars().count() > TAG_MAX
            || tag.chars().any(|c| c.is_control() || c == ',' || c == ';')
        {
            return Err(DomainError::invalid("tags", format!("each tag must be 1 to {TAG_MAX} characters, without commas, semicolons or control characters")));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(DomainError::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_normalised_and_bounded() {
        assert_eq!(
            normalize(vec![" VIP ".into(), "vip".into(), "Partner".into()]),
            Ok(vec!["vip".into(), "partner".into()])
        );
        for bad in [
            vec![String::new()],
            vec!["a,b".into()],
            vec!["x".repeat(51)],
            (0..51).map(|i| format!("t{i}")).collect(),
        ] {
            assert!(normalize(bad).is_err());
        }
    }
}
