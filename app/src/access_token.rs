//! Access tokens: HS256 JWTs (RFC 7519) of at most 15 minutes, and the two-factor
//! challenge tokens of a sign-in's second step. The lifetime of refresh tokens is kept
//! with the keys, so whoever opens a session has both.

use chrono::Utc;
use crm_domain::{Role, TenantId, UserId};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The audience every token names, so a token for another service is refused.
pub const AUDIENCE: &str = "crm-api";

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// The tenant (workspace) id.
    pub tid: Uuid,
    /// The user's role when the token was issued.
    pub role: Role,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// The session the token belongs to; a revoked session's tokens stop working at once.
    pub sid: Uuid,
    /// Audience: [`AUDIENCE`].
    pub aud: String,
}

/// Issues and verifies tokens with one secret.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl_seconds: i64,
    refresh_ttl: chrono::Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl_seconds", &self.ttl_seconds)
            .finish_non_exhaustive()
    }
}

/// An issued token.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: i64,
}

impl TokenKeys {
    /// Keys from `secret` (or a random 256-bit secret when `None`, with a warning), tokens
    /// living `ttl_seconds`.
    pub fn new(secret: Option<&SecretString>, ttl_seconds: u64) -> Self {
        let bytes: Vec<u8> = match secret {
            Some(s) => s.expose_secret().as_bytes().to_vec(),
            None => {
                tracing::warn!("no auth.jwt_secret configured: generated one; tokens will not survive a restart");
                let mut random = [0_u8; 32];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
                random.to_vec()
            }
        };
        Self {
            encoding: EncodingKey::from_secret(&bytes),
            decoding: DecodingKey::from_secret(&bytes),
            ttl_seconds: i64::try_from(ttl_seconds).unwrap_or(900),
            refresh_ttl: chrono::Duration::days(30),
        }
    }

    /// The same keys, with refresh tokens living `seconds` (30 days unless set).
    #[must_use]
    pub fn with_refresh_ttl(mut self, seconds: u64) -> Self {
        self.refresh_ttl = chrono::Duration::seconds(i64::try_from(seconds).unwrap_or(2_592_000));
        self
    }

    /// How long a refresh token lives.
    pub fn refresh_ttl(&self) -> chrono::Duration {
        self.refresh_ttl
    }

    /// Issues a token for `user` of `tenant` with `role` in session `sid`, at `now`.
    ///
    /// # Errors
    /// jsonwebtoken's error (signing cannot fail with HMAC in practice).
    pub fn issue(
        &self,
        tenant: TenantId,
        user: UserId,
        role: Role,
        sid: Uuid,
        now: chrono::DateTime<Utc>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = now.timestamp();
        let claims = Claims {
            sub: user.0,
            tid: tenant.0,
            role,
            iat: now,
            exp: now + self.ttl_seconds,
            jti: Uuid::now_v7(),
            sid,
            aud: AUDIENCE.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            access_token: token,
            token_type: "Bearer",
            expires_in: self.ttl_seconds,
        })
    }

    /// Verifies signature, algorithm (HS256 only), audience, and expiry against `now` (no
    /// leeway). Returns `None` for any failed check.
    pub fn verify(&self, token: &str, now: chrono::DateTime<Utc>) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        (claims.exp > now.timestamp()).then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_and_tampering_fails() {
        let secret = SecretString::from("0123456789abcdef0123456789abcdef");
        let keys = TokenKeys::new(Some(&secret), 900);
        let tenant = TenantId::new();
        let user = UserId(Uuid::now_v7());
        let now = Utc::now();
        let token = keys
            .issue(tenant, user, Role::Admin, Uuid::now_v7(), now)
            .map(|t| t.access_token)
            .unwrap_or_default();
        let claims = keys.verify(&token, now);
        assert_eq!(
            claims.as_ref().map(|c| (c.tid, c.sub, c.role)),
            Some((tenant.0, user.0, Role::Admin))
        );
        assert!(claims.is_some_and(|c| c.exp - c.iat == 900));
        let other = TokenKeys::new(
            Some(&SecretString::from("another-secret-another-secret-xx")),
            900,
        );
        assert!(
            other.verify(&token, now).is_none(),
            "a token signed with another key verified"
        );
        let mut tampered = token.clone();
        tampered.pop();
        assert!(keys.verify(&tampered, now).is_none());
        assert!(
            keys.verify(&token, now + chrono::Duration::seconds(900))
                .is_none(),
            "a token is dead at its exp"
        );
    }
}

/// The audience of two-factor challenge tokens: they grant nothing but the second step.
pub const CHALLENGE_AUDIENCE: &str = "crm-2fa";
/// Lifetime of a challenge token, seconds.
pub const CHALLENGE_SECONDS: i64 = 300;

/// The claims of a two-factor challenge token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChallengeClaims {
    /// The user who passed the password step.
    pub sub: Uuid,
    /// Their tenant.
    pub tid: Uuid,
    /// Issued at.
    pub iat: i64,
    /// Expires at (five minutes later).
    pub exp: i64,
    /// Audience: [`CHALLENGE_AUDIENCE`].
    pub aud: String,
}

impl TokenKeys {
    /// A challenge token for the second sign-in step.
    ///
    /// # Errors
    /// jsonwebtoken's error.
    pub fn issue_challenge(
        &self,
        tenant: TenantId,
        user: UserId,
        now: chrono::DateTime<Utc>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now.timestamp();
        let claims = ChallengeClaims {
            sub: user.0,
            tid: tenant.0,
            iat: now,
            exp: now + CHALLENGE_SECONDS,
            aud: CHALLENGE_AUDIENCE.to_owned(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Verifies a challenge token (signature, audience, expiry against `now`).
    pub fn verify_challenge(
        &self,
        token: &str,
        now: chrono::DateTime<Utc>,
    ) -> Option<ChallengeClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.set_audience(&[CHALLENGE_AUDIENCE]);
        let claims = jsonwebtoken::decode::<ChallengeClaims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        (claims.exp > now.timestamp()).then_some(claims)
    }
}
