//! What a certificate request asks for and the defaults it gets: the request
//! bodies, the certificate types, the subject, the SANs, and a CSR merged with
//! the request's overrides. Pure: no database, no clock.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

    pub(super) fn profile(self) -> pki::Profile {
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

#[cfg(test)]
mod tests {
    use super::*;

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
