//! Signed CRLs: rebuilt when a revocation lands or nextUpdate nears, kept in
//! the database with their number, and served from memory. An anonymous
//! request never causes a signature.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::cpu::cpu;
use crate::service::issuers;
use crate::service::timed_cache::TimedCache;
use crate::store::{self, Tx, cas::CaRow};

/// A CA's CRL as served: DER, its validator for conditional requests (new
/// with each CRL number), and the PEM made on first demand.
pub struct CrlFile {
    pub der: Bytes,
    pub etag: String,
    pem: OnceLock<Bytes>,
}

impl CrlFile {
    /// The PEM form, encoded once per CRL rather than once per request.
    pub fn pem(&self) -> Bytes {
        self.pem
            .get_or_init(|| Bytes::from(pki::crl_der_to_pem(&self.der)))
            .clone()
    }
}

/// The last CRL read from the database, per CA.
pub type CrlCache = TimedCache<i64, CrlFile>;

/// Signs a new CRL for `ca` inside `tx`, with the next CRL number, and stores it.
pub async fn rebuild(state: &AppState, tx: &mut Tx, ca: &CaRow) -> Result<()> {
    rebuild_at(state, tx, ca, Utc::now()).await
}

/// `rebuild` with thisUpdate `now`.
async fn rebuild_at(state: &AppState, tx: &mut Tx, ca: &CaRow, now: DateTime<Utc>) -> Result<()> {
    let next = now + chrono::Duration::days(state.settings.crl_validity_days);
    let crl = sign_next(state, tx, ca, now, next).await?;
    store::cas::store_crl(
        tx,
        ca.id,
        crl.number,
        &crl.der,
        &store::ts(now),
        &store::ts(next),
    )
    .await?;
    Ok(())
}

/// A signed CRL and its number.
pub struct SignedCrl {
    pub number: i64,
    pub der: Vec<u8>,
}

/// Signs the next CRL of `ca` (not stored): every certificate it revoked and
/// every sub-CA it revoked, deleted ones included. The number is taken by an
/// UPDATE, which also serializes concurrent rebuilds of one CA.
pub async fn sign_next(
    state: &AppState,
    tx: &mut Tx,
    ca: &CaRow,
    this_update: chrono::DateTime<Utc>,
    next_update: chrono::DateTime<Utc>,
) -> Result<SignedCrl> {
    let number = store::cas::next_crl_number(tx, ca.id).await?;
    let entries = revoked_entries(tx, ca.id).await?;
    let issuer = issuers::issuer(state, ca).await?;
    let crl = cpu(state, move || {
        Ok(pki::build_crl(
            &issuer,
            &entries,
            number as u64,
            this_update,
            next_update,
        )?)
    })
    .await?;
    Ok(SignedCrl {
        number,
        der: crl.der,
    })
}

/// What the CRL of CA `ca_id` lists: every certificate it revoked and every
/// sub-CA it revoked, deleted ones included.
pub async fn revoked_entries(tx: &mut Tx, ca_id: i64) -> Result<Vec<pki::RevokedEntry>> {
    let mut revoked = store::certs::revoked_of(tx, ca_id).await?;
    revoked.extend(store::cas::revoked_children(tx, ca_id).await?);
    Ok(revoked
        .into_iter()
        .map(|r| pki::RevokedEntry {
            serial_hex: r.serial_number,
            revoked_at: r.revoked_at.unwrap_or_else(Utc::now),
            reason: r
                .revocation_reason_code
                .and_then(pki::RevocationReason::from_code),
        })
        .collect())
}

/// The current CRL of a CA, from memory or the database; None if it has none.
pub async fn current(state: &AppState, ca_id: i64) -> Result<Option<Arc<CrlFile>>> {
    if let Some(crl) = state.crls.get(&ca_id, 0) {
        return Ok(Some(crl));
    }
    let mut c = state.db.read().await?;
    match store::cas::crl(&mut c, ca_id).await? {
        Some(store::cas::StoredCrl {
            crl_der: Some(der),
            crl_number,
            ..
        }) => {
            let crl = Arc::new(CrlFile {
                der: Bytes::from(der),
                etag: format!("\"crl-{ca_id}-{crl_number}\""),
                pem: OnceLock::new(),
            });
            state.crls.put(ca_id, 0, crl.clone());
            Ok(Some(crl))
        }
        _ => Ok(None),
    }
}

/// Rebuilds every CRL that is missing or past half its validity at `now`,
/// which also becomes the new CRLs' thisUpdate. The clock is a parameter so
/// that a test can stand days later without waiting for them.
pub async fn refresh_due(state: &AppState, now: DateTime<Utc>) -> Result<usize> {
    let horizon = now + chrono::Duration::hours(state.settings.crl_validity_days * 12);
    let due = {
        let mut c = state.db.read().await?;
        store::cas::crls_due(&mut c, &store::ts(horizon)).await?
    };
    let mut done = 0;
    for id in due {
        let mut tx = state.db.begin().await?;
        let Some(ca) = store::cas::get(&mut tx, id).await? else {
            continue;
        };
        rebuild_at(state, &mut tx, &ca, now).await?;
        tx.commit().await?;
        state.crls.forget(&id);
        done += 1;
    }
    Ok(done)
}

/// Keeps CRLs fresh in the background, every `period`.
pub fn spawn_refresh(state: AppState, period: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            match refresh_due(&state, Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(crls = n, "re-signed CRLs before their nextUpdate"),
                Err(Error::Internal(e)) => {
                    tracing::warn!(error = format!("{e:#}"), "CRL refresh failed")
                }
                Err(e) => tracing::warn!(error = %e, "CRL refresh failed"),
            }
        }
    });
}
