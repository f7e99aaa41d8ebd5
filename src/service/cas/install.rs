//! `PUT /cas/{id}/certificate`: a certificate signed elsewhere for a CA's key. On a
//! pending CA it completes the CA, which then issues; on an active one it replaces the
//! certificate (renewal, a cross-signed certificate) with one for the same key and subject.

use chrono::Utc;
use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::authz::Action;
use crate::error::{Error, Result};
use crate::service::cpu::cpu_for;
use crate::service::issuers::{self, ca_key_pem};
use crate::service::{AppState, crl, policy};
use crate::store::{self, cas::InstalledCert};

use super::import::{
    Anchored, anchor, chain_pem, check_policy, effective_path_length, parent_for, pem_or_base64,
    refused,
};
use super::view::{CaOut, chain_rows, ensure_can_issue, load_for};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CaCertificateInstall {
    /// The CA certificate: PEM, or base64 of DER. Further PEM blocks after the first are
    /// its chain when `chain` is not given.
    pub certificate: String,
    /// The certificates above it when its issuer is outside FastPKI: PEM, issuer first.
    #[serde(default)]
    pub chain: Option<String>,
    /// The FastPKI CA that signed it.
    #[serde(default)]
    pub parent_ca_id: Option<i64>,
}

pub async fn install(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: CaCertificateInstall,
) -> Result<CaOut> {
    if input.parent_ca_id.is_some() && input.chain.is_some() {
        return Err(Error::validation(
            "chain",
            "give parent_ca_id (a FastPKI CA) or chain (issuers outside FastPKI), not both",
        ));
    }
    let cert_bytes = pem_or_base64("certificate", &input.certificate)?;
    let chain_bytes = match &input.chain {
        Some(c) => Some(pem_or_base64("chain", c)?),
        None => None,
    };
    let ca = load_for(state, caller, id, Action::CreateCa).await?;
    let was_pending = ca.is_pending();
    if !was_pending {
        // A revoked CA stays revoked: a new certificate would not undo that.
        ensure_can_issue(state, &ca).await?;
    }
    // Without an issuer named, a renewal keeps the one it had.
    let (parent_id, old_chain) = match (input.parent_ca_id, &input.chain) {
        (None, None) => (ca.parent_ca_id, ca.external_chain.clone()),
        (pid, _) => (pid, None),
    };
    let parent = match parent_id {
        Some(pid) if pid == ca.id => {
            return Err(Error::BadRequest("a CA cannot be its own parent".into()));
        }
        Some(pid) => {
            let p = parent_for(state, caller, pid).await?;
            if chain_rows(state, p.clone())
                .await?
                .iter()
                .any(|c| c.id == ca.id)
            {
                return Err(Error::BadRequest(format!(
                    "CA '{}' is below CA '{}': it cannot be its parent",
                    p.name, ca.name
                )));
            }
            Some(p)
        }
        None => None,
    };
    let policy = policy::policy_of(state, caller).await?;

    let key_pem = ca_key_pem(state, &ca)?;
    let parent_pem = parent.as_ref().map(|p| p.certificate.clone());
    // What the CA issued names it by its subject: a replacement keeps those bytes.
    let current_subject = if was_pending {
        None
    } else {
        let current = issuers::issuer(state, &ca).await?;
        Some((
            current.subject_der().to_vec(),
            current.subject().to_string(),
        ))
    };
    let now = Utc::now();
    let ca_name = ca.name.clone();
    let crl_end = now + chrono::Duration::days(state.settings.crl_validity_days);
    let (checked, cert_der, chain, room, first_crl) = cpu_for(state, caller, move || {
        let key = pki::PrivateKey::from_pem(&key_pem)
            .map_err(|e| Error::Internal(anyhow::Error::new(e).context("stored CA key")))?;
        let mut certs = pki::read_certificates(&cert_bytes)?;
        let cert_der = certs.remove(0);
        let chain = match (chain_bytes, old_chain) {
            (Some(b), _) => pki::read_certificates(&b)?,
            (None, Some(pem)) if certs.is_empty() => pki::read_certificates(pem.as_bytes())?,
            (None, _) => certs,
        };
        let checked = pki::check_ca_certificate(&cert_der, key, now).map_err(|e| match e {
            pki::PkiError::KeyMismatch => Error::BadRequest(format!(
                "the certificate is for another key than the one CA '{ca_name}' holds"
            )),
            other => refused(other),
        })?;
        if let Some((der, text)) = current_subject
            && der != checked.issuer.subject_der()
        {
            return Err(Error::BadRequest(format!(
                "the certificate's subject ({}) is not the CA's ({text}): what the CA issued \
                 names it as issuer",
                checked.subject
            )));
        }
        let Anchored { chain, room } =
            anchor(&cert_der, checked.self_signed, parent_pem.as_deref(), chain)?;
        // A pending CA's first CRL (empty), signed now as a created CA's is.
        let first_crl = if was_pending {
            Some(pki::build_crl(&checked.issuer, &[], 1, now, crl_end)?)
        } else {
            None
        };
        Ok((checked, cert_der, chain, room, first_crl))
    })
    .await?;
    let days = pki::days_between(checked.not_before, checked.not_after);
    check_policy(
        policy.as_ref(),
        parent.as_ref().map(|p| p.id),
        checked.subject_dn.as_ref(),
        days,
    )?;

    let certificate = pki::cert_der_to_pem(&cert_der);
    let external_chain = chain.as_deref().map(chain_pem);
    let installed = InstalledCert {
        certificate: &certificate,
        serial_number: &checked.serial_hex,
        subject_dn: &checked.subject,
        not_before: checked.not_before,
        not_after: checked.not_after,
        valid_days: days,
        path_length: effective_path_length(checked.path_len, room),
        is_root: checked.self_signed,
        parent_ca_id: parent.as_ref().map(|p| p.id),
        external_chain: external_chain.as_deref(),
    };
    let now_s = store::ts(now);
    let mut tx = state.db.begin().await?;
    if !store::cas::install_certificate(&mut tx, id, &ca.certificate, &installed, &now_s).await? {
        return Err(Error::Conflict(
            "the CA changed meanwhile (its certificate was installed or it was deleted): try again"
                .into(),
        ));
    }
    let row = store::cas::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("CA not found".into()))?;
    match first_crl {
        Some(crl) => {
            store::cas::store_crl(&mut tx, id, 1, &crl.der, &now_s, &store::ts(crl_end)).await?
        }
        // The CRL is re-signed under the new certificate (its AKI follows the new SKI).
        None => crl::rebuild(state, &mut tx, &row).await?,
    }
    if let Some(p) = &parent {
        store::cas::set_allow_leaf_certs(&mut tx, p.id, false, &now_s).await?;
    }
    let issued_by = match (&parent, &chain) {
        (Some(p), _) => format!("CA '{}'", p.name),
        (None, Some(_)) => "a CA outside FastPKI".to_string(),
        (None, None) => "itself".to_string(),
    };
    let mut entry = caller.audit_on("ca_certificate_install", "ca", id, row.organization_id);
    entry.detail = Some(format!(
        "{} the certificate of CA '{}' (serial {}, until {}), issued by {issued_by}",
        if was_pending { "Installed" } else { "Replaced" },
        row.name,
        checked.serial_hex,
        checked.not_after.format("%Y-%m-%d"),
    ));
    store::audit::insert(&mut tx, &entry, &now_s).await?;
    tx.commit().await?;
    state.issuers.forget(&id);
    state.crls.forget(&id);
    state.public.forget_where(|p| p.ca_id == id);
    Ok(CaOut::from(row))
}
