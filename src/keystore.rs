//! Private keys at rest: PEM, or a Fernet token (Python `cryptography.fernet`
//! compatible both ways) when `PRIVATE_KEY_ENCRYPTION_KEY` is set.

use anyhow::{Context, bail};

use sqlx::AnyConnection;

use crate::store::{self, Db};

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

fn is_plaintext(stored: &str) -> bool {
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

/// At start: encrypt plaintext keys when a key is configured, and make sure
/// every CA key and the newest certificate keys open; stop, naming the first
/// resource that fails.
pub async fn check_at_start(conn: &mut AnyConnection, keys: &KeyStore) -> anyhow::Result<()> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    // Every CA key, and the newest certificate keys: all are sealed with one
    // key (rotate-key re-seals them together), so a wrong or missing key shows
    // here without reading every certificate of a large deployment.
    let cas = store::cas::all_keys(&mut tx).await?;
    let newest = store::certs::newest_keys(&mut tx, START_SAMPLE).await?;
    for (kind, rows) in [("certificate authority", &cas), ("certificate", &newest)] {
        for (id, stored) in rows.iter() {
            if let Err(e) = keys.open(stored) {
                bail!("{kind} {id}: {e}");
            }
        }
    }
    let mut sealed = 0;
    if !keys.encrypts() {
        // Keys written from now on are plaintext: the next start with a key seals them.
        store::sessions::clear_flag(&mut tx, ALL_SEALED).await?;
        tracing::warn!(
            "PRIVATE_KEY_ENCRYPTION_KEY is not set: private keys are stored unencrypted"
        );
    } else if !store::sessions::has_flag(&mut tx, ALL_SEALED).await? {
        for (id, stored) in cas.iter().filter(|(_, k)| is_plaintext(k)) {
            store::cas::set_private_key(&mut tx, *id, &keys.seal(stored)).await?;
            sealed += 1;
        }
        for (id, stored) in store::certs::all_keys(&mut tx).await? {
            if let Err(e) = keys.open(&stored) {
                bail!("certificate {id}: {e}");
            }
            if is_plaintext(&stored) {
                store::certs::set_private_key(&mut tx, id, &keys.seal(&stored)).await?;
                sealed += 1;
            }
        }
        store::sessions::claim_flag(&mut tx, ALL_SEALED, "1").await?;
    }
    tx.commit().await?;
    if sealed > 0 {
        tracing::info!(
            keys = sealed,
            "encrypted plaintext private keys with PRIVATE_KEY_ENCRYPTION_KEY"
        );
    }
    Ok(())
}

/// Certificate keys opened at every start (besides every CA key).
const START_SAMPLE: i64 = 16;
/// Recorded once every stored key is sealed; cleared by a start without a key.
const ALL_SEALED: &str = "private_keys_sealed";

/// `fastpki rotate-key`: re-encrypts every stored key with `new` in one transaction.
pub async fn rotate(db: &Db, current: &KeyStore, new: &KeyStore) -> anyhow::Result<usize> {
    let mut tx = db.begin().await?;
    let cas = store::cas::all_keys(&mut tx).await?;
    let certs = store::certs::all_keys(&mut tx).await?;
    let mut n = 0;
    for (id, stored) in cas {
        let pem = current
            .open(&stored)
            .with_context(|| format!("certificate authority {id}"))?;
        store::cas::set_private_key(&mut tx, id, &new.seal(&pem)).await?;
        n += 1;
    }
    for (id, stored) in certs {
        let pem = current
            .open(&stored)
            .with_context(|| format!("certificate {id}"))?;
        store::certs::set_private_key(&mut tx, id, &new.seal(&pem)).await?;
        n += 1;
    }
    if new.encrypts() {
        store::sessions::claim_flag(&mut tx, ALL_SEALED, "1").await?;
    } else {
        store::sessions::clear_flag(&mut tx, ALL_SEALED).await?;
    }
    tx.commit().await?;
    Ok(n)
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
