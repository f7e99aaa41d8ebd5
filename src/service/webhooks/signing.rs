//! Webhook secrets and signatures, as the Standard Webhooks specification
//! (standardwebhooks.com, used by Svix and others) has them: a secret is
//! `whsec_` and the base64 of random bytes; each request carries
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature:
//! v1,<base64 of HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}")>`.
//! Secrets are stored sealed like private keys (`service::keystore`).

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::{WEBHOOK_SECRET_PREFIX, decode_webhook_secret};
use crate::error::{Error, Result};
use crate::service::keystore::{KeyStore, OpenError};

/// Random bytes of a new secret.
const SECRET_BYTES: usize = 32;

/// A new secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::Internal(anyhow::anyhow!("system random generator failed")))?;
    Ok(format!("{WEBHOOK_SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

/// Whether a stored secret is unsealed (a Fernet token never starts with `whsec_`).
pub fn is_plain(stored: &str) -> bool {
    stored.trim().starts_with(WEBHOOK_SECRET_PREFIX)
}

/// The secret (`whsec_...`) of a stored one: sealed, or as made when it was
/// stored without `PRIVATE_KEY_ENCRYPTION_KEY`.
pub fn open_secret(keys: &KeyStore, stored: &str) -> std::result::Result<String, OpenError> {
    if is_plain(stored) {
        return Ok(stored.trim().to_string());
    }
    keys.open(stored)
}

/// The HMAC key of a secret; None when it is not `whsec_<base64>`.
pub fn key_bytes(secret: &str) -> Option<Vec<u8>> {
    decode_webhook_secret(secret)
}

/// The `webhook-signature` value of one attempt.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(id.as_bytes());
    ctx.update(b".");
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The test vector of the Standard Webhooks libraries (and Svix's).
        let key = key_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let sig = signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn new_secrets_are_random_and_well_formed() {
        let (a, b) = (new_secret().unwrap(), new_secret().unwrap());
        assert_ne!(a, b);
        assert_eq!(key_bytes(&a).unwrap().len(), 32);
        assert!(is_plain(&a));
        let sealing = KeyStore::new(Some("ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=")).unwrap();
        let sealed = sealing.seal(&a);
        assert!(!is_plain(&sealed));
        assert_eq!(open_secret(&sealing, &sealed).unwrap(), a);
        assert_eq!(open_secret(&sealing, &a).unwrap(), a);
        assert!(open_secret(&KeyStore::new(None).unwrap(), &sealed).is_err());
    }
}
