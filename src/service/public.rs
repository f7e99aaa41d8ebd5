//! Unauthenticated PKI routes: CA certificates and CRLs by slug, served from
//! memory. A CA's public files are re-read from the database at most every
//! `CACHE_FRESHNESS_SECONDS`, the same bound as for CRLs across servers.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::crl::{self, CrlFile};
use crate::service::public_urls::slug;
use crate::service::timed_cache::TimedCache;
use crate::store;

/// A CA certificate as served, with a validator for conditional requests.
pub struct PublicCa {
    pub ca_id: i64,
    pub pem: Bytes,
    pub der: Bytes,
    pub etag: String,
}

/// Slugs resolved recently (only existing CAs: unknown slugs are not kept).
pub type PublicCache = TimedCache<String, PublicCa>;

/// Finds the CA a `{slug(name)}-{id}` names; both parts must match.
pub async fn ca_by_slug(state: &AppState, given: &str) -> Result<Arc<PublicCa>> {
    if let Some(hit) = state.public.get(given, 0) {
        return Ok(hit);
    }
    let not_found = || Error::NotFound("Not Found".into());
    let (_, id) = given.rsplit_once('-').ok_or_else(not_found)?;
    let id: i64 = id.parse().map_err(|_| not_found())?;
    // A deleted CA still publishes its certificate (and its final CRL).
    let (ca_id, name, certificate) = {
        let mut c = state.db.read().await?;
        match store::cas::get(&mut c, id).await? {
            // A pending CA has no certificate to publish yet.
            Some(ca) if ca.is_pending() => return Err(not_found()),
            Some(ca) => (ca.id, ca.name, ca.certificate),
            None => {
                let gone = store::cas::tombstone(&mut c, id)
                    .await?
                    .ok_or_else(not_found)?;
                (gone.id, gone.name, gone.certificate)
            }
        }
    };
    if slug(&name, ca_id) != given {
        return Err(not_found());
    }
    let der = pki::cert_pem_to_der(&certificate)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
    let public = Arc::new(PublicCa {
        ca_id,
        etag: format!("\"ca-{}-{}\"", ca_id, hex::encode(&digest.as_ref()[..8])),
        pem: Bytes::from(certificate),
        der: Bytes::from(der),
    });
    state.public.put(given.to_string(), 0, public.clone());
    Ok(public)
}

/// The CA's current CRL. Never signs: CRLs are signed on revocation and by the refresher.
pub async fn crl(state: &AppState, given: &str) -> Result<Arc<CrlFile>> {
    let ca = ca_by_slug(state, given).await?;
    crl::current(state, ca.ca_id).await?.ok_or_else(|| {
        Error::Unavailable("This CA's CRL is being prepared; try again shortly".into())
    })
}
