//! Replay nonces (RFC 8555 §6.5). A nonce is `issued-at ‖ random ‖ MAC`
//! under a key derived from `SECRET_KEY`, so any server sharing the settings
//! can check one without a database read; it is spent by a single insert
//! into the table of used nonces, which succeeds once across all servers.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};

use super::problem::{Problem, ProblemType};
use crate::service::AppState;
use crate::store;

/// How long a nonce may wait before it is used.
pub const NONCE_LIFETIME: Duration = Duration::minutes(30);

const ISSUED: usize = 8;
const RANDOM: usize = 8;
const MAC: usize = 16;
const LEN: usize = ISSUED + RANDOM + MAC;

/// The key nonces are made and checked with.
pub struct NonceKey(hmac::Key);

impl NonceKey {
    /// Derived from the server secret, so that every server of a cluster
    /// accepts the others' nonces, and a nonce says nothing of the secret.
    pub fn derive(secret: &str) -> Self {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let derived = hmac::sign(&root, b"fastpki acme replay-nonce v1");
        NonceKey(hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()))
    }

    /// A fresh nonce issued at `now`.
    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let mut raw = [0u8; LEN];
        raw[..ISSUED].copy_from_slice(&now.timestamp().to_be_bytes());
        // The system's random source does not fail on Linux; a zero tail
        // would still be unique by its time and MAC-checked.
        let _ = SystemRandom::new().fill(&mut raw[ISSUED..ISSUED + RANDOM]);
        let tag = hmac::sign(&self.0, &raw[..ISSUED + RANDOM]);
        raw[ISSUED + RANDOM..].copy_from_slice(&tag.as_ref()[..MAC]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// When `nonce` (one of ours, unexpired at `now`) stops being accepted.
    pub fn expiry(&self, nonce: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let raw = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        if raw.len() != LEN {
            return None;
        }
        // Constant time: the MAC must not be guessable a byte at a time.
        let tag = hmac::sign(&self.0, &raw[..ISSUED + RANDOM]);
        let ok: bool =
            subtle::ConstantTimeEq::ct_eq(&tag.as_ref()[..MAC], &raw[ISSUED + RANDOM..]).into();
        if !ok {
            return None;
        }
        let issued = i64::from_be_bytes(raw[..ISSUED].try_into().ok()?);
        let expires = Utc.timestamp_opt(issued, 0).single()? + NONCE_LIFETIME;
        (expires > now && issued <= now.timestamp() + 60).then_some(expires)
    }
}

/// A fresh nonce for a `Replay-Nonce` header.
pub fn fresh(state: &AppState) -> String {
    state.acme.nonces.issue(Utc::now())
}

/// Spends a request's nonce: `badNonce` unless it is ours, unexpired and unused.
pub async fn spend(state: &AppState, nonce: &str) -> Result<(), Problem> {
    let now = Utc::now();
    let Some(expires) = state.acme.nonces.expiry(nonce, now) else {
        return Err(bad_nonce());
    };
    let mut c = state.db.begin().await?;
    let fresh = store::acme::nonces::spend(&mut c, nonce, expires).await?;
    c.commit().await?;
    if fresh { Ok(()) } else { Err(bad_nonce()) }
}

fn bad_nonce() -> Problem {
    Problem::new(
        ProblemType::BadNonce,
        "the nonce is unknown, expired or already used: retry with the fresh one in Replay-Nonce",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_checks_under_its_key_until_it_expires() {
        let key = NonceKey::derive("secret");
        let now = Utc::now();
        let n = key.issue(now);
        assert_eq!(n.len(), 43);
        assert!(key.expiry(&n, now).is_some());
        assert!(
            key.expiry(&n, now + NONCE_LIFETIME - Duration::seconds(1))
                .is_some()
        );
        assert!(
            key.expiry(&n, now + NONCE_LIFETIME + Duration::seconds(1))
                .is_none()
        );
        assert!(NonceKey::derive("other").expiry(&n, now).is_none());
        assert_ne!(key.issue(now), n);
    }

    #[test]
    fn a_changed_byte_or_length_is_refused() {
        let key = NonceKey::derive("secret");
        let now = Utc::now();
        let n = key.issue(now);
        let mut raw = URL_SAFE_NO_PAD.decode(&n).unwrap();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            assert!(
                key.expiry(&URL_SAFE_NO_PAD.encode(&raw), now).is_none(),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        assert!(key.expiry(&n[..42], now).is_none());
        assert!(key.expiry("", now).is_none());
        assert!(key.expiry("!!!", now).is_none());
    }

    #[test]
    fn a_nonce_from_the_future_is_refused() {
        let key = NonceKey::derive("secret");
        let now = Utc::now();
        let n = key.issue(now + Duration::minutes(5));
        assert!(key.expiry(&n, now).is_none());
    }
}
