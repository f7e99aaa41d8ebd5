//! CAs as signers: the CA key opened from storage, parsed once and cached.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::cpu::cpu;
use crate::service::timed_cache::TimedCache;
use crate::store::cas::CaRow;

/// The PEM of a CA's private key, decrypted.
pub fn ca_key_pem(state: &AppState, ca: &CaRow) -> Result<String> {
    state.keys.open(&ca.private_key).map_err(|e| {
        Error::Internal(anyhow::Error::new(e).context(format!("private key of CA {}", ca.id)))
    })
}

/// Parsed CAs, ready to sign, keyed by CA id and tagged with a fingerprint of
/// the stored certificate and key (so a rotated key or a replaced CA is re-read).
pub type IssuerCache = TimedCache<i64, pki::Issuer>;

fn fingerprint(ca: &CaRow) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ca.certificate.hash(&mut h);
    ca.private_key.hash(&mut h);
    h.finish()
}

/// The CA as a signer, from the cache or parsed (off the async runtime).
pub async fn issuer(state: &AppState, ca: &CaRow) -> Result<Arc<pki::Issuer>> {
    let fp = fingerprint(ca);
    if let Some(hit) = state.issuers.get(&ca.id, fp) {
        return Ok(hit);
    }
    let (cert_pem, key_pem) = (ca.certificate.clone(), ca_key_pem(state, ca)?);
    let parsed = Arc::new(cpu(state, move || issuer_from_pem(&cert_pem, &key_pem)).await?);
    state.issuers.put(ca.id, fp, parsed.clone());
    Ok(parsed)
}

/// A CA ready to sign (parsed certificate and key). Call inside `cpu`.
pub fn issuer_from_pem(cert_pem: &str, key_pem: &str) -> Result<pki::Issuer> {
    let key =
        pki::PrivateKey::from_pem(key_pem).map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    pki::Issuer::new(cert_pem, key).map_err(|e| Error::Internal(anyhow::Error::new(e)))
}
