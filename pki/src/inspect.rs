//! Reading certificates: the facts the server shows or checks (subject, serial, dates, CA...).

use chrono::{DateTime, Utc};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};

use crate::codec::{cert_pem_to_der, int_hex};
use crate::dn::x509_name_to_string;
use crate::error::PkiError;
use crate::issue::{asn1_time, find_ski};
use crate::keys::{KeyAlgorithm, parse_spki};
use crate::san::Sans;

/// What [`inspect_cert`] reports about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject in our DN syntax, in certificate order.
    pub subject: String,
    /// Issuer in our DN syntax, in certificate order.
    pub issuer: String,
    /// First commonName of the subject.
    pub common_name: Option<String>,
    /// Serial number, lowercase hex without leading zero bytes.
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// BasicConstraints cA.
    pub is_ca: bool,
    /// BasicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
    /// Subject key identifier, lowercase hex.
    pub ski_hex: Option<String>,
    /// Authority key identifier (keyIdentifier), lowercase hex.
    pub aki_hex: Option<String>,
    /// The public key when it is one this CA supports.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Public key algorithm: our name (`rsa`, `ecdsa-p256`...) or the dotted OID.
    pub public_key_algorithm: String,
    /// DNS, IP and e-mail subject alternative names.
    pub sans: Sans,
    /// Subject and issuer names are identical.
    pub self_issued: bool,
    /// The SubjectPublicKeyInfo, DER (to compare with another key).
    pub public_key_der: Vec<u8>,
}

/// Reads a certificate given as PEM or DER.
pub fn inspect_cert(pem_or_der: &[u8]) -> Result<CertInfo, PkiError> {
    let trimmed = pem_or_der.trim_ascii_start();
    let owned;
    let der: &[u8] = if trimmed.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed)
            .map_err(|_| PkiError::InvalidCertificate("PEM is not UTF-8".into()))?;
        owned = cert_pem_to_der(text).map_err(|e| PkiError::InvalidCertificate(e.to_string()))?;
        &owned
    } else {
        pem_or_der
    };
    let bad = |m: &str| PkiError::InvalidCertificate(m.to_string());
    let (rest, cert) = X509Certificate::from_der(der).map_err(|_| bad("malformed certificate"))?;
    if !rest.is_empty() {
        return Err(bad("trailing data after the certificate"));
    }
    let bc = cert
        .basic_constraints()
        .map_err(|_| bad("malformed BasicConstraints"))?;
    let mut aki_hex = None;
    let mut sans = Sans::default();
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki_hex = aki.key_identifier.as_ref().map(|k| hex::encode(k.0));
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                for name in &san.general_names {
                    // A malformed IP in someone else's certificate is skipped, not fatal.
                    let _ = sans.push_general_name(name);
                }
            }
            _ => {}
        }
    }
    let key_algorithm = parse_spki(cert.public_key().raw).ok().map(|k| k.algorithm);
    let public_key_algorithm = match key_algorithm {
        Some(k) => k.name().to_string(),
        None => cert.public_key().algorithm.algorithm.to_id_string(),
    };
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    Ok(CertInfo {
        subject: x509_name_to_string(cert.subject()),
        issuer: x509_name_to_string(cert.issuer()),
        common_name,
        serial_hex: int_hex(cert.raw_serial()),
        not_before: asn1_time(&cert.validity().not_before)?,
        not_after: asn1_time(&cert.validity().not_after)?,
        is_ca: bc.as_ref().is_some_and(|b| b.value.ca),
        path_len: bc.and_then(|b| b.value.path_len_constraint),
        ski_hex: find_ski(&cert).map(hex::encode),
        aki_hex,
        key_algorithm,
        public_key_algorithm,
        sans,
        self_issued: cert.subject().as_raw() == cert.issuer().as_raw(),
        public_key_der: cert.public_key().raw.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{issue_simple, now, root};
    use crate::{PrivateKey, Profile, Signer, parse_dn};

    #[test]
    fn reports_what_was_issued() {
        let ca = root(KeyAlgorithm::EcdsaP384);
        let key = PrivateKey::generate(KeyAlgorithm::Rsa { bits: 2048 }).unwrap();
        let sans = Sans {
            dns: vec!["a.example".into()],
            ips: vec!["::1".parse().unwrap()],
            emails: vec!["x@a.example".into()],
        };
        let out = issue_simple(
            &parse_dn(r"CN=a.example,O=Smith\, Inc").unwrap(),
            &key.public_key_der(),
            Profile::DualPurpose,
            &sans,
            Signer::Issuer(&ca),
        )
        .unwrap();
        for input in [out.pem.as_bytes(), out.der.as_slice()] {
            let info = inspect_cert(input).unwrap();
            assert_eq!(info.subject, r"CN=a.example,O=Smith\, Inc");
            assert_eq!(info.issuer, "CN=Test Root ecdsa-p384,O=FastPKI");
            assert_eq!(info.common_name.as_deref(), Some("a.example"));
            assert_eq!(info.serial_hex, out.serial_hex);
            assert_eq!(info.not_before, now());
            assert_eq!(info.not_after, out.not_after);
            assert!(!info.is_ca);
            assert_eq!(info.path_len, None);
            assert_eq!(info.ski_hex.as_deref(), Some(out.ski_hex.as_str()));
            assert_eq!(info.aki_hex, Some(ca.ski_hex()));
            assert_eq!(info.key_algorithm, Some(KeyAlgorithm::Rsa { bits: 2048 }));
            assert_eq!(info.public_key_algorithm, "rsa");
            assert_eq!(info.sans, sans);
            assert!(!info.self_issued);
        }
        let root_info = inspect_cert(ca.certificate_pem().as_bytes()).unwrap();
        assert!(root_info.is_ca && root_info.self_issued);
        assert_eq!(root_info.path_len, Some(1));
        assert!(inspect_cert(b"junk").is_err());
        assert!(
            inspect_cert(b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
