//! TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of clock skew either
//! way) with secrets encrypted at rest by AES-256-GCM (NIST SP 800-38D), bound to their
//! tenant and user as associated data so a ciphertext moved to another row does not
//! decrypt.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

use crate::error::AppError;

/// Seconds per TOTP step (RFC 6238 §5.2 recommends 30).
pub const STEP: u64 = 30;
/// Bytes of a new shared secret: 160 bits, as RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;
/// Recovery codes per enrolment.
pub const RECOVERY_CODES: usize = 10;

/// The AES-256 key that encrypts TOTP secrets and webhook signing secrets (bound to
/// workspace and user, or workspace and endpoint).
#[derive(Clone)]
pub struct SecretBox(Key<Aes256Gcm>);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    /// A box from 32 key bytes.
    pub fn new(key: [u8; 32]) -> Self {
        Self(Key::<Aes256Gcm>::from(key))
    }

    fn aad(tenant: Uuid, user: Uuid) -> Vec<u8> {
        [tenant.as_bytes().as_slice(), user.as_bytes().as_slice()].concat()
    }

    /// Encrypts `secret` for `user` of `tenant`; returns (ciphertext, nonce).
    ///
    /// # Errors
    /// 500 if encryption fails.
    pub fn seal(
        &self,
        tenant: Uuid,
        user: Uuid,
        secret: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), AppError> {
        let mut nonce = [0_u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(tenant, user);
        let sealed = Aes256Gcm::new(&self.0)
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: secret,
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::Internal("encryption failed".into()))?;
        Ok((sealed, nonce.to_vec()))
    }

    /// Decrypts a secret of `user` of `tenant`.
    ///
    /// # Errors
    /// 500 if it does not decrypt (wrong key, or a row tampered with or moved).
    pub fn open(
        &self,
        tenant: Uuid,
        user: Uuid,
        ciphertext: &[u8],
        nonce: &[u8],
    ) -> Result<Vec<u8>, AppError> {
        let nonce: [u8; 12] = nonce
            .try_into()
            .map_err(|_| AppError::Internal("bad nonce".into()))?;
        let aad = Self::aad(tenant, user);
        Aes256Gcm::new(&self.0)
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| AppError::Internal("a sealed secret does not decrypt".into()))
    }
}

/// The TOTP generator for `secret`, labelled for authenticator apps.
///
/// # Errors
/// 500 for a secret the RFC refuses (shorter than 128 bits).
pub fn totp(secret: Vec<u8>, account: &str) -> Result<TOTP, AppError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret,
        Some("CRM".to_owned()),
        account.to_owned(),
    )
    .map_err(|e| AppError::Internal(e.to_string().into()))
}

/// The time step at which `code` is valid around `now` (Unix seconds), allowing one step
/// of skew, or `None`.
pub fn matching_step(totp: &TOTP, code: &str, now: u64) -> Option<i64> {
    let step = now / STEP;
    [step.saturating_sub(1), step, step + 1]
        .into_iter()
        .find(|s| totp.generate(s * STEP) == code.trim())
        .and_then(|s| i64::try_from(s).ok())
}

/// A new random shared secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0_u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// New recovery codes (`xxxxx-xxxxx`, 10 characters of a 32-letter alphabet: 50 bits) and
/// their SHA-256 hashes.
pub fn new_recovery_codes() -> Vec<(String, Vec<u8>)> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0_u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            let chars: String = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
                .collect();
            let code = format!("{}-{}", &chars[..5], &chars[5..]);
            let hash = recovery_hash(&code);
            (code, hash)
        })
        .collect()
}

/// SHA-256 of a recovery code as typed (trimmed, lowercased).
pub fn recovery_hash(code: &str) -> Vec<u8> {
    Sha256::digest(code.trim().to_lowercase().as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_for_their_owner() {
        let sealed_box = SecretBox::new([7; 32]);
        let (tenant, user, other) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (ciphertext, nonce) = sealed_box
            .seal(tenant, user, b"shared secret bytes!")
            .unwrap_or_default();
        assert_ne!(ciphertext, b"shared secret bytes!".to_vec());
        assert_eq!(
            sealed_box.open(tenant, user, &ciphertext, &nonce).ok(),
            Some(b"shared secret bytes!".to_vec())
        );
        assert!(
            sealed_box.open(tenant, other, &ciphertext, &nonce).is_err(),
            "moved to another user"
        );
        assert!(
            SecretBox::new([8; 32])
                .open(tenant, user, &ciphertext, &nonce)
                .is_err(),
            "another key"
        );
    }

    #[test]
    fn codes_match_their_step_with_one_step_of_skew() {
        let Ok(t) = totp(vec![1; 20], "a@b.example") else {
            panic!("totp")
        };
        let now = 1_800_000_000;
        let code = t.generate(now);
        assert_eq!(
            matching_step(&t, &code, now),
            i64::try_from(now / STEP).ok()
        );
        assert!(matching_step(&t, &code, now + STEP).is_some());
        assert!(matching_step(&t, &code, now + 3 * STEP).is_none());
        assert_eq!(new_recovery_codes().len(), RECOVERY_CODES);
    }
}
