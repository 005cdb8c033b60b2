//! The range of dates and times the CRM accepts and stores: the years RFC 3339 can write
//! (`date-fullyear = 4DIGIT`, RFC 3339 §5.6), 0000 to 9999. PostgreSQL's `timestamptz`
//! and `date` hold all of them; chrono reads years far outside it (±262,143), which
//! PostgreSQL refuses.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The first and last year accepted.
pub const YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

/// Whether `at` lies in [`YEARS`].
pub fn storable(at: &DateTime<Utc>) -> bool {
    YEARS.contains(&at.year())
}

/// Whether `day` lies in [`YEARS`].
pub fn storable_date(day: &NaiveDate) -> bool {
    YEARS.contains(&day.year())
}

/// Whether `text` reads as a date-time or a date (as chrono reads them from JSON or a
/// query string) outside [`YEARS`]. Text that is no date at all is not outside.
pub fn out_of_range(text: &str) -> bool {
    // Only what has a date's shape: an optional sign, digits, `-`, with no space (chrono
    // also reads "-5 - 3 - 1" as a date).
    let text = text.trim();
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let year_digits = body.bytes().take_while(u8::is_ascii_digit).count();
    if year_digits < 4 || body.as_bytes().get(year_digits) != Some(&b'-') || text.contains(' ') {
        return false;
    }
    if let Ok(at) = text.parse::<DateTime<Utc>>() {
        return !storable(&at);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return !storable(&at.with_timezone(&Utc));
    }
    if let Ok(day) = text.parse::<NaiveDate>() {
        return !storable_date(&day);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_beyond_rfc_3339_are_outside() {
        assert!(out_of_range("-262143-01-01T00:00:00Z"));
        assert!(out_of_range("+262142-12-31T23:59:59Z"));
        assert!(out_of_range("-0001-01-01"));
        assert!(out_of_range("+10000-01-01"));
        assert!(!out_of_range("2026-12-04T08:00:00Z"));
        assert!(!out_of_range("0000-01-01T00:00:00Z"));
        assert!(!out_of_range("9999-12-31"));
        assert!(!out_of_range("Acme Corp"));
        assert!(!out_of_range("-5"));
        assert!(!out_of_range("-5 - 3 - 1"));
        assert!(!out_of_range("12-06-07"));
    }
}
