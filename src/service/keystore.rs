//! Private keys at rest: PEM, or a Fernet token (Python `cryptography.fernet`
//! compatible both ways) when `PRIVATE_KEY_ENCRYPTION_KEY` is set.

use anyhow::Context;

/// Seals and opens stored private keys.
#[derive(Clone)]
pub struct KeyStore {
    fernet: Option<std::sync::Arc<fernet::Fernet>>,
}

/// Why a stored key cannot be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the stored private key is encrypted but PRIVATE_KEY_ENCRYPTION_KEY is not set")]
    NoKey,
    #[error("the stored private key cannot be decrypted with PRIVATE_KEY_ENCRYPTION_KEY")]
    WrongKey,
}

/// A PEM key stored as is (before a key was configured).
pub fn is_plaintext(stored: &str) -> bool {
    stored.trim_start().starts_with("-----BEGIN")
}

impl KeyStore {
    pub fn new(key: Option<&str>) -> anyhow::Result<Self> {
        let fernet = match key {
            Some(k) => Some(std::sync::Arc::new(
                fernet::Fernet::new(k.trim())
                    .context("PRIVATE_KEY_ENCRYPTION_KEY is not a valid Fernet key")?,
            )),
            None => None,
        };
        Ok(KeyStore { fernet })
    }

    pub fn encrypts(&self) -> bool {
        self.fernet.is_some()
    }

    /// The form in which a PEM key is stored.
    pub fn seal(&self, pem: &str) -> String {
        match &self.fernet {
            Some(f) => f.encrypt(pem.as_bytes()),
            None => pem.to_string(),
        }
    }

    /// The PEM of a stored key.
    pub fn open(&self, stored: &str) -> Result<String, OpenError> {
        if is_plaintext(stored) {
            return Ok(stored.to_string());
        }
        let f = self.fernet.as_ref().ok_or(OpenError::NoKey)?;
        let bytes = f.decrypt(stored.trim()).map_err(|_| OpenError::WrongKey)?;
        String::from_utf8(bytes).map_err(|_| OpenError::WrongKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmRzZmQ=";
    const OTHER: &str = "YWJjZGFiY2RhYmNkYWJjZGFiY2RhYmNkYWJjZGFiY2Q=";

    #[test]
    fn seal_open_round_trip_and_wrong_key() {
        let ks = KeyStore::new(Some(KEY)).unwrap();
        let pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
        let sealed = ks.seal(pem);
        assert!(sealed.starts_with("gAAAAA"));
        assert_eq!(ks.open(&sealed).unwrap(), pem);
        assert!(matches!(
            KeyStore::new(Some(OTHER)).unwrap().open(&sealed),
            Err(OpenError::WrongKey)
        ));
        assert!(matches!(
            KeyStore::new(None).unwrap().open(&sealed),
            Err(OpenError::NoKey)
        ));
        assert_eq!(KeyStore::new(None).unwrap().open(pem).unwrap(), pem);
    }

    #[test]
    fn opens_tokens_made_by_python_cryptography() {
        // Made with Python's cryptography 48: Fernet(KEY).encrypt(b"hello").
        let token = "gAAAAABrDEyEPhdIoLOdEls8IF1mR_0iQ1zu2wEZLZ9Okb0_MOeqrLuvZUajN46RilyHltg9Hs3Lxsq49jcF43U5-WjRsTUG6Q==";
        let ks = KeyStore::new(Some(KEY)).unwrap();
        assert_eq!(ks.open(token).unwrap(), "hello");
    }
}
