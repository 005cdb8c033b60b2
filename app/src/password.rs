//! Password hashing with argon2id, on the blocking thread pool.
//!
//! Parameters are OWASP's first recommended argon2id configuration (Password Storage Cheat
//! Sheet): m = 19 MiB (19,456 KiB), t = 2 iterations, p = 1. Hashes are stored as PHC
//! strings, so the parameters travel with each hash and can be raised later.

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

/// Hashes `password` on the blocking pool.
///
/// # Errors
/// 500 if hashing fails.
pub async fn hash(password: SecretString) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(e.to_string().into()))
    })
    .await
    .map_err(AppError::internal)?
}

/// A hash of a random password, verified against when an email is unknown so that the
/// answer takes as long as for a known one.
static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Verifies `password` against `stored` (a PHC string), or against a dummy hash when there
/// is none, on the blocking pool. Returns whether it matched.
///
/// # Errors
/// 500 if the blocking task fails.
pub async fn verify(password: SecretString, stored: Option<String>) -> Result<bool, AppError> {
    tokio::task::spawn_blocking(move || {
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
    .map_err(AppError::internal)
}
