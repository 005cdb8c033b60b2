//! The range of dates and times the CRM accepts and stores: the years RFC 3339 can write
//! (`date-fullyear = 4DIGIT`, RFC 3339 §5.6) less year 0000, so 0001 to 9999.
//! PostgreSQL's text forms have no year 0 (`'0000-01-01'::date` fails: it counts 1 BC
//! before AD 1), and custom values are JSON text that filters and sorts cast; chrono reads
//! years far outside it (±262,143), which PostgreSQL refuses.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The first and last year accepted.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Whether `at` lies in [`YEARS`].
pub fn storable(at: &DateTime<Utc>) -> bool {
    YEARS.contains(&at.year())
}

/// Whether `day` lies in [`YEARS`].
pub fn storable_date(day: &NaiveDate) -> bool {
    YEARS.contains(&day.year())
}

/// Reads a calendar date written `YYYY-MM-DD` (RFC 3339 `full-date`: four year digits)
/// in [`YEARS`]; `None` for anything else, including chrono's signed or short years.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || !bytes[..4].iter().all(u8::is_ascii_digit) || bytes[4] != b'-' {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(storable_date)
}

/// Reads an RFC 3339 date-time with its offset, as the UTC instant, which must lie in
/// [`YEARS`] (`0001-01-01T00:30:00+01:00` is year 0 in UTC: `None`).
pub fn parse_date_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
        .filter(storable)
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
        assert!(out_of_range("0000-01-01T00:00:00Z"));
        assert!(out_of_range("0000-12-31"));
        assert!(!out_of_range("0001-01-01T00:00:00Z"));
        assert!(!out_of_range("9999-12-31"));
        assert!(!out_of_range("Acme Corp"));
        assert!(!out_of_range("-5"));
        assert!(!out_of_range("-5 - 3 - 1"));
        assert!(!out_of_range("12-06-07"));
    }

    #[test]
    fn dates_need_four_year_digits_from_0001() {
        assert_eq!(
            parse_date("2026-12-05"),
            NaiveDate::from_ymd_opt(2026, 12, 5)
        );
        assert_eq!(parse_date("0001-01-01"), NaiveDate::from_ymd_opt(1, 1, 1));
        for text in [
            "0000-01-01",
            "1-01-01",
            "+2026-12-05",
            "-001-01-01",
            "2026-02-30",
            "20261-1-1",
        ] {
            assert_eq!(parse_date(text), None, "{text}");
        }
        assert!(parse_date_time("2026-12-05T10:00:00+01:00").is_some());
        assert!(parse_date_time("0001-01-01T00:30:00+01:00").is_none());
        assert!(parse_date_time("0000-06-01T00:00:00Z").is_none());
        assert!(parse_date_time("9999-12-31T23:30:00-01:00").is_none());
    }
}
