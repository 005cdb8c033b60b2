//! Password hashing with argon2id, on the blocking thread pool.
//!
//! Parameters are OWASP's first recommended argon2id configuration (Password Storage Cheat
//! Sheet): m = 19 MiB (19,456 KiB), t = 2 iterations, p = 1. Hashes are stored as PHC
//! strings, so the parameters travel with each hash and can be raised later.
//!
//! Each hash or verification holds 19 MiB for its duration, so at most as many run at once
//! as the machine has cores ([`HASHING`]); more would only queue on the CPU while holding
//! their memory. The rest wait their turn for up to [`HASH_WAIT`], then get a 503 with
//! `Retry-After`: a storm of 64 sign-ins costs 2 × 19 MiB on this 2-core machine, not
//! 64 × 19 MiB.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::error::AppError;

/// Shortest password accepted, in characters (NIST SP 800-63B §3.1.1.2 asks at least 8;
/// OWASP ASVS 5.0 V6.2.1 asks 12).
pub const MIN_LEN: usize = 12;
/// Longest password accepted, in characters (bounds the hashing work one request buys).
pub const MAX_LEN: usize = 128;

/// How long a hash waits for its turn before the request is answered 503.
pub const HASH_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The permits for concurrent hashes: one per core (`available_parallelism`).
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
});

/// How many hashes run now, and the most that ever ran at once (for the tests and the
/// metrics).
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// The permits [`HASHING`] holds: the most hashes that run at once.
pub fn hashing_permits() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The most hashes that ever ran at once in this process.
pub fn peak_hashing() -> usize {
    PEAK.load(std::sync::atomic::Ordering::Relaxed)
}

/// Runs `work` on the blocking pool once a hashing permit is free.
///
/// # Errors
/// [`AppError::Busy`] after [`HASH_WAIT`] without a permit; 500 if the task fails.
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    use std::sync::atomic::Ordering;
    let busy = || AppError::Busy("too many sign-ins at once; retry in a moment".into());
    let permit = tokio::time::timeout(HASH_WAIT, HASHING.acquire())
        .await
        .map_err(|_| busy())?
        .map_err(|_| busy())?;
    let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
    PEAK.fetch_max(now, Ordering::SeqCst);
    let result = tokio::task::spawn_blocking(work).await;
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    drop(permit);
    result.map_err(AppError::internal)
}

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 passes, 1 lane: constants that `Params::new` accepts.
    let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The built-in list of refused common passwords (see the file's header).
const COMMON: &str = include_str!("common_passwords.txt");

/// The refused passwords, lowercased: the built-in list, or `file`'s when given.
///
/// # Errors
/// The file's read error.
pub fn load_common(file: Option<&str>) -> std::io::Result<std::collections::HashSet<String>> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path)?,
        None => COMMON.to_owned(),
    };
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_lowercase)
        .collect())
}

/// Checks the rules: 12 to 128 characters, not a common password (compared without
/// regard to case), not one character repeated.
///
/// # Errors
/// A 422 on field `password`.
pub fn check_policy(
    password: &SecretString,
    common: &std::collections::HashSet<String>,
) -> Result<(), AppError> {
    let text = password.expose_secret();
    let len = text.chars().count();
    if !(MIN_LEN..=MAX_LEN).contains(&len) {
        return Err(AppError::invalid(
            "password",
            format!("must be {MIN_LEN} to {MAX_LEN} characters"),
        ));
    }
    let mut chars = text.chars();
    let first = chars.next();
    if common.contains(&text.to_lowercase()) || chars.all(|c| Some(c) == first) {
        return Err(AppError::invalid(
            "password",
            "is too common: choose another",
        ));
    }
    Ok(())
}

/// Hashes `password` on the blocking pool, behind the hashing permits.
///
/// # Errors
/// [`AppError::Busy`] when no permit frees up in time; 500 if hashing fails.
pub async fn hash(password: SecretString) -> Result<String, AppError> {
    hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(e.to_string().into()))
    })
    .await?
}

/// A hash of a random password, verified against when an email is unknown so that the
/// answer takes as long as for a known one.
static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Verifies `password` against `stored` (a PHC string), or against a dummy hash when there
/// is none, on the blocking pool behind the hashing permits. Returns whether it matched.
///
/// # Errors
/// [`AppError::Busy`] when no permit frees up in time; 500 if the blocking task fails.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
    hashing(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| {
            DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    argon2()
                        .hash_password(b"no such user, no such password", &salt)
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone()
        });
        let matched = PasswordHash::new(&stored)
            .map(|parsed| {
                argon2()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        known && matched
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_storm_of_hashes_runs_at_most_one_per_core() {
        let storm = (0..16)
            .map(|i| tokio::spawn(hash(SecretString::from(format!("storm password {i:02}")))));
        for outcome in futures::future::join_all(storm).await {
            let hashed = outcome
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e:?}"));
            assert!(hashed.starts_with("$argon2id$"), "{hashed}");
        }
        let peak = peak_hashing();
        assert!(peak >= 1, "no hash was counted");
        assert!(
            peak <= hashing_permits(),
            "{peak} hashes ran at once with {} permits",
            hashing_permits()
        );
    }
}
