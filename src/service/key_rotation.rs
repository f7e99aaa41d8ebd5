//! Keys at rest across the database (CA and certificate keys, ACME EAB keys,
//! webhook secrets): the check at start (seal plaintext keys when a key is
//! configured, refuse to start on a wrong or missing key) and
//! `fastpki rotate-key`.

use anyhow::{Context, bail};
use sqlx::AnyConnection;

use super::acme::eab_keys::{is_plain_hmac_key, open_hmac_text};
use super::keystore::{KeyStore, is_plaintext};
use super::webhooks::signing;
use crate::store::{self, Db};

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
        // ACME external account binding keys are sealed like private keys.
        for (id, stored) in store::acme::eab_keys::all_hmac_keys(&mut tx).await? {
            if is_plain_hmac_key(&stored) {
                store::acme::eab_keys::set_hmac_key(&mut tx, id, &keys.seal(stored.trim())).await?;
                sealed += 1;
            }
        }
        // And so are webhook secrets.
        for (id, stored) in store::webhooks::endpoints::all_secrets(&mut tx).await? {
            if signing::is_plain(&stored) {
                store::webhooks::endpoints::set_stored_secret(
                    &mut tx,
                    id,
                    &keys.seal(stored.trim()),
                )
                .await?;
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
    for (id, stored) in store::acme::eab_keys::all_hmac_keys(&mut tx).await? {
        let text =
            open_hmac_text(current, &stored).with_context(|| format!("ACME EAB key {id}"))?;
        store::acme::eab_keys::set_hmac_key(&mut tx, id, &new.seal(&text)).await?;
        n += 1;
    }
    for (id, stored) in store::webhooks::endpoints::all_secrets(&mut tx).await? {
        let secret =
            signing::open_secret(current, &stored).with_context(|| format!("webhook {id}"))?;
        store::webhooks::endpoints::set_stored_secret(&mut tx, id, &new.seal(&secret)).await?;
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
