//! A certificate's private key, when one is kept: opened from storage, audited.

use crate::auth::Principal;
use crate::auth::authz::Action;
use crate::error::{Error, Result};
use crate::service::AppState;
use crate::store;

use super::view::{CertOut, load_with_renewals_for};

/// The certificate with its private key, `None` when none is kept (FastPKI
/// answers `"private_key": null` then); audited either way.
pub async fn private_key(
    state: &AppState,
    caller: &Principal,
    id: i64,
) -> Result<(CertOut, Option<String>)> {
    export_key(state, caller, id, false).await
}

/// The private key alone, for a PEM download: 404 when none is kept (and then
/// nothing was exported, so nothing is audited).
pub async fn private_key_pem(state: &AppState, caller: &Principal, id: i64) -> Result<String> {
    export_key(state, caller, id, true)
        .await?
        .1
        .ok_or_else(|| Error::NotFound("Certificate has no stored private key".into()))
}

async fn export_key(
    state: &AppState,
    caller: &Principal,
    id: i64,
    key_required: bool,
) -> Result<(CertOut, Option<String>)> {
    let (row, renewed_to) =
        load_with_renewals_for(state, caller, id, Action::ExportPrivateKey).await?;
    let stored = {
        let mut c = state.db.read().await?;
        store::certs::private_key(&mut c, id).await?
    };
    if key_required && stored.is_none() {
        return Err(Error::NotFound(
            "Certificate has no stored private key".into(),
        ));
    }
    let pem = stored
        .map(|sealed| {
            state.keys.open(&sealed).map_err(|e| {
                Error::Internal(
                    anyhow::Error::new(e).context(format!("private key of certificate {id}")),
                )
            })
        })
        .transpose()?;
    let mut tx = state.db.begin().await?;
    let mut entry = caller.audit_on(
        "cert_export_private_key",
        "certificate",
        id,
        row.organization_id,
    );
    entry.detail = Some(match pem {
        Some(_) => format!(
            "Exported the private key of certificate '{}'",
            row.common_name
        ),
        None => format!(
            "Asked for the private key of certificate '{}': none is stored",
            row.common_name
        ),
    });
    store::audit::insert(&mut tx, &entry, &store::now_ts()).await?;
    tx.commit().await?;
    let mut out = CertOut::from_row(row, renewed_to);
    out.private_key = Some(pem.clone());
    Ok((out, pem))
}
