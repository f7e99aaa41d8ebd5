//! Certificates: issue with a server-made key, sign a CSR, read, export the
//! key, revoke (and re-sign the CRL in the same transaction).

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};

use crate::auth::Principal;
use crate::authz::{self, Action, Owner};
use crate::error::{Error, Result};
use crate::policy;
use crate::service::cas::{self, check_days, key_algorithm};
use crate::service::commit::CertWrite;
use crate::service::signing::{self, cpu, cpu_for};
use crate::service::{RowStream, crl, query_error, service_accounts};
use crate::state::AppState;
use crate::store::{self, cas::CaRow, certs::CertRow, certs::NewCert};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CertCreate {
    pub common_name: String,
    #[serde(default)]
    pub subject_dn: Option<String>,
    /// `server`, `client`, `dual_purpose` or `ca`.
    pub certificate_type: CertType,
    #[serde(default)]
    pub key_algorithm: Option<String>,
    #[serde(default)]
    pub key_size: Option<u32>,
    #[serde(default)]
    pub valid_days: Option<i64>,
    #[serde(default)]
    pub include_private_key: Option<bool>,
    #[serde(default)]
    pub san_dns_names: Option<Vec<String>>,
    #[serde(default)]
    pub san_ip_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub san_email_addresses: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignCsr {
    pub csr: String,
    #[serde(default)]
    pub ca_id: Option<i64>,
    #[serde(default)]
    pub ca_name: Option<String>,
    #[serde(default)]
    pub certificate_type: Option<CertType>,
    #[serde(default)]
    pub valid_days: Option<i64>,
    #[serde(default)]
    pub common_name: Option<String>,
    #[serde(default)]
    pub subject_dn: Option<String>,
    #[serde(default)]
    pub san_dns_names: Option<Vec<String>>,
    #[serde(default)]
    pub san_ip_addresses: Option<Vec<String>>,
    #[serde(default)]
    pub san_email_addresses: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Revoke {
    #[serde(default)]
    pub reason: Option<String>,
    /// RFC 5280 CRLReason code (0-6, 9, 10).
    #[serde(default)]
    pub reason_code: Option<i64>,
}

/// The certificate types of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CertType {
    Server,
    Client,
    DualPurpose,
    Ca,
}

impl CertType {
    pub fn as_str(self) -> &'static str {
        match self {
            CertType::Server => "server",
            CertType::Client => "client",
            CertType::DualPurpose => "dual_purpose",
            CertType::Ca => "ca",
        }
    }

    fn profile(self) -> pki::Profile {
        match self {
            CertType::Server => pki::Profile::Server,
            CertType::Client => pki::Profile::Client,
            CertType::DualPurpose => pki::Profile::DualPurpose,
            CertType::Ca => pki::Profile::LeafCa,
        }
    }

    pub fn parse(s: &str) -> Option<CertType> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
    }
}

/// A certificate as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertOut {
    pub id: i64,
    pub common_name: String,
    pub subject_dn: String,
    pub certificate_type: String,
    pub key_algorithm: String,
    pub key_size: i64,
    pub valid_days: i64,
    /// `valid`, `revoked` or `expired`.
    pub status: String,
    pub certificate: String,
    pub serial_number: String,
    pub not_before: String,
    pub not_after: String,
    pub revoked_at: Option<String>,
    pub revocation_reason: Option<String>,
    pub revocation_reason_code: Option<i64>,
    pub issuer_id: i64,
    pub organization_id: Option<i64>,
    pub created_by_user_id: Option<i64>,
    pub created_by_service_account_id: Option<i64>,
    pub renewed_from_id: Option<i64>,
    pub renewed_to_ids: Vec<i64>,
    pub san_dns_names: Vec<String>,
    pub san_ip_addresses: Vec<String>,
    pub san_email_addresses: Vec<String>,
    /// `server` (the key was made here) or `csr`.
    pub key_origin: String,
    pub created_at: String,
    pub updated_at: String,
    /// Present on creation (null when not kept) and on the private-key route.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub private_key: Option<Option<String>>,
}

fn json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}

/// `valid`, or `expired` once `not_after` has passed; `revoked` stays.
fn effective_status(row: &CertRow) -> String {
    if row.status == "valid" && store::parse_ts(&row.not_after).is_some_and(|t| t <= Utc::now()) {
        "expired".into()
    } else {
        row.status.clone()
    }
}

impl CertOut {
    pub fn from_row(r: CertRow, renewed_to_ids: Vec<i64>) -> Self {
        CertOut {
            status: effective_status(&r),
            san_dns_names: json_list(&r.san_dns_names),
            san_ip_addresses: json_list(&r.san_ip_addresses),
            san_email_addresses: json_list(&r.san_email_addresses),
            id: r.id,
            common_name: r.common_name,
            // Rows stored before values were RFC 4514-escaped show escaped too.
            subject_dn: pki::normalize_stored_dn(&r.subject_dn).into_owned(),
            certificate_type: r.certificate_type,
            key_algorithm: r.key_algorithm,
            key_size: r.key_size,
            valid_days: r.valid_days,
            certificate: r.certificate,
            serial_number: r.serial_number,
            not_before: r.not_before,
            not_after: r.not_after,
            revoked_at: r.revoked_at,
            revocation_reason: r.revocation_reason,
            revocation_reason_code: r.revocation_reason_code,
            issuer_id: r.issuer_id,
            organization_id: r.organization_id,
            created_by_user_id: r.created_by_user_id,
            created_by_service_account_id: r.created_by_service_account_id,
            renewed_from_id: r.renewed_from_id,
            renewed_to_ids,
            key_origin: r.key_origin,
            created_at: r.created_at,
            updated_at: r.updated_at,
            private_key: None,
        }
    }
}

/// Who owns a certificate, for authorization.
pub fn owner(c: &CertRow) -> Owner {
    Owner::of(
        c.organization_id,
        c.created_by_user_id,
        c.created_by_service_account_id,
    )
}

/// Loads a certificate the caller may act on, or 404/403.
pub async fn load_for(
    state: &AppState,
    caller: &Principal,
    id: i64,
    action: Action,
) -> Result<CertRow> {
    let row = {
        let mut c = state.db.read().await?;
        store::certs::get(&mut c, id).await?.ok_or_else(not_found)?
    };
    authorize(caller, &row, action)?;
    Ok(row)
}

fn not_found() -> Error {
    Error::NotFound("Certificate not found".into())
}

fn authorize(caller: &Principal, row: &CertRow, action: Action) -> Result<()> {
    if !authz::allows(&caller.authz_subject(), &owner(row), action) {
        return Err(Error::Forbidden("Insufficient permissions".into()));
    }
    Ok(())
}

async fn with_lineage(state: &AppState, row: CertRow) -> Result<CertOut> {
    let mut c = state.db.read().await?;
    let to = store::certs::renewed_to(&mut c, row.id).await?;
    Ok(CertOut::from_row(row, to))
}

/// The names a certificate asks for, before defaults and checks.
#[derive(Clone, Debug, Default)]
pub struct RequestedNames {
    pub dns: Vec<String>,
    pub ips: Vec<String>,
    pub emails: Vec<String>,
}

/// Applies the SAN defaults and type rules of the contract; returns checked SANs.
/// RFC 5280 4.1.2.6: an emailAddress in the subject must also be an e-mail SAN.
pub fn add_subject_emails(
    cert_type: CertType,
    subject: &pki::DistinguishedName,
    names: &mut RequestedNames,
) -> Result<()> {
    for a in subject
        .attributes()
        .iter()
        .filter(|a| a.key() == "emailAddress")
    {
        if cert_type == CertType::Server {
            return Err(Error::BadRequest(
                "A server certificate's subject cannot hold an emailAddress: it would need an e-mail SAN, which server certificates do not carry".into(),
            ));
        }
        if !names
            .emails
            .iter()
            .any(|e| e.eq_ignore_ascii_case(a.value()))
        {
            names.emails.push(a.value().to_string());
        }
    }
    Ok(())
}

pub fn effective_sans(
    cert_type: CertType,
    common_name: Option<&str>,
    names: RequestedNames,
) -> Result<pki::Sans> {
    let RequestedNames {
        mut dns,
        ips,
        mut emails,
    } = names;
    let mut ips: Vec<IpAddr> = ips
        .iter()
        .map(|ip| {
            ip.trim()
                .parse()
                .map_err(|_| Error::BadRequest(format!("Invalid IP address in SANs: {ip:?}")))
        })
        .collect::<Result<_>>()?;
    match cert_type {
        CertType::Server if !emails.is_empty() => {
            return Err(Error::BadRequest(
                "Server certificates cannot carry e-mail SANs".into(),
            ));
        }
        CertType::Client if !dns.is_empty() || !ips.is_empty() => {
            return Err(Error::BadRequest(
                "Client certificates cannot carry DNS or IP SANs".into(),
            ));
        }
        _ => {}
    }
    if let Some(cn) = common_name.map(str::trim).filter(|cn| !cn.is_empty()) {
        match cert_type {
            CertType::Server | CertType::DualPurpose if dns.is_empty() => {
                // The common name becomes the DNS name; a common name that is an IP address becomes an IP SAN.
                if let Ok(ip) = cn.parse::<IpAddr>() {
                    if !ips.contains(&ip) {
                        ips.push(ip);
                    }
                } else if pki::validate_dns_name(cn).is_ok() {
                    dns.push(cn.to_string());
                }
            }
            CertType::Client if emails.is_empty() && pki::validate_email(cn).is_ok() => {
                emails.push(cn.to_string())
            }
            _ => {}
        }
    }
    for d in &dns {
        if d.strip_prefix("*.").is_some_and(pki::is_public_suffix) {
            return Err(Error::BadRequest(format!(
                "Invalid DNS name in SANs: {d:?} (a wildcard directly under a public suffix is not allowed)"
            )));
        }
        pki::validate_dns_name(d)
            .map_err(|_| Error::BadRequest(format!("Invalid DNS name in SANs: {d:?}")))?;
    }
    for e in &emails {
        pki::validate_email(e)
            .map_err(|_| Error::BadRequest(format!("Invalid e-mail address in SANs: {e:?}")))?;
    }
    Ok(pki::Sans { dns, ips, emails }.normalized()?)
}

/// The subject: `subject_dn` as given (CN added first when it has none), or `CN=<common name>`.
pub fn effective_subject(
    subject_dn: Option<&str>,
    common_name: &str,
) -> Result<pki::DistinguishedName> {
    let parsed = match subject_dn.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => pki::parse_dn(s)?,
        None => pki::DistinguishedName::new(),
    };
    if parsed.common_name().is_some() || common_name.trim().is_empty() {
        return Ok(parsed);
    }
    let mut with_cn = pki::DistinguishedName::new();
    with_cn.push("CN", common_name.trim())?;
    for a in parsed.attributes() {
        with_cn.push(&a.key(), a.value())?;
    }
    Ok(with_cn)
}

/// What to issue, once the request is resolved.
pub struct Issue {
    pub ca: CaRow,
    pub cert_type: CertType,
    pub common_name: String,
    pub subject: pki::DistinguishedName,
    pub sans: pki::Sans,
    pub days: i64,
    /// A CSR's public key, or None to make a key here.
    pub csr_key: Option<(Vec<u8>, pki::KeyAlgorithm)>,
    /// Key to make when `csr_key` is None.
    pub new_key: Option<pki::KeyAlgorithm>,
    pub keep_key: bool,
    /// Return a server-made key in the response (even if not kept).
    pub return_key: bool,
    pub renewed_from_id: Option<i64>,
}

/// What to issue: fully known (create, renew), or still to be read from a CSR,
/// which is then parsed in the same blocking task that signs (one hand-off
/// to the blocking pool per certificate, not two).
pub enum Pending {
    Known(Issue),
    Csr {
        ca: CaRow,
        cert_type: CertType,
        days: i64,
        input: SignCsr,
    },
}

impl Pending {
    fn ca(&self) -> &CaRow {
        match self {
            Pending::Known(req) => &req.ca,
            Pending::Csr { ca, .. } => ca,
        }
    }

    fn cert_type(&self) -> CertType {
        match self {
            Pending::Known(req) => req.cert_type,
            Pending::Csr { cert_type, .. } => *cert_type,
        }
    }

    fn days(&self) -> i64 {
        match self {
            Pending::Known(req) => req.days,
            Pending::Csr { days, .. } => *days,
        }
    }

    /// The key algorithm to make a key for (None when a CSR brings the key).
    fn new_key(&self) -> Option<pki::KeyAlgorithm> {
        match self {
            Pending::Known(req) if req.csr_key.is_none() => req.new_key,
            _ => None,
        }
    }

    /// The request in full. CPU work: call inside `cpu`.
    fn resolve(self) -> Result<Issue> {
        match self {
            Pending::Known(req) => Ok(req),
            Pending::Csr {
                ca,
                cert_type,
                days,
                input,
            } => {
                let csr = pki::parse_csr(&input.csr)?;
                csr_issue(ca, cert_type, days, input, csr)
            }
        }
    }
}

/// Checks the CA may issue this, signs, and stores certificate and audit entry.
pub async fn issue(
    state: &AppState,
    caller: &Principal,
    pending: Pending,
    base_url: &str,
) -> Result<CertOut> {
    let ca = pending.ca().clone();
    let cert_type = pending.cert_type();
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
    let (not_before, not_after) =
        pki::validity(Utc::now(), pending.days(), store::parse_ts(&ca.not_after))?;
    let policy = service_accounts::policy_of(state, caller).await?;
    let (crl_url, ca_issuers_url) = signing::public_urls(base_url, &ca);
    let issuer = signing::issuer(state, &ca).await?;
    let pooled = pending.new_key().and_then(|alg| state.key_pool.take(alg));
    let serial = (state.serials)();
    let signer = issuer.clone();
    // Resolve, check against the policy, make the key if needed and sign: one blocking task.
    let max_rsa_bits = state.settings.max_leaf_rsa_bits;
    let (req, signed, key_pem, alg, mut cert) = cpu_for(state, caller, move || {
        let req = pending.resolve()?;
        check_rsa_size(&req, max_rsa_bits)?;
        check_policy(policy.as_ref(), &req)?;
        let (spki, key_pem, alg) = match (&req.csr_key, req.new_key) {
            (Some((spki, alg)), _) => (spki.clone(), None, *alg),
            (None, Some(alg)) => {
                let key = match pooled {
                    Some(key) => key,
                    None => pki::PrivateKey::generate(alg)?,
                };
                (key.public_key_der(), Some(key.to_pem()), alg)
            }
            (None, None) => {
                return Err(Error::Internal(anyhow::anyhow!(
                    "no key for the certificate"
                )));
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
    let ips: Vec<String> = req.sans.ips.iter().map(ToString::to_string).collect();
    let to_json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
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
                key_origin: if req.csr_key.is_some() {
                    "csr"
                } else {
                    "server"
                }
                .into(),
                serial_number: cert.serial_hex,
                not_before: store::ts(cert.not_before),
                not_after: store::ts(cert.not_after),
                san_dns_names: to_json(&req.sans.dns),
                san_ip_addresses: to_json(&ips),
                san_email_addresses: to_json(&req.sans.emails),
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
    if req.csr_key.is_none() {
        out.private_key = Some(key_pem.filter(|_| req.return_key));
    }
    Ok(out)
}

/// RSA keys of certificates are bounded (`MAX_LEAF_RSA_BITS`): an RSA-8192
/// key costs seconds of a core to make, and a CSR's key decides what its
/// holder's peers must verify. CA keys are not bounded here.
fn check_rsa_size(req: &Issue, max_bits: u32) -> Result<()> {
    let alg = req.csr_key.as_ref().map(|(_, alg)| *alg).or(req.new_key);
    match alg {
        Some(pki::KeyAlgorithm::Rsa { bits }) if bits > max_bits => Err(Error::BadRequest(
            format!("RSA keys of certificates are limited to {max_bits} bits (got {bits})"),
        )),
        _ => Ok(()),
    }
}

/// Every common name involved must pass the caller's policy: the
/// `common_name` field and each CN the subject written into the certificate carries.
fn check_policy(policy: Option<&policy::Policy>, req: &Issue) -> Result<()> {
    if policy.is_none() {
        return Ok(());
    }
    let subject_cns = req
        .subject
        .attributes()
        .iter()
        .filter(|a| a.key() == "CN")
        .map(|a| a.value())
        .filter(|cn| *cn != req.common_name);
    for cn in std::iter::once(req.common_name.as_str()).chain(subject_cns) {
        service_accounts::enforce(
            policy,
            &policy::Request {
                ca_id: req.ca.id,
                certificate_type: req.cert_type.as_str(),
                valid_days: req.days,
                common_name: cn,
                dns: &req.sans.dns,
                ips: &req.sans.ips,
                emails: &req.sans.emails,
            },
        )?;
    }
    Ok(())
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
        csr_key: None,
        new_key: Some(alg),
        keep_key: input.include_private_key.unwrap_or(true),
        return_key: input.include_private_key.unwrap_or(true),
        renewed_from_id: None,
    };
    issue(state, caller, Pending::Known(req), base_url).await
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

/// A verified CSR, parsed on the blocking pool.
pub async fn parse_csr(state: &AppState, pem: &str) -> Result<pki::CsrInfo> {
    let pem = pem.to_string();
    cpu(state, move || Ok(pki::parse_csr(&pem)?)).await
}

/// `POST /certificates/sign-csr`.
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
    let ca = resolve_ca(state, caller, input.ca_id, input.ca_name.as_deref()).await?;
    let days = check_days(
        input
            .valid_days
            .unwrap_or(i64::from(state.settings.cert_days)),
    )?;
    issue(
        state,
        caller,
        Pending::Csr {
            ca,
            cert_type,
            days,
            input,
        },
        base_url,
    )
    .await
}

/// The issuance a CSR asks for, with the request's overrides. CPU work.
fn csr_issue(
    ca: CaRow,
    cert_type: CertType,
    days: i64,
    input: SignCsr,
    csr: pki::CsrInfo,
) -> Result<Issue> {
    let merged = merge_csr(cert_type, input, csr)?;
    let req = Issue {
        ca,
        cert_type,
        common_name: merged.common_name,
        subject: merged.subject,
        sans: merged.sans,
        days,
        csr_key: Some((merged.public_key_der, merged.algorithm)),
        new_key: None,
        keep_key: false,
        return_key: false,
        renewed_from_id: None,
    };
    Ok(req)
}

/// What a signed CSR becomes once the request's overrides are applied.
#[derive(Debug)]
pub struct MergedCsr {
    pub common_name: String,
    pub subject: pki::DistinguishedName,
    pub sans: pki::Sans,
    pub public_key_der: Vec<u8>,
    pub algorithm: pki::KeyAlgorithm,
}

/// `POST /certificates/sign-csr`: the CSR's common name, subject and SANs, each replaced
/// by the request's when it gives one, then checked. Pure (no CA, no database); the
/// fuzz target `json_bodies` calls it too.
pub fn merge_csr(cert_type: CertType, input: SignCsr, csr: pki::CsrInfo) -> Result<MergedCsr> {
    let common_name = input
        .common_name
        .clone()
        .or_else(|| csr.common_name.clone())
        .filter(|cn| !cn.trim().is_empty())
        .ok_or_else(|| {
            Error::BadRequest(
                "No common name in CSR or request: give the CSR a CN or send common_name".into(),
            )
        })?;
    let subject = match input.subject_dn.as_deref() {
        Some(dn) => effective_subject(Some(dn), &common_name)?,
        None if input.common_name.is_some() => {
            // A new common name replaces the CSR's.
            let mut dn = pki::DistinguishedName::new();
            dn.push("CN", common_name.trim())?;
            for a in csr.subject.attributes().iter().filter(|a| a.key() != "CN") {
                dn.push(&a.key(), a.value())?;
            }
            dn
        }
        None => csr.subject.clone(),
    };
    let names = RequestedNames {
        dns: input.san_dns_names.unwrap_or_else(|| csr.sans.dns.clone()),
        ips: input
            .san_ip_addresses
            .unwrap_or_else(|| csr.sans.ips.iter().map(ToString::to_string).collect()),
        emails: input
            .san_email_addresses
            .unwrap_or_else(|| csr.sans.emails.clone()),
    };
    let mut names = names;
    add_subject_emails(cert_type, &subject, &mut names)?;
    let sans = effective_sans(cert_type, Some(&common_name), names)?;
    Ok(MergedCsr {
        common_name,
        subject,
        sans,
        public_key_der: csr.public_key_der,
        algorithm: csr.algorithm,
    })
}

/// Scoped list; `ca_id` filters by issuer.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    ca_id: Option<i64>,
    after_id: i64,
    skip: i64,
    limit: i64,
) -> Result<Vec<CertOut>> {
    let filter = store::certs::CertFilter {
        all_organizations: caller.is_superuser(),
        organization_id: caller.organization_id(),
        issuer_id: ca_id,
        after_id,
        skip,
        limit,
    };
    let mut c = state.db.read().await?;
    let rows = store::certs::list(&mut c, &filter).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut lineage = store::certs::renewed_to_many(&mut c, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let to = lineage.remove(&r.id).unwrap_or_default();
            CertOut::from_row(r, to)
        })
        .collect())
}

/// Every certificate the caller may list (`ca_id` filters by issuer), in id
/// order after `after_id` and `skip` rows: FastPKI 0.4's list without a limit,
/// streamed. A non-superuser without an organization sees none.
pub fn list_all(
    state: &AppState,
    caller: &Principal,
    ca_id: Option<i64>,
    after_id: i64,
    skip: i64,
) -> RowStream<CertOut> {
    let all = caller.is_superuser();
    let org = caller.organization_id();
    if !all && org.is_none() {
        return stream::empty().boxed();
    }
    let filter = store::certs::CertFilter {
        all_organizations: all,
        organization_id: org,
        issuer_id: ca_id,
        after_id,
        skip,
        limit: state.list_window,
    };
    store::certs::stream(state.db.clone(), filter, state.list_window)
        .map_ok(|(row, renewed_to)| CertOut::from_row(row, renewed_to))
        .map_err(Error::from)
        .boxed()
}

/// Loads a certificate and its renewals' ids (one round trip), if the caller may act on it.
async fn load_with_renewals_for(
    state: &AppState,
    caller: &Principal,
    id: i64,
    action: Action,
) -> Result<(CertRow, Vec<i64>)> {
    let (row, renewed_to) = {
        let mut c = state.db.read().await?;
        store::certs::get_with_renewals(&mut c, id)
            .await?
            .ok_or_else(not_found)?
    };
    authorize(caller, &row, action)?;
    Ok((row, renewed_to))
}

pub async fn get(state: &AppState, caller: &Principal, id: i64) -> Result<CertOut> {
    let (row, renewed_to) = load_with_renewals_for(state, caller, id, Action::Read).await?;
    Ok(CertOut::from_row(row, renewed_to))
}

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

/// Reason text and code: the code given, or the one the text names (RFC 5280).
pub(crate) fn revocation_reason(input: &Revoke) -> Result<(Option<String>, Option<i64>)> {
    let text = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if text.is_some_and(|t| t.chars().count() > 512) {
        return Err(Error::validation(
            "reason",
            "reason must be at most 512 characters",
        ));
    }
    let reason = match input.reason_code {
        Some(c) => match pki::RevocationReason::from_code(c).filter(|r| !r.delta_only()) {
            Some(r) => Some(r),
            None => {
                return Err(Error::Validation(vec![crate::error::FieldError::body(
                    "reason_code",
                    "reason_code must be an RFC 5280 CRLReason: 0-6, 9 or 10 (8, removeFromCRL, only exists in delta CRLs)",
                )]));
            }
        },
        None => text
            .and_then(pki::RevocationReason::from_text)
            .filter(|r| !r.delta_only()),
    };
    let text = text
        .map(str::to_string)
        .or_else(|| reason.map(|r| r.name().to_string()));
    Ok((text, reason.map(|r| i64::from(r.code()))))
}

/// `POST /certificates/{id}/revoke`: exactly one concurrent call wins; the CRL is re-signed in the same transaction.
pub async fn revoke(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: Revoke,
) -> Result<CertOut> {
    let row = load_for(state, caller, id, Action::RevokeCert).await?;
    let (reason, code) = revocation_reason(&input)?;
    let ca = cas::load(state, row.issuer_id).await?;
    let now = store::now_ts();
    let mut tx = state.db.begin().await?;
    if !store::certs::revoke(&mut tx, id, &now, reason.as_deref(), code).await? {
        return Err(Error::Conflict("Certificate is already revoked".into()));
    }
    crl::rebuild(state, &mut tx, &ca).await?;
    let mut entry = caller.audit_on(
        "cert_revoke",
        "certificate",
        id,
        row.organization_id.or(ca.organization_id),
    );
    entry.detail = Some(format!(
        "Revoked certificate '{}' (serial {}){}",
        row.common_name,
        row.serial_number,
        reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    ));
    store::audit::insert(&mut tx, &entry, &now).await?;
    let row = store::certs::get(&mut tx, id)
        .await?
        .ok_or_else(|| Error::NotFound("Certificate not found".into()))?;
    tx.commit().await?;
    state.crls.forget(ca.id);
    with_lineage(state, row).await
}

/// `ca_id` query filter: positive integer.
pub fn check_ca_filter(ca_id: Option<i64>) -> Result<Option<i64>> {
    match ca_id {
        Some(id) if id < 1 => Err(Error::Validation(vec![query_error(
            "ca_id",
            "ca_id must be a positive integer",
        )])),
        other => Ok(other),
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Renew {
    /// Required when the certificate was issued from a CSR; refused otherwise.
    #[serde(default)]
    pub csr: Option<String>,
}

fn coded(code: &str) -> Error {
    Error::Coded(
        axum::http::StatusCode::BAD_REQUEST,
        serde_json::json!({ "code": code }),
    )
}

/// `POST /certificates/{id}/renew`: same subject, SANs, CA, type and validity
/// length, starting now; a new server-made key, or the key of a new CSR.
pub async fn renew(
    state: &AppState,
    caller: &Principal,
    id: i64,
    input: Renew,
    base_url: &str,
) -> Result<CertOut> {
    let old = load_for(state, caller, id, Action::Read).await?;
    let ca = cas::load(state, old.issuer_id).await?;
    if !authz::allows(
        &caller.authz_subject(),
        &cas::owner(&ca),
        Action::CreateCert,
    ) {
        return Err(Error::Forbidden("Insufficient permissions".into()));
    }
    if old.status == "revoked" {
        return Err(Error::BadRequest(
            "A revoked certificate cannot be renewed".into(),
        ));
    }
    let cert_type = CertType::parse(&old.certificate_type)
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("certificate {id} has an unknown type")))?;
    let from_csr = old.key_origin == "csr";
    let (csr_key, new_key) = match (
        from_csr,
        input
            .csr
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty()),
    ) {
        (true, None) => return Err(coded("csr_required_for_csr_origin_cert")),
        (false, Some(_)) => return Err(coded("csr_not_allowed_for_server_key_cert")),
        (true, Some(pem)) => {
            // Only the CSR's key is used: subject and names come from the certificate renewed.
            let csr = parse_csr(state, pem).await?;
            (Some((csr.public_key_der, csr.algorithm)), None)
        }
        (false, None) => {
            let bits = u32::try_from(old.key_size).unwrap_or(state.settings.cert_key_size);
            (
                None,
                Some(key_algorithm(
                    Some(&old.key_algorithm),
                    Some(bits),
                    state.settings.cert_key_size,
                )?),
            )
        }
    };
    let req = Issue {
        ca,
        cert_type,
        common_name: old.common_name.clone(),
        // The stored string, possibly from before `+` had to be escaped.
        subject: pki::parse_stored_dn(&old.subject_dn)?,
        sans: pki::Sans {
            dns: json_list(&old.san_dns_names),
            ips: json_list(&old.san_ip_addresses)
                .iter()
                .filter_map(|ip| ip.parse().ok())
                .collect(),
            emails: json_list(&old.san_email_addresses),
        },
        days: old.valid_days.max(1),
        csr_key,
        new_key,
        keep_key: old.key_stored.0,
        return_key: true,
        renewed_from_id: Some(old.id),
    };
    issue(state, caller, Pending::Known(req), base_url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(status: &str, not_after: chrono::DateTime<Utc>) -> CertRow {
        CertRow {
            id: 1,
            common_name: "x".into(),
            subject_dn: "CN=x".into(),
            certificate_type: "server".into(),
            key_algorithm: "ed25519".into(),
            key_size: 256,
            valid_days: 1,
            status: status.into(),
            certificate: String::new(),
            key_stored: store::certs::KeyStored(false),
            key_origin: "server".into(),
            serial_number: "01".into(),
            not_before: store::ts(not_after - chrono::Duration::days(1)),
            not_after: store::ts(not_after),
            san_dns_names: "[]".into(),
            san_ip_addresses: "[]".into(),
            san_email_addresses: "[]".into(),
            revoked_at: None,
            revocation_reason: None,
            revocation_reason_code: None,
            issuer_id: 1,
            organization_id: None,
            created_by_user_id: None,
            created_by_service_account_id: None,
            renewed_from_id: None,
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn status_reads_expired_once_not_after_passes() {
        let past = Utc::now() - chrono::Duration::seconds(1);
        let future = Utc::now() + chrono::Duration::days(1);
        assert_eq!(effective_status(&row("valid", past)), "expired");
        assert_eq!(effective_status(&row("valid", future)), "valid");
        assert_eq!(effective_status(&row("revoked", past)), "revoked");
    }

    #[test]
    fn san_defaults_and_rules() {
        let none = RequestedNames::default();
        let s = effective_sans(CertType::Server, Some("api.example.com"), none.clone()).unwrap();
        assert_eq!(s.dns, vec!["api.example.com"]);
        let s = effective_sans(CertType::Server, Some("10.0.0.1"), none.clone()).unwrap();
        assert_eq!(s.ips, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        let s = effective_sans(CertType::Client, Some("alice@example.com"), none.clone()).unwrap();
        assert_eq!(s.emails, vec!["alice@example.com"]);
        let s = effective_sans(CertType::Client, Some("alice"), none.clone()).unwrap();
        assert!(s.is_empty());
        let emails = RequestedNames {
            emails: vec!["a@example.com".into()],
            ..Default::default()
        };
        assert!(effective_sans(CertType::Server, Some("x.example.com"), emails).is_err());
        let dns = RequestedNames {
            dns: vec!["x.example.com".into()],
            ..Default::default()
        };
        assert!(effective_sans(CertType::Client, Some("x"), dns).is_err());
        let bad_ip = RequestedNames {
            ips: vec!["10.0.0.300".into()],
            ..Default::default()
        };
        assert!(effective_sans(CertType::Server, Some("x.example.com"), bad_ip).is_err());
    }
}
