//! Opaque tokens (refresh, invitation, password reset, API keys): URL-safe base64 of the
//! tenant's 16 id bytes and 32 random bytes (256 bits from the OS generator), so the
//! server finds the tenant before it looks the token up, under that tenant's row-level
//! security; only a token's SHA-256 is stored.

use base64::Engine;
use crm_domain::TenantId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A new token of `tenant` and its hash.
pub fn new(tenant: TenantId) -> (String, Vec<u8>) {
    let mut bytes = [0_u8; 48];
    bytes[..16].copy_from_slice(tenant.0.as_bytes());
    rand::rngs::OsRng.fill_bytes(&mut bytes[16..]);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

/// SHA-256 of a token's text.
pub fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The tenant a token names, if it is well-formed.
pub fn tenant_of(token: &str) -> Option<TenantId> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()?;
    if bytes.len() != 48 {
        return None;
    }
    Uuid::from_slice(&bytes[..16]).ok().map(TenantId)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_tenant_and_are_unique() {
        let tenant = TenantId::new();
        let (a, ha) = new(tenant);
        let (b, hb) = new(tenant);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
        assert_eq!(tenant_of(&a), Some(tenant));
        assert_eq!(hash(&a), ha);
        assert_eq!(tenant_of("short"), None);
    }
}
