//! Opaque secrets: refresh tokens and their digests.

use base64::Engine;
use subtle::ConstantTimeEq;

/// A new refresh token: 48 random bytes, URL-safe base64.
pub fn new_refresh_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 48];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// A new refresh-token family id: 16 random bytes, hex. Not a secret; it ties
/// together the tokens rotated from one login.
pub fn new_family_id() -> anyhow::Result<String> {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("system random generator failed"))?;
    Ok(hex::encode(bytes))
}

/// The only form in which a refresh token is stored.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_long_and_distinct() {
        let a = new_refresh_token().unwrap();
        let b = new_refresh_token().unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(sha256_hex(&a).len(), 64);
        assert_ne!(sha256_hex(&a), a);
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
