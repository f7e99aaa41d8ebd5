//! Importing a CA made elsewhere (openssl, step-ca, another FastPKI...): its certificate
//! and key become a FastPKI CA that issues, revokes and publishes CRLs. Also what
//! installing a certificate signed elsewhere shares with it: reading certificate fields,
//! the parent or outside chain a certificate hangs from.

use base64::Engine as _;
use chrono::Utc;
use serde::Deserialize;

use crate::auth::Principal;
use crate::auth::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::service::cpu::cpu_for;
use crate::service::{AppState, policy};
use crate::store::{self, cas::CaRow, cas::NewCa};

use super::create::{check_name, check_url};
use super::view::{CaOut, denied, ensure_can_issue, load, owner};

/// `POST /cas/import`. Deliberately not `Debug`: it carries a private key and its passphrase.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CaImport {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The CA certificate: PEM, or base64 of DER. Further PEM blocks after the first are
    /// its chain when `chain` is not given.
    pub certificate: String,
    /// Its private key: PEM or base64 of DER; PKCS#8, encrypted PKCS#8, PKCS#1 (RSA) or
    /// SEC1 (EC).
    pub private_key: String,
    /// Decrypts an encrypted PKCS#8 key (`ENCRYPTED PRIVATE KEY`).
    #[serde(default)]
    pub passphrase: Option<String>,
    /// The certificates above an intermediate whose issuer is not a FastPKI CA: PEM, its
    /// issuer first, then that one's, up to the root (the root may be left out).
    #[serde(default)]
    pub chain: Option<String>,
    /// The FastPKI CA that signed this intermediate.
    #[serde(default)]
    pub parent_ca_id: Option<i64>,
    #[serde(default)]
    pub allow_leaf_certs: Option<bool>,
    #[serde(default)]
    pub crl_base_url: Option<String>,
    /// The number of the CA's first CRL from FastPKI (default 1): above the last one the
    /// CA published before, since CRL numbers only grow.
    #[serde(default)]
    pub first_crl_number: Option<i64>,
}

/// The bytes of a field holding PEM text, or base64 of DER (JSON cannot carry DER).
pub(super) fn pem_or_base64(field: &str, value: &str) -> Result<Vec<u8>> {
    if value.contains("-----BEGIN") {
        return Ok(value.as_bytes().to_vec());
    }
    let compact: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(Error::validation(field, format!("{field} is empty")));
    }
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|_| {
            Error::validation(field, format!("{field} must be PEM text, or base64 of DER"))
        })
}

/// A PKI refusal as the client's fault (400), a key that does not match included.
pub(super) fn refused(e: pki::PkiError) -> Error {
    match e {
        pki::PkiError::KeyMismatch => {
            Error::BadRequest("the private key does not match the certificate's public key".into())
        }
        other => other.into(),
    }
}

/// A FastPKI CA named as the issuer of a certificate made elsewhere: it exists, the
/// caller has `create_ca` on it, it may still sign, and its path length leaves room.
pub(super) async fn parent_for(state: &AppState, caller: &Principal, id: i64) -> Result<CaRow> {
    let parent = load(state, id)
        .await
        .map_err(|_| Error::NotFound("Parent CA not found".into()))?;
    if !authz::allows(&caller.authz_subject(), &owner(&parent), Action::CreateCa) {
        return Err(denied());
    }
    ensure_can_issue(state, &parent).await?;
    if parent.path_length == Some(0) {
        return Err(Error::BadRequest(format!(
            "Parent CA '{}' has path length 0 and cannot sign subordinate CAs",
            parent.name
        )));
    }
    Ok(parent)
}

/// Where a certificate made elsewhere hangs, once checked.
pub(super) struct Anchored {
    /// The certificates above it to keep: outside issuers only (DER, issuer first).
    pub chain: Option<Vec<Vec<u8>>>,
    /// How many CAs its issuers' pathLenConstraints still allow below it.
    pub room: Option<u32>,
}

/// Where a certificate made elsewhere hangs, checked (call on the blocking pool): under
/// `parent` (its certificate PEM), under the outside `chain`, or nowhere (a self-signed
/// root).
pub(super) fn anchor(
    cert: &[u8],
    self_signed: bool,
    parent: Option<&str>,
    chain: Vec<Vec<u8>>,
) -> Result<Anchored> {
    if let Some(pem) = parent {
        let parent_der = pki::cert_pem_to_der(pem)?;
        let room = pki::verify_chain(cert, &[parent_der]).map_err(|e| {
            Error::BadRequest(format!(
                "the certificate does not chain to its parent CA: {e}"
            ))
        })?;
        return Ok(Anchored { chain: None, room });
    }
    if !chain.is_empty() {
        if self_signed {
            return Err(Error::BadRequest(
                "the certificate is a self-signed root: no chain goes above it".into(),
            ));
        }
        let room = pki::verify_chain(cert, &chain).map_err(|e| {
            Error::BadRequest(format!(
                "the certificate does not chain to the certificates given: {e}"
            ))
        })?;
        return Ok(Anchored {
            chain: Some(chain),
            room,
        });
    }
    if self_signed {
        return Ok(Anchored {
            chain: None,
            room: None,
        });
    }
    Err(Error::BadRequest(
        "the certificate is not self-signed: name its issuer, with parent_ca_id (a FastPKI CA) \
         or chain (the issuer's certificate, then those above it)"
            .into(),
    ))
}

/// PEM text of certificates, one block after the other.
pub(super) fn chain_pem(chain: &[Vec<u8>]) -> String {
    chain.iter().map(|der| pki::cert_der_to_pem(der)).collect()
}

/// The CA's path length in FastPKI: its own constraint, tightened by its issuers', and
/// at most 32 (what `path_length` accepts everywhere else).
pub(super) fn effective_path_length(own: Option<u32>, room: Option<u32>) -> Option<i64> {
    let tightest = match (own, room) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    tightest.map(|l| i64::from(l.min(32)))
}

/// Judges the CA's subject under a service account's issuance policy; a subject our DN
/// syntax cannot hold cannot be judged, so it is refused to a caller with a policy.
pub(super) fn check_policy(
    policy: Option<&policy::Policy>,
    parent: Option<i64>,
    subject: Option<&pki::DistinguishedName>,
    days: i64,
) -> Result<()> {
    match (policy, subject) {
        (None, _) => Ok(()),
        (Some(p), Some(s)) => policy::check_new_ca(Some(p), parent, s, days),
        (Some(p), None) => {
            // Without a parent, the policy refuses before it looks at the subject.
            policy::check_new_ca(Some(p), parent, &pki::DistinguishedName::new(), days)?;
            Err(Error::BadRequest(
                "the certificate's subject cannot be checked against the issuance policy".into(),
            ))
        }
    }
}

/// Refuses a certificate some CA already has: two CAs with one key and name would publish
/// CRLs that contradict each other.
async fn ensure_new(state: &AppState, serial_hex: &str, cert_der: &[u8]) -> Result<()> {
    let mut c = state.db.read().await?;
    for row in store::cas::by_serial(&mut c, serial_hex).await? {
        if pki::cert_pem_to_der(&row.certificate).is_ok_and(|d| d == cert_der) {
            return Err(Error::Conflict(format!(
                "this certificate is already CA '{}' (id {})",
                row.name, row.id
            )));
        }
    }
    Ok(())
}

pub async fn import(state: &AppState, caller: &Principal, input: CaImport) -> Result<CaOut> {
    let name = check_name(&input.name)?;
    let crl_base_url = check_url(input.crl_base_url.as_deref())?;
    let first_crl = input.first_crl_number.unwrap_or(1);
    if !(1..=(1i64 << 62)).contains(&first_crl) {
        return Err(Error::validation(
            "first_crl_number",
            "first_crl_number must be between 1 and 2^62",
        ));
    }
    if input.parent_ca_id.is_some() && input.chain.is_some() {
        return Err(Error::validation(
            "chain",
            "give parent_ca_id (a FastPKI CA) or chain (issuers outside FastPKI), not both",
        ));
    }
    let cert_bytes = pem_or_base64("certificate", &input.certificate)?;
    let key_bytes = pem_or_base64("private_key", &input.private_key)?;
    let chain_bytes = match &input.chain {
        Some(c) => Some(pem_or_base64("chain", c)?),
        None => None,
    };
    // An imported CA is the caller's organization's, as a created one.
    let own = Owner {
        organization_id: caller.organization_id(),
        creator: None,
    };
    if !authz::allows(&caller.authz_subject(), &own, Action::CreateCa) {
        return Err(denied());
    }
    let parent = match input.parent_ca_id {
        Some(pid) => Some(parent_for(state, caller, pid).await?),
        None => None,
    };
    let policy = policy::policy_of(state, caller).await?;

    let now = Utc::now();
    let crl_end = now + chrono::Duration::days(state.settings.crl_validity_days);
    let parent_pem = parent.as_ref().map(|p| p.certificate.clone());
    let passphrase = input.passphrase;
    let (ca, cert_der, chain, room, crl) = cpu_for(state, caller, move || {
        let key = pki::read_private_key(&key_bytes, passphrase.as_deref().map(str::as_bytes))?;
        let mut certs = pki::read_certificates(&cert_bytes)?;
        let cert_der = certs.remove(0);
        let chain = match chain_bytes {
            Some(b) => pki::read_certificates(&b)?,
            None => certs,
        };
        let ca = pki::check_ca_certificate(&cert_der, key, now).map_err(refused)?;
        let Anchored { chain, room } =
            anchor(&cert_der, ca.self_signed, parent_pem.as_deref(), chain)?;
        // The first CRL (empty) is signed now: anonymous requests never wait for one.
        let crl = pki::build_crl(&ca.issuer, &[], first_crl as u64, now, crl_end)?;
        Ok((ca, cert_der, chain, room, crl))
    })
    .await?;
    let days = pki::days_between(ca.not_before, ca.not_after);
    check_policy(
        policy.as_ref(),
        parent.as_ref().map(|p| p.id),
        ca.subject_dn.as_ref(),
        days,
    )?;
    ensure_new(state, &ca.serial_hex, &cert_der).await?;

    let key_pem = ca.issuer.key().to_pem();
    let stored_key = state.keys.seal(&key_pem);
    let certificate = pki::cert_der_to_pem(&cert_der);
    let external_chain = chain.as_deref().map(chain_pem);
    let (created_by_user_id, created_by_service_account_id) = caller.creator_ids();
    let now_s = store::ts(now);
    let new = NewCa {
        name: &name,
        description: input.description.as_deref(),
        subject_dn: &ca.subject,
        key_algorithm: ca.algorithm.name(),
        key_size: i64::from(ca.algorithm.key_size()),
        valid_days: days,
        certificate: &certificate,
        private_key: &stored_key,
        serial_number: &ca.serial_hex,
        not_before: ca.not_before,
        not_after: ca.not_after,
        organization_id: caller.organization_id(),
        created_by_user_id,
        created_by_service_account_id,
        parent_ca_id: parent.as_ref().map(|p| p.id),
        path_length: effective_path_length(ca.path_len, room),
        allow_leaf_certs: input.allow_leaf_certs.unwrap_or(true),
        crl_base_url: crl_base_url.as_deref(),
        is_root: ca.self_signed,
        external_chain: external_chain.as_deref(),
        pending_csr: None,
    };
    let mut tx = state.db.begin().await?;
    let row = store::cas::insert(&mut tx, &new, &now_s)
        .await
        .map_err(|e| {
            if store::is_foreign_key_violation(&e) {
                Error::NotFound("Parent CA not found".into())
            } else {
                e.into()
            }
        })?;
    store::cas::store_crl(
        &mut tx,
        row.id,
        first_crl,
        &crl.der,
        &now_s,
        &store::ts(crl_end),
    )
    .await?;
    if let Some(p) = &parent {
        store::cas::set_allow_leaf_certs(&mut tx, p.id, false, &now_s).await?;
    }
    let org = row
        .organization_id
        .or(parent.as_ref().and_then(|p| p.organization_id));
    let mut entry = caller.audit_on("ca_import", "ca", row.id, org);
    entry.detail = Some(match (&parent, &chain) {
        (Some(p), _) => format!(
            "Imported intermediate CA '{}' ({}) under '{}'",
            row.name, ca.subject, p.name
        ),
        (None, Some(_)) => format!(
            "Imported intermediate CA '{}' ({}), issued outside FastPKI",
            row.name, ca.subject
        ),
        (None, None) => format!("Imported root CA '{}' ({})", row.name, ca.subject),
    });
    store::audit::insert(&mut tx, &entry, &now_s).await?;
    tx.commit().await?;
    Ok(CaOut::from(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_hold_pem_or_base64() {
        assert_eq!(
            pem_or_base64("x", "-----BEGIN X-----\n").unwrap(),
            b"-----BEGIN X-----\n"
        );
        assert_eq!(
            pem_or_base64("x", " MAMCAQA=\n").unwrap(),
            [0x30, 3, 2, 1, 0]
        );
        for bad in ["", "  ", "not base64!", "-----"] {
            assert!(
                matches!(pem_or_base64("certificate", bad), Err(Error::Validation(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn path_lengths_tighten() {
        assert_eq!(effective_path_length(None, None), None);
        assert_eq!(effective_path_length(Some(3), None), Some(3));
        assert_eq!(effective_path_length(None, Some(1)), Some(1));
        assert_eq!(effective_path_length(Some(3), Some(1)), Some(1));
        assert_eq!(effective_path_length(Some(0), Some(2)), Some(0));
        assert_eq!(effective_path_length(Some(1000), None), Some(32));
    }
}
