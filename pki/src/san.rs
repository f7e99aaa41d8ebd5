//! Subject alternative names: DNS, IP and e-mail checks, and the SAN extension encoding.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use x509_parser::extensions::GeneralName;

use crate::der;
use crate::error::PkiError;

/// Most SAN entries a certificate (or CSR) may carry.
pub const MAX_SANS: usize = 1000;

/// Subject alternative names of a certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sans {
    /// DNS names (`dNSName`), optionally with a leading `*.` wildcard label.
    pub dns: Vec<String>,
    /// IP addresses (`iPAddress`).
    pub ips: Vec<IpAddr>,
    /// E-mail addresses (`rfc822Name`).
    pub emails: Vec<String>,
}

impl Sans {
    /// True when there is no name at all.
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ips.is_empty() && self.emails.is_empty()
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.dns.len() + self.ips.len() + self.emails.len()
    }

    /// Checks every name and returns the form we certify: duplicates dropped (DNS names compared
    /// without case), each name kept as written so that a CN can copy a SAN character for character.
    pub fn normalized(&self) -> Result<Sans, PkiError> {
        if self.len() > MAX_SANS {
            return Err(PkiError::InvalidInput(format!(
                "{} subject alternative names; at most {MAX_SANS} are allowed",
                self.len()
            )));
        }
        let mut out = Sans::default();
        for d in &self.dns {
            validate_dns_name(d)?;
            if !out.dns.iter().any(|seen| seen.eq_ignore_ascii_case(d)) {
                out.dns.push(d.clone());
            }
        }
        for ip in &self.ips {
            if !out.ips.contains(ip) {
                out.ips.push(*ip);
            }
        }
        for e in &self.emails {
            validate_email(e)?;
            if !out.emails.contains(e) {
                out.emails.push(e.clone());
            }
        }
        Ok(out)
    }

    /// Adds a parsed GeneralName (DNS, IP, e-mail; other kinds are skipped), unchecked.
    pub(crate) fn push_general_name(&mut self, name: &GeneralName<'_>) -> Result<(), String> {
        match name {
            GeneralName::DNSName(d) => self.dns.push((*d).to_string()),
            GeneralName::RFC822Name(e) => self.emails.push((*e).to_string()),
            GeneralName::IPAddress(b) => {
                let ip = if let Ok(v4) = <[u8; 4]>::try_from(*b) {
                    IpAddr::V4(Ipv4Addr::from(v4))
                } else if let Ok(v6) = <[u8; 16]>::try_from(*b) {
                    IpAddr::V6(Ipv6Addr::from(v6))
                } else {
                    return Err("IP address SAN must be 4 or 16 octets".into());
                };
                self.ips.push(ip);
            }
            // URIs, otherNames, directory names...: not certified by this CA.
            _ => {}
        }
        Ok(())
    }

    /// The GeneralNames SEQUENCE (extension value); callers pass normalized names.
    pub(crate) fn to_der(&self) -> Vec<u8> {
        let mut names: Vec<Vec<u8>> = Vec::with_capacity(self.len());
        for d in &self.dns {
            names.push(der::implicit_primitive(2, d.as_bytes()));
        }
        for ip in &self.ips {
            let octets = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            names.push(der::implicit_primitive(7, &octets));
        }
        for e in &self.emails {
            names.push(der::implicit_primitive(1, e.as_bytes()));
        }
        let parts: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        der::seq(&parts)
    }
}

fn dns_err(s: &str, why: &str) -> PkiError {
    PkiError::InvalidInput(format!("invalid DNS name {s:?}: {why}"))
}

/// Checks one LDH label (letters, digits, hyphens; 1-63 chars; no edge hyphen).
fn check_label(name: &str, label: &str) -> Result<(), PkiError> {
    if label.is_empty() {
        return Err(dns_err(name, "empty label"));
    }
    if label.len() > 63 {
        return Err(dns_err(name, "label longer than 63 characters"));
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(dns_err(
            name,
            "labels may only contain letters, digits and hyphens (use punycode for IDNs)",
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(dns_err(name, "a label may not start or end with a hyphen"));
    }
    Ok(())
}

/// Checks a DNS name for a certificate: LDH labels, optional leading `*.`, at most 253 chars.
pub fn validate_dns_name(s: &str) -> Result<(), PkiError> {
    if s.is_empty() {
        return Err(dns_err(s, "empty"));
    }
    if s.len() > 253 {
        return Err(dns_err(s, "longer than 253 characters"));
    }
    if s.ends_with('.') {
        return Err(dns_err(s, "trailing dot"));
    }
    if s.parse::<IpAddr>().is_ok() {
        return Err(dns_err(s, "this is an IP address; use an IP SAN"));
    }
    let rest = s.strip_prefix("*.").unwrap_or(s);
    if rest.is_empty() {
        return Err(dns_err(s, "a wildcard needs a domain after '*.'"));
    }
    for label in rest.split('.') {
        if label.contains('*') {
            return Err(dns_err(
                s,
                "'*' is only allowed as the whole leftmost label",
            ));
        }
        check_label(s, label)?;
    }
    if s.starts_with("*.") && is_public_suffix(rest) {
        return Err(dns_err(
            s,
            "a wildcard directly under a public suffix is not allowed",
        ));
    }
    Ok(())
}

/// True when `domain` is itself a suffix of the Public Suffix List (`com`,
/// `co.uk`, `github.io`), where anyone may register names: a wildcard right
/// under it would cover other people's domains (Baseline Requirements
/// 3.2.2.6). Names under an unlisted TLD (`internal`, `lan`) are not.
pub fn is_public_suffix(domain: &str) -> bool {
    let lower = domain.to_ascii_lowercase();
    psl::suffix(lower.as_bytes())
        .is_some_and(|sfx| sfx.is_known() && sfx.as_bytes() == lower.as_bytes())
}

/// Checks an e-mail address for an rfc822Name SAN: ASCII `local@domain`, domain a DNS name.
pub fn validate_email(s: &str) -> Result<(), PkiError> {
    let err = |why: &str| PkiError::InvalidInput(format!("invalid e-mail address {s:?}: {why}"));
    if s.len() > 254 {
        return Err(err("longer than 254 characters"));
    }
    let (local, domain) = s.rsplit_once('@').ok_or_else(|| err("missing '@'"))?;
    if local.is_empty() || local.len() > 64 {
        return Err(err("the local part must be 1 to 64 characters"));
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if !local
        .split('.')
        .all(|part| !part.is_empty() && part.chars().all(atext))
    {
        return Err(err("unsupported characters or dots in the local part"));
    }
    if domain.starts_with("*.") {
        return Err(err("wildcard domain"));
    }
    validate_dns_name(domain).map_err(|_| err("the domain is not a valid DNS name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bounds_are_inclusive() {
        // A 63-character label and a 253-character name are allowed; one more is not.
        validate_dns_name(&format!("{}.com", "a".repeat(63))).unwrap();
        assert!(validate_dns_name(&format!("{}.com", "a".repeat(64))).is_err());
        let name_of = |len: usize| {
            let mut labels = vec!["a".repeat(63); 3];
            labels.push("b".repeat(len - 3 * 64));
            labels.join(".")
        };
        assert_eq!(name_of(253).len(), 253);
        validate_dns_name(&name_of(253)).unwrap();
        assert!(validate_dns_name(&name_of(254)).is_err());
        // E-mail: at most 254 characters, a local part of 1 to 64.
        let local_msg = |e: PkiError| e.to_string().contains("the local part must be 1 to 64");
        validate_email(&format!("{}@example.com", "l".repeat(64))).unwrap();
        assert!(local_msg(
            validate_email(&format!("{}@example.com", "l".repeat(65))).unwrap_err()
        ));
        assert!(local_msg(validate_email("@example.com").unwrap_err()));
        let domain = |len: usize| {
            let mut labels = vec!["d".repeat(60); 3];
            labels.push("e".repeat(len - 3 * 61));
            labels.join(".")
        };
        let at_254 = format!("{}@{}", "l".repeat(50), domain(254 - 51));
        assert_eq!(at_254.len(), 254);
        validate_email(&at_254).unwrap();
        let at_255 = format!("{}@{}", "l".repeat(51), domain(254 - 51));
        assert!(
            validate_email(&at_255)
                .unwrap_err()
                .to_string()
                .contains("longer than 254")
        );
        // A list of exactly MAX_SANS names is certified; one more is refused.
        let sans = |n: usize| Sans {
            dns: (0..n).map(|i| format!("h{i}.example.com")).collect(),
            ..Sans::default()
        };
        assert_eq!(sans(MAX_SANS).normalized().unwrap().len(), MAX_SANS);
        assert!(sans(MAX_SANS + 1).normalized().is_err());
    }

    #[test]
    fn dns_names() {
        for ok in [
            "example.com",
            "localhost",
            "a",
            "EXAMPLE.com",
            "*.example.com",
            "*.example.co.uk",
            "*.internal",
            "*.svc.cluster.local",
            "xn--bcher-kva.example",
            "a-b.c-d.e",
            "1.example",
            "123abc",
        ] {
            validate_dns_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let long_label = format!("{}.com", "a".repeat(64));
        let long_name = vec!["a".repeat(63); 4].join(".");
        for bad in [
            "",
            ".",
            "example.com.",
            ".example.com",
            "a..b",
            "*",
            "*.",
            "**.example.com",
            "*.com",
            "*.co.uk",
            "*.CO.UK",
            "*.github.io",
            "a.*.example.com",
            "*example.com",
            "f*o.example.com",
            "-a.example",
            "a-.example",
            "under_score.example",
            "sp ace.example",
            "bücher.example",
            "1.2.3.4",
            "::1",
            long_label.as_str(),
            long_name.as_str(),
        ] {
            assert!(
                validate_dns_name(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        assert!(validate_dns_name(&vec!["a".repeat(62); 4].join(".")).is_ok());
    }

    #[test]
    fn emails() {
        for ok in [
            "alice@example.com",
            "a.b+tag@sub.example.org",
            "x@localhost",
        ] {
            validate_email(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a..b@example.com",
            ".a@example.com",
            "a b@example.com",
            "alice@exa mple.com",
            "alice@*.example.com",
            "älice@example.com",
            "alice@1.2.3.4",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn normalize() {
        let sans = Sans {
            dns: vec!["A.Example.com".into(), "a.example.com".into()],
            ips: vec!["127.0.0.1".parse().unwrap(), "127.0.0.1".parse().unwrap()],
            emails: vec!["x@y.z".into()],
        };
        let n = sans.normalized().unwrap();
        assert_eq!(n.dns, vec!["A.Example.com"]);
        assert_eq!(n.ips.len(), 1);
        assert_eq!(n.len(), 3);
        let too_many = Sans {
            dns: (0..=MAX_SANS).map(|i| format!("h{i}.example")).collect(),
            ..Sans::default()
        };
        assert!(too_many.normalized().is_err());
        assert!(
            Sans {
                dns: vec!["bad_name".into()],
                ..Sans::default()
            }
            .normalized()
            .is_err()
        );
    }
}
