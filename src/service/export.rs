//! PEM downloads: certificates, keys and chains, with the contract's file names.

use crate::auth::Principal;
use crate::auth::authz::Action;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::service::{cas, certs, issuers::ca_key_pem};

/// A file to download.
pub struct PemFile {
    pub filename: String,
    pub body: String,
}

pub async fn ca_certificate(state: &AppState, caller: &Principal, id: i64) -> Result<PemFile> {
    let ca = cas::load_for(state, caller, id, Action::Read).await?;
    if ca.is_pending() {
        return Err(Error::Conflict(format!(
            "CA '{}' is pending: it has no certificate yet",
            ca.name
        )));
    }
    Ok(PemFile {
        filename: format!("ca_{id}_certificate.pem"),
        body: ca.certificate,
    })
}

pub async fn ca_private_key(state: &AppState, caller: &Principal, id: i64) -> Result<PemFile> {
    let ca = cas::load_for(state, caller, id, Action::ExportPrivateKey).await?;
    let body = ca_key_pem(state, &ca)?;
    cas::audit_export(state, caller, &ca).await?;
    Ok(PemFile {
        filename: format!("ca_{id}_private_key.pem"),
        body,
    })
}

pub async fn certificate(state: &AppState, caller: &Principal, id: i64) -> Result<PemFile> {
    let row = certs::load_for(state, caller, id, Action::Read).await?;
    Ok(PemFile {
        filename: format!("certificate_{id}.pem"),
        body: row.certificate,
    })
}

pub async fn certificate_private_key(
    state: &AppState,
    caller: &Principal,
    id: i64,
) -> Result<PemFile> {
    // Without a stored key: 404 here, `"private_key": null` on the JSON route.
    let pem = certs::private_key_pem(state, caller, id).await?;
    Ok(PemFile {
        filename: format!("certificate_{id}_private_key.pem"),
        body: pem,
    })
}

/// The certificate, then each CA up to the root (or up to the outside issuers of the
/// topmost, as given at its import).
pub async fn certificate_chain(state: &AppState, caller: &Principal, id: i64) -> Result<PemFile> {
    let row = certs::load_for(state, caller, id, Action::Read).await?;
    let issuer = cas::load(state, row.issuer_id)
        .await
        .map_err(|_| Error::NotFound("Issuing CA not found".into()))?;
    let mut body = ensure_newline(row.certificate);
    for ca in cas::chain_rows(state, issuer).await? {
        body.push_str(&ensure_newline(ca.certificate));
        // Above a CA signed outside FastPKI: the certificates given with it.
        if let Some(external) = ca.external_chain {
            body.push_str(&ensure_newline(external));
        }
    }
    Ok(PemFile {
        filename: format!("certificate_{id}_chain.pem"),
        body,
    })
}

/// A PEM text ending with a newline, so that files can be concatenated.
pub(crate) fn ensure_newline(mut pem: String) -> String {
    if !pem.ends_with('\n') {
        pem.push('\n');
    }
    pem
}
