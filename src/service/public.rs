//! Unauthenticated PKI routes: CA certificates and CRLs by slug.

use axum::body::Bytes;

use crate::error::{Error, Result};
use crate::service::{crl, signing::slug};
use crate::state::AppState;
use crate::store::{self, cas::CaRow};

/// Finds the CA a `{slug(name)}-{id}` names; both parts must match.
pub async fn ca_by_slug(state: &AppState, given: &str) -> Result<CaRow> {
    let not_found = || Error::NotFound("Not Found".into());
    let (_, id) = given.rsplit_once('-').ok_or_else(not_found)?;
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let mut c = state.db.read().await?;
    let ca = store::cas::get(&mut c, id).await?.ok_or_else(not_found)?;
    if slug(&ca.name, ca.id) != given {
        return Err(not_found());
    }
    Ok(ca)
}

/// The CA's current CRL, DER. Never signs: CRLs are signed on revocation and by the refresher.
pub async fn crl_der(state: &AppState, given: &str) -> Result<Bytes> {
    let ca = ca_by_slug(state, given).await?;
    crl::current(state, ca.id).await?.ok_or_else(|| {
        Error::Unavailable("This CA's CRL is being prepared; try again shortly".into())
    })
}
