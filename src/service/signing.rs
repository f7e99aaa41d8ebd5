//! What CA and certificate use cases share: CPU work off the async runtime,
//! loading an issuer, public URLs and slugs, response shapes.

use std::sync::Arc;

use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::cas::CaRow;

/// Runs CPU-heavy work (key generation, signing) on the blocking pool, a bounded number at a time.
pub async fn cpu<T, F>(state: &AppState, work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let _permit = state
        .cpu
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.into()))?;
    tokio::task::spawn_blocking(work).await?
}

/// `cpu` on behalf of `caller`, who holds at most its share of the permits
/// (`CallerSlots`): its other requests wait, not everybody's.
pub async fn cpu_for<T, F>(state: &AppState, caller: &Principal, work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let _slot = state
        .caller_slots
        .acquire(caller.authz_subject().creator)
        .await;
    cpu(state, work).await
}

/// The PEM of a CA's private key, decrypted.
pub fn ca_key_pem(state: &AppState, ca: &CaRow) -> Result<String> {
    state.keys.open(&ca.private_key).map_err(|e| {
        Error::Internal(anyhow::Error::new(e).context(format!("private key of CA {}", ca.id)))
    })
}

/// Parsed CAs, ready to sign, keyed by CA id and checked against the stored
/// certificate and key (so a rotated key or a replaced CA is re-read).
#[derive(Default)]
pub struct IssuerCache {
    entries: std::sync::Mutex<std::collections::HashMap<i64, (u64, Arc<pki::Issuer>)>>,
}

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
    if let Some(hit) = state.issuers.get(ca.id, fp) {
        return Ok(hit);
    }
    let (cert_pem, key_pem) = (ca.certificate.clone(), ca_key_pem(state, ca)?);
    let parsed = Arc::new(cpu(state, move || issuer_from_pem(&cert_pem, &key_pem)).await?);
    state.issuers.put(ca.id, fp, parsed.clone());
    Ok(parsed)
}

impl IssuerCache {
    fn get(&self, id: i64, fp: u64) -> Option<Arc<pki::Issuer>> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&id)
            .filter(|(f, _)| *f == fp)
            .map(|(_, i)| i.clone())
    }

    fn put(&self, id: i64, fp: u64, issuer: Arc<pki::Issuer>) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: a deployment with very many CAs simply re-parses the cold ones.
        if map.len() >= 1024 {
            map.clear();
        }
        map.insert(id, (fp, issuer));
    }

    /// Drops a CA (deleted).
    pub fn forget(&self, id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }
}

/// A CA ready to sign (parsed certificate and key). Call inside `cpu`.
pub fn issuer_from_pem(cert_pem: &str, key_pem: &str) -> Result<pki::Issuer> {
    let key =
        pki::PrivateKey::from_pem(key_pem).map_err(|e| Error::Internal(anyhow::Error::new(e)))?;
    pki::Issuer::new(cert_pem, key).map_err(|e| Error::Internal(anyhow::Error::new(e)))
}

/// `{slug(name)}-{id}`: lowercase; only letters, digits, `_`, `-` and spaces
/// kept; runs of spaces, underscores and hyphens become one hyphen; trimmed.
pub fn slug(name: &str, id: i64) -> String {
    let kept: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ' '))
        .collect();
    let mut out = String::with_capacity(kept.len());
    let mut pending_hyphen = false;
    for c in kept.chars() {
        if matches!(c, '_' | '-' | ' ') {
            pending_hyphen = true;
        } else {
            if pending_hyphen && !out.is_empty() {
                out.push('-');
            }
            pending_hyphen = false;
            out.push(c);
        }
    }
    format!("{out}-{id}")
}

/// A CA's CRL and certificate URLs, on its own `crl_base_url` or the request's base URL.
pub fn public_urls(base_url: &str, ca: &CaRow) -> (String, String) {
    let base = ca
        .crl_base_url
        .as_deref()
        .unwrap_or(base_url)
        .trim_end_matches('/');
    // Slugs keep non-ASCII letters; URLs in certificates must be ASCII.
    let slug = percent_encode(&slug(&ca.name, ca.id));
    (
        format!("{base}/crl/{slug}"),
        format!("{base}/ca/{slug}.crt"),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug("Acme Issuing CA", 3), "acme-issuing-ca-3");
        assert_eq!(slug("  Weird__Name--é!! ", 7), "weird-name-é-7");
        assert_eq!(slug("a/../b", 1), "ab-1");
        assert_eq!(slug("!!!", 2), "-2");
    }

    #[test]
    fn urls_in_certificates_are_ascii() {
        assert_eq!(percent_encode("zürich-ca-4"), "z%C3%BCrich-ca-4");
        assert_eq!(percent_encode("plain-ca-1"), "plain-ca-1");
    }
}
