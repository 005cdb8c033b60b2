//! When a failed message is tried again: the Standard Webhooks / Svix retry schedule
//! (<https://docs.svix.com/retries>): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the
//! first, second, … failed attempt, each with up to ±10 % jitter so endpoints that failed
//! together are not retried together; then the message has failed. A 429, 502, 503 or 504
//! with `Retry-After` (RFC 9110 §10.2.3) waits what the receiver asked instead, at most a
//! day.

use chrono::{DateTime, Duration, Utc};

/// Waits after each failed attempt; its length is the number of retries (8 attempts).
pub const DELAYS: [Duration; 7] = [
    Duration::seconds(5),
    Duration::minutes(5),
    Duration::minutes(30),
    Duration::hours(2),
    Duration::hours(5),
    Duration::hours(10),
    Duration::hours(10),
];

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::hours(24);

/// The wait after failed attempt number `attempt` (1 for the first), or `None` when it
/// was the last. `retry_after` is the receiver's wish (statuses 429, 502, 503, 504 only);
/// `jitter` is in -1.0..=1.0 and moves the wait by up to 10 %.
pub fn next_wait(attempt: u32, retry_after: Option<Duration>, jitter: f64) -> Option<Duration> {
    let scheduled = *DELAYS.get(usize::try_from(attempt).ok()?.checked_sub(1)?)?;
    if let Some(asked) = retry_after {
        return Some(asked.clamp(Duration::seconds(1), MAX_RETRY_AFTER));
    }
    let jitter = jitter.clamp(-1.0, 1.0) * 0.1;
    let ms = scheduled.num_milliseconds() as f64;
    Some(Duration::milliseconds((ms * (1.0 + jitter)).round() as i64))
}

/// Reads `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3, §5.6.7), as a
/// wait from `now`; `None` when it is neither.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(Duration::seconds(i64::from(seconds)));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).max(Duration::zero()))
}

/// Whether a status lets `Retry-After` set the wait.
pub fn honours_retry_after(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_svix_s_with_ten_percent_jitter() {
        assert_eq!(next_wait(1, None, 0.0), Some(Duration::seconds(5)));
        assert_eq!(next_wait(2, None, 0.0), Some(Duration::minutes(5)));
        assert_eq!(next_wait(7, None, 0.0), Some(Duration::hours(10)));
        assert_eq!(next_wait(8, None, 0.0), None);
        assert_eq!(next_wait(0, None, 0.0), None);
        assert_eq!(next_wait(1, None, 1.0), Some(Duration::milliseconds(5_500)));
        assert_eq!(
            next_wait(1, None, -1.0),
            Some(Duration::milliseconds(4_500))
        );
        assert_eq!(
            next_wait(1, Some(Duration::seconds(120)), 0.5),
            Some(Duration::seconds(120))
        );
        assert_eq!(
            next_wait(3, Some(Duration::days(9)), 0.0),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(next_wait(8, Some(Duration::seconds(1)), 0.0), None);
    }

    #[test]
    fn retry_after_is_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-12-05T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        assert_eq!(retry_after("120", now), Some(Duration::seconds(120)));
        assert_eq!(
            retry_after("Sat, 05 Dec 2026 10:01:00 GMT", now),
            Some(Duration::seconds(60))
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-5", now), None);
        assert!(honours_retry_after(503) && !honours_retry_after(500));
    }
}
