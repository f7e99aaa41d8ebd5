//! Issuing: a request with a server-made key (`create`) or a CSR
//! (`sign_csr`) becomes an [`Issue`], which is checked against the CA and the
//! caller's policy, signed off the async runtime, and stored with its audit
//! entry through the group-commit writer.

use std::sync::Arc;

use chrono::Utc;

use crate::auth::Principal;
use crate::auth::authz::{self, Action};
use crate::error::{Error, Result};
use crate::service::commit::CertWrite;
use crate::service::cpu::cpu_for;
use crate::service::request_fields::{check_days, key_algorithm};
use crate::service::{AppState, cas, issuers, policy, public_urls};
use crate::store::{self, cas::CaRow, certs::NewCert};

use super::request::{
    CertCreate, CertType, RequestedNames, SignCsr, add_subject_emails, effective_sans,
    effective_subject, merge_csr,
};
use super::view::CertOut;

/// What to issue, once the request is resolved.
pub struct Issue {
    pub ca: CaRow,
    pub cert_type: CertType,
    pub common_name: String,
    pub subject: pki::DistinguishedName,
    pub sans: pki::Sans,
    pub days: i64,
    pub key: KeySource,
    pub keep_key: bool,
    /// Return a server-made key in the response (even if not kept).
    pub return_key: bool,
    pub renewed_from_id: Option<i64>,
}

/// Where the certificate's key comes from.
pub enum KeySource {
    /// A CSR's public key (SubjectPublicKeyInfo DER) and its algorithm.
    Csr {
        spki: Vec<u8>,
        algorithm: pki::KeyAlgorithm,
    },
    /// A key the server makes (or takes from the key pool).
    Make(pki::KeyAlgorithm),
}

impl KeySource {
    fn algorithm(&self) -> pki::KeyAlgorithm {
        match self {
            KeySource::Csr { algorithm, .. } => *algorithm,
            KeySource::Make(algorithm) => *algorithm,
        }
    }
}

/// Checks the CA may issue this, signs, and stores certificate and audit entry.
pub async fn issue(
    state: &AppState,
    caller: &Principal,
    req: Issue,
    base_url: &str,
) -> Result<CertOut> {
    let ca = req.ca.clone();
    let cert_type = req.cert_type;
    if !ca.allow_leaf_certs {
        return Err(Error::BadRequest(format!(
            "CA '{}' does not allow leaf certificates",
            ca.name
        )));
    }
    // A CA certificate is a sub-CA: it needs create_ca on the issuer, not create_cert.
    if cert_type == CertType::Ca
        && !authz::allows(&caller.authz_subject(), &cas::owner(&ca), Action::CreateCa)
    {
        return Err(Error::Forbidden(
            "Issuing a CA certificate needs create_ca on the issuing CA".into(),
        ));
    }
    if cert_type == CertType::Ca && ca.path_length == Some(0) {
        return Err(Error::BadRequest(format!(
            "CA '{}' has path length 0 and cannot issue CA certificates",
            ca.name
        )));
    }
    cas::ensure_can_issue(state, &ca).await?;
    let (not_before, not_after) = pki::validity(Utc::now(), req.days, Some(ca.not_after))?;
    let policy = policy::policy_of(state, caller).await?;
    let (crl_url, ca_issuers_url) = public_urls::public_urls(base_url, &ca);
    let issuer = issuers::issuer(state, &ca).await?;
    let pooled = match req.key {
        KeySource::Make(alg) => state.key_pool.take(alg),
        KeySource::Csr { .. } => None,
    };
    let serial = (state.serials)();
    let signer = issuer.clone();
    // Check against the policy, make the key if needed and sign: one blocking task.
    let max_rsa_bits = state.settings.max_leaf_rsa_bits;
    let (req, signed, key_pem, alg, mut cert) = cpu_for(state, caller, move || {
        check_rsa_size(&req, max_rsa_bits)?;
        policy::check(
            policy.as_ref(),
            &policy::Judged {
                ca_id: req.ca.id,
                certificate_type: req.cert_type.as_str(),
                valid_days: req.days,
                dns: &req.sans.dns,
                ips: &req.sans.ips,
                emails: &req.sans.emails,
            },
            Some(&req.common_name),
            &req.subject,
        )?;
        let (spki, key_pem, alg) = match &req.key {
            KeySource::Csr { spki, algorithm } => (spki.clone(), None, *algorithm),
            KeySource::Make(alg) => {
                let key = match pooled {
                    Some(key) => key,
                    None => pki::PrivateKey::generate(*alg)?,
                };
                (key.public_key_der(), Some(key.to_pem()), *alg)
            }
        };
        let signed = Signed {
            subject: req.subject.canonical(),
            sans: req.sans.clone(),
            spki,
            profile: req.cert_type.profile(),
            not_before,
            not_after,
            crl_url,
            ca_issuers_url,
        };
        let cert = signed.sign(&serial, &signer)?;
        Ok((req, Arc::new(signed), key_pem, alg, cert))
    })
    .await?;
    let kept_key = key_pem.as_ref().filter(|_| req.keep_key);
    let stored_key = kept_key.map(|k| state.keys.seal(k));
    let (created_by_user_id, created_by_service_account_id) = caller.creator_ids();
    // A certificate belongs to its CA's organization, whoever issues it, so
    // that the organization's admins see and revoke it.
    let org = ca.organization_id;
    // A repeated serial (2^-127 odds, or a forced one in tests) is signed
    // again under a fresh serial instead of failing the request.
    let mut attempts = 1;
    let row = loop {
        let mut audit = caller.audit_on("cert_create", "certificate", 0, org);
        audit.detail = Some(match req.renewed_from_id {
            Some(old) => format!(
                "Renewed certificate {old} as '{}' (serial {})",
                req.common_name, cert.serial_hex
            ),
            None => format!(
                "Issued {} certificate '{}' from CA '{}' (serial {})",
                req.cert_type.as_str(),
                req.common_name,
                ca.name,
                cert.serial_hex
            ),
        });
        let write = CertWrite {
            cert: NewCert {
                common_name: req.common_name.clone(),
                subject_dn: req.subject.to_string(),
                certificate_type: req.cert_type.as_str().into(),
                key_algorithm: alg.name().into(),
                key_size: i64::from(alg.key_size()),
                valid_days: pki::days_between(cert.not_before, cert.not_after),
                certificate: cert.pem,
                private_key: stored_key.clone(),
                key_origin: match req.key {
                    KeySource::Csr { .. } => "csr",
                    KeySource::Make(_) => "server",
                }
                .into(),
                serial_number: cert.serial_hex,
                not_before: cert.not_before,
                not_after: cert.not_after,
                san_dns_names: req.sans.dns.clone(),
                san_ip_addresses: req.sans.ips.clone(),
                san_email_addresses: req.sans.emails.clone(),
                issuer_id: ca.id,
                organization_id: org,
                created_by_user_id,
                created_by_service_account_id,
                renewed_from_id: req.renewed_from_id,
            },
            audit,
        };
        match state.cert_writer.write(write).await {
            Ok(row) => break row,
            Err(e) if store::is_unique_violation(&e) && attempts < 3 => {
                tracing::warn!(ca_id = ca.id, "serial number repeated; signing again");
                attempts += 1;
                let serial = (state.serials)();
                let (todo, issuer) = (signed.clone(), issuer.clone());
                cert = cpu_for(state, caller, move || Ok(todo.sign(&serial, &issuer)?)).await?;
            }
            Err(e) if store::is_foreign_key_violation(&e) => {
                return Err(Error::NotFound("CA not found".into()));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let mut out = CertOut::from_row(row, vec![]);
    if let KeySource::Make(_) = req.key {
        out.private_key = Some(key_pem.filter(|_| req.return_key));
    }
    Ok(out)
}

/// RSA keys of certificates are bounded (`MAX_LEAF_RSA_BITS`): an RSA-8192
/// key costs seconds of a core to make, and a CSR's key decides what its
/// holder's peers must verify. CA keys are not bounded here.
fn check_rsa_size(req: &Issue, max_bits: u32) -> Result<()> {
    match req.key.algorithm() {
        pki::KeyAlgorithm::Rsa { bits } if bits > max_bits => Err(Error::BadRequest(format!(
            "RSA keys of certificates are limited to {max_bits} bits (got {bits})"
        ))),
        _ => Ok(()),
    }
}

/// Everything a certificate is signed from except its serial number.
struct Signed {
    subject: pki::DistinguishedName,
    sans: pki::Sans,
    spki: Vec<u8>,
    profile: pki::Profile,
    not_before: chrono::DateTime<Utc>,
    not_after: chrono::DateTime<Utc>,
    crl_url: String,
    ca_issuers_url: String,
}

impl Signed {
    fn sign(
        &self,
        serial: &pki::SerialNumber,
        issuer: &pki::Issuer,
    ) -> Result<pki::IssuedCert, pki::PkiError> {
        pki::issue(
            &pki::CertRequest {
                subject: &self.subject,
                public_key_der: &self.spki,
                profile: self.profile,
                sans: &self.sans,
                serial,
                not_before: self.not_before,
                not_after: self.not_after,
                crl_url: Some(&self.crl_url),
                ca_issuers_url: Some(&self.ca_issuers_url),
            },
            pki::Signer::Issuer(issuer),
        )
    }
}

/// `POST /certificates/?ca_id=`.
pub async fn create(
    state: &AppState,
    caller: &Principal,
    ca_id: i64,
    input: CertCreate,
    base_url: &str,
) -> Result<CertOut> {
    let ca = cas::load(state, ca_id).await?;
    if !authz::allows(
        &caller.authz_subject(),
        &cas::owner(&ca),
        Action::CreateCert,
    ) {
        return Err(Error::Forbidden("Insufficient permissions".into()));
    }
    if input.common_name.trim().is_empty() || input.common_name.chars().count() > 64 {
        return Err(Error::validation(
            "common_name",
            "common_name must be 1 to 64 characters",
        ));
    }
    let alg = key_algorithm(
        input.key_algorithm.as_deref(),
        input.key_size,
        state.settings.cert_key_size,
    )?;
    let days = check_days(
        input
            .valid_days
            .unwrap_or(i64::from(state.settings.cert_days)),
    )?;
    let subject = effective_subject(input.subject_dn.as_deref(), &input.common_name)?;
    let names = RequestedNames {
        dns: input.san_dns_names.unwrap_or_default(),
        ips: input.san_ip_addresses.unwrap_or_default(),
        emails: input.san_email_addresses.unwrap_or_default(),
    };
    let mut names = names;
    add_subject_emails(input.certificate_type, &subject, &mut names)?;
    let sans = effective_sans(input.certificate_type, Some(&input.common_name), names)?;
    let req = Issue {
        ca,
        cert_type: input.certificate_type,
        common_name: input.common_name.trim().to_string(),
        subject,
        sans,
        days,
        key: KeySource::Make(alg),
        keep_key: input.include_private_key.unwrap_or(true),
        return_key: input.include_private_key.unwrap_or(true),
        renewed_from_id: None,
    };
    issue(state, caller, req, base_url).await
}

/// Resolves `ca_id` / `ca_name` (exactly one) to a CA the caller may issue from.
pub async fn resolve_ca(
    state: &AppState,
    caller: &Principal,
    ca_id: Option<i64>,
    ca_name: Option<&str>,
) -> Result<CaRow> {
    let ca = match (ca_id, ca_name.map(str::trim).filter(|n| !n.is_empty())) {
        (Some(id), None) => cas::load(state, id).await?,
        (None, Some(name)) => {
            let scope = if caller.is_superuser() {
                None
            } else {
                Some(caller.organization_id())
            };
            let mut c = state.db.read().await?;
            let found = store::cas::find_by_name(&mut c, name, scope).await?;
            match found.len() {
                0 => return Err(Error::NotFound(format!("CA named '{name}' not found"))),
                1 => found
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::NotFound("CA not found".into()))?,
                _ => {
                    return Err(Error::BadRequest(format!(
                        "Several CAs are named '{name}': use ca_id"
                    )));
                }
            }
        }
        _ => {
            return Err(Error::BadRequest(
                "Give exactly one of ca_id and ca_name".into(),
            ));
        }
    };
    if !authz::allows(
        &caller.authz_subject(),
        &cas::owner(&ca),
        Action::CreateCert,
    ) {
        return Err(Error::Forbidden("Insufficient permissions".into()));
    }
    Ok(ca)
}

/// A verified CSR, parsed on the blocking pool within the caller's share.
pub async fn parse_csr(state: &AppState, caller: &Principal, pem: &str) -> Result<pki::CsrInfo> {
    let pem = pem.to_string();
    cpu_for(state, caller, move || Ok(pki::parse_csr(&pem)?)).await
}

/// `POST /certificates/sign-csr`: the CSR is parsed, verified and merged with
/// the request's overrides first; only then are the CA and the database read.
pub async fn sign_csr(
    state: &AppState,
    caller: &Principal,
    input: SignCsr,
    base_url: &str,
) -> Result<CertOut> {
    let cert_type = input.certificate_type.unwrap_or(CertType::Server);
    if cert_type == CertType::Ca {
        return Err(Error::BadRequest(
            "A CSR cannot be signed as a CA certificate".into(),
        ));
    }
    let csr = parse_csr(state, caller, &input.csr).await?;
    let days = check_days(
        input
            .valid_days
            .unwrap_or(i64::from(state.settings.cert_days)),
    )?;
    let (ca_id, ca_name) = (input.ca_id, input.ca_name.clone());
    let merged = merge_csr(cert_type, input, csr)?;
    let ca = resolve_ca(state, caller, ca_id, ca_name.as_deref()).await?;
    let req = Issue {
        ca,
        cert_type,
        common_name: merged.common_name,
        subject: merged.subject,
        sans: merged.sans,
        days,
        key: KeySource::Csr {
            spki: merged.public_key_der,
            algorithm: merged.algorithm,
        },
        keep_key: false,
        return_key: false,
        renewed_from_id: None,
    };
    issue(state, caller, req, base_url).await
}
