//! Password hashing with argon2id, on the blocking thread pool.
//!
//! Parameters are OWASP's first recommended argon2id configuration (Password Storage Cheat
//! Sheet): m = 19 MiB (19,456 KiB), t = 2 iterations, p = 1. Hashes are stored as PHC
//! strings, so the parameters travel with each hash and can be raised later.
//!
//! Each hash or verification holds 19 MiB for its duration, so at most as many run at once
//! as the machine has cores ([`HASHING`]); more would only queue on the CPU while holding
//! their memory. The rest wait their turn for up to [`HASH_WAIT`], then get a 503 with
//! `Retry-After`. The 19 MiB themselves are allocated once per permit and reused
//! ([`WorkingMemory`]): freed and allocated again per hash, the allocator kept them
//! (a storm of 64 sign-ins left the server at 720 MiB); reused, a storm costs 2 × 19 MiB
//! on this 2-core machine, however long it lasts.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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
    let busy = || {
        crate::metrics::hash_refused();
        AppError::Busy("too many sign-ins at once; retry in a moment".into())
    };
    let waiting = Gauge::waiting();
    let permit = tokio::time::timeout(HASH_WAIT, HASHING.acquire()).await;
    drop(waiting);
    let permit = permit.map_err(|_| busy())?.map_err(|_| busy())?;
    // The permit and the count go with the hash, not with the request: a request dropped
    // mid-hash (its client gone) leaves them held until the hash ends.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _running = Gauge::running();
        work()
    })
    .await
    .map_err(AppError::internal)
}

/// A hash waiting for a permit, or running, counted while it lives (in [`RUNNING`],
/// [`PEAK`] and the metrics), however its future ends.
enum Gauge {
    Waiting,
    Running,
}

impl Gauge {
    fn waiting() -> Self {
        crate::metrics::hashes_waiting(1.0);
        Self::Waiting
    }

    fn running() -> Self {
        use std::sync::atomic::Ordering;
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        crate::metrics::hashes_running(1.0);
        Self::Running
    }
}

impl Drop for Gauge {
    fn drop(&mut self) {
        match self {
            Self::Waiting => crate::metrics::hashes_waiting(-1.0),
            Self::Running => {
                RUNNING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                crate::metrics::hashes_running(-1.0);
            }
        }
    }
}

/// The parameters of new hashes: 19 MiB, 2 passes, 1 lane (constants `Params::new`
/// accepts).
fn params() -> Params {
    Params::new(19_456, 2, 1, None).unwrap_or_default()
}

/// Argon2's working memory, one buffer per hash running at once, kept between hashes.
/// A hash takes a buffer while it holds its permit, so no more buffers exist than
/// permits; a stored hash with larger parameters than [`params`] gets a buffer of its
/// own for that once.
struct WorkingMemory;

static BUFFERS: std::sync::Mutex<Vec<Vec<Block>>> = std::sync::Mutex::new(Vec::new());

impl WorkingMemory {
    /// Runs argon2 (`algorithm`, `version`, `params`) over `password` and `salt` into
    /// `out`, in a kept buffer.
    fn hash_into(
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let needed = params.block_count();
        let kept = BUFFERS.lock().ok().and_then(|mut b| b.pop());
        let mut buffer = match kept {
            Some(buffer) if buffer.len() >= needed => buffer,
            other => {
                // Too small (older, larger parameters) or none yet: a new one, of at
                // least the standard size so that it can be kept.
                if let Some(small) = other {
                    Self::keep(small);
                }
                vec![Block::default(); needed.max(params_blocks())]
            }
        };
        let result = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            out,
            &mut buffer[..needed],
        );
        if buffer.len() == params_blocks() {
            Self::keep(buffer);
        }
        result
    }

    fn keep(buffer: Vec<Block>) {
        if let Ok(mut buffers) = BUFFERS.lock() {
            if buffers.len() < hashing_permits() {
                buffers.push(buffer);
            }
        }
    }
}

/// The blocks of the standard parameters (19,456 of 1 KiB).
fn params_blocks() -> usize {
    params().block_count()
}

/// A new PHC string for `password`: argon2id v19 with [`params`], a random 16-byte salt.
fn hash_now(password: &[u8]) -> Result<String, AppError> {
    let internal = |e: &dyn std::fmt::Display| AppError::Internal(e.to_string().into());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| internal(&e))?;
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    WorkingMemory::hash_into(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        salt_raw,
        &mut out,
    )
    .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant, version and
/// parameters it names); false when `stored` does not parse. The outputs are compared in
/// constant time (`password_hash::Output`'s equality).
fn matches(password: &[u8], stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Version::try_from(parsed.version.unwrap_or(0x13)),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    WorkingMemory::hash_into(algorithm, version, params, password, salt_raw, &mut out).is_ok()
        && Output::new(&out).is_ok_and(|computed| computed == expected)
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
    hashing(move || hash_now(password.expose_secret().as_bytes())).await?
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
                .get_or_init(|| hash_now(b"no such user, no such password").unwrap_or_default())
                .clone()
        });
        let matched = matches(password.expose_secret().as_bytes(), &stored);
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
        let kept = BUFFERS.lock().map(|b| b.len()).unwrap_or(usize::MAX);
        assert!(
            (1..=hashing_permits()).contains(&kept),
            "{kept} working buffers kept for {} permits",
            hashing_permits()
        );
    }

    #[test]
    fn hashes_verify_both_ways_with_the_argon2_crates_own_hasher() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_now(b"correct horse battery staple").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        assert!(matches(b"correct horse battery staple", &ours));
        assert!(!matches(b"correct horse battery stapler", &ours));
        // What the crate makes (every stored hash before the kept buffers) verifies here,
        // with other parameters too; what we make verifies there.
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8_192, 3, 1, None).unwrap_or_default(),
        )
        .hash_password(b"older hash", &salt)
        .map(|h| h.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches(b"older hash", &theirs));
        assert!(!matches(b"older hasH", &theirs));
        let parsed = PasswordHash::new(&ours).unwrap_or_else(|e| panic!("{e}"));
        assert!(Argon2::default()
            .verify_password(b"correct horse battery staple", &parsed)
            .is_ok());
        assert!(!matches(b"anything", "not a phc string"));
        assert!(!matches(b"anything", ""));
    }
}
