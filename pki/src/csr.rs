//! Certificate signing requests: parsing, key checks and self-signature verification.
//!
//! Uses x509-parser rather than rcgen's CSR parser, which rejects CSRs carrying extensions
//! it does not know. Requested extensions other than subjectAltName are ignored: the profile
//! decides what the certificate gets.

use x509_parser::error::X509Error;
use x509_parser::oid_registry::{
    OID_PKCS1_SHA1WITHRSA, OID_SHA1_WITH_RSA, OID_X509_EXT_SUBJECT_ALT_NAME,
};
use x509_parser::prelude::{
    FromDer, ParsedCriAttribute, ParsedExtension, X509CertificationRequest,
};

use crate::codec::pem_to_der;
use crate::dn::DistinguishedName;
use crate::error::PkiError;
use crate::keys::{KeyAlgorithm, check_supported, parse_spki};
use crate::san::{MAX_SANS, Sans};

/// Largest CSR PEM accepted, in bytes.
pub const MAX_CSR_PEM_LEN: usize = 64 * 1024;

/// What a verified CSR asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrInfo {
    /// The requested subject (unknown attribute types kept as dotted OIDs).
    pub subject: DistinguishedName,
    /// The subject's first commonName.
    pub common_name: Option<String>,
    /// DNS, IP and e-mail names of the requested subjectAltName (other name types ignored).
    pub sans: Sans,
    /// The subject's public key, SubjectPublicKeyInfo DER.
    pub public_key_der: Vec<u8>,
    /// The public key's algorithm and size.
    pub algorithm: KeyAlgorithm,
}

fn invalid(m: impl Into<String>) -> PkiError {
    PkiError::InvalidCsr(m.into())
}

/// Parses a PEM CSR (`CERTIFICATE REQUEST`), checks its key, and verifies its self-signature.
pub fn parse_csr(pem: &str) -> Result<CsrInfo, PkiError> {
    if pem.len() > MAX_CSR_PEM_LEN {
        return Err(invalid(format!("larger than {MAX_CSR_PEM_LEN} bytes")));
    }
    let der = pem_to_der(pem, "CERTIFICATE REQUEST")
        .or_else(|_| pem_to_der(pem, "NEW CERTIFICATE REQUEST"))
        .map_err(|_| invalid("expected a PEM block labelled CERTIFICATE REQUEST"))?;
    parse_csr_der(&der)
}

/// Parses a DER CSR, checks its key, and verifies its self-signature.
pub fn parse_csr_der(der: &[u8]) -> Result<CsrInfo, PkiError> {
    if der.len() > MAX_CSR_PEM_LEN {
        return Err(invalid(format!("larger than {MAX_CSR_PEM_LEN} bytes")));
    }
    let (rest, csr) =
        X509CertificationRequest::from_der(der).map_err(|_| invalid("malformed request"))?;
    if !rest.is_empty() {
        return Err(invalid("trailing data after the request"));
    }
    let cri = &csr.certification_request_info;
    if cri.version.0 != 0 {
        return Err(invalid("unsupported request version"));
    }
    // Key type and size first: an absurd key must not cost a signature check.
    let key = parse_spki(cri.subject_pki.raw).map_err(|m| invalid(format!("public key: {m}")))?;
    check_supported(key.algorithm).map_err(|m| invalid(format!("public key: {m}")))?;
    let sig_alg = &csr.signature_algorithm.algorithm;
    if *sig_alg == OID_PKCS1_SHA1WITHRSA || *sig_alg == OID_SHA1_WITH_RSA {
        return Err(invalid("signature uses SHA-1, which is not accepted"));
    }
    csr.verify_signature().map_err(|e| match e {
        X509Error::SignatureUnsupportedAlgorithm => invalid(format!(
            "signature algorithm {} is not supported",
            sig_alg.to_id_string()
        )),
        _ => invalid("signature verification failed"),
    })?;
    let subject = DistinguishedName::from_x509_name(&cri.subject)
        .map_err(|m| invalid(format!("subject: {m}")))?;
    let sans = requested_sans(&csr)?;
    Ok(CsrInfo {
        common_name: subject.common_name().map(str::to_string),
        subject,
        sans,
        public_key_der: key.to_der(),
        algorithm: key.algorithm,
    })
}

/// Collects DNS, IP and e-mail names from the extensionRequest's subjectAltName(s).
fn requested_sans(csr: &X509CertificationRequest<'_>) -> Result<Sans, PkiError> {
    let mut sans = Sans::default();
    let mut count = 0usize;
    for attr in csr.certification_request_info.iter_attributes() {
        let ParsedCriAttribute::ExtensionRequest(req) = attr.parsed_attribute() else {
            continue;
        };
        for ext in &req.extensions {
            if ext.oid != OID_X509_EXT_SUBJECT_ALT_NAME {
                continue;
            }
            let ParsedExtension::SubjectAlternativeName(san) = ext.parsed_extension() else {
                return Err(invalid("malformed subjectAltName extension"));
            };
            count += san.general_names.len();
            if count > MAX_SANS {
                return Err(invalid(format!(
                    "more than {MAX_SANS} subject alternative names"
                )));
            }
            for name in &san.general_names {
                sans.push_general_name(name).map_err(invalid)?;
            }
        }
    }
    sans.normalized().map_err(|e| match e {
        PkiError::InvalidInput(m) => invalid(m),
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KeyAlgorithm, PrivateKey};
    use rcgen::{CertificateParams, CustomExtension, DnType, KeyPair};
    use std::net::IpAddr;

    fn csr_pem(key: &PrivateKey, params: &CertificateParams) -> String {
        let kp = KeyPair::try_from(key.pkcs8_der()).unwrap();
        params.serialize_request(&kp).unwrap().pem().unwrap()
    }

    fn params() -> CertificateParams {
        let mut p =
            CertificateParams::new(vec!["API.example.com".to_string(), "10.0.0.42".to_string()])
                .unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(DnType::CommonName, "api.example.com");
        p.distinguished_name
            .push(DnType::OrganizationName, "Acme, Inc");
        p.distinguished_name
            .push(DnType::CustomDnType(vec![1, 2, 3, 4]), "custom");
        p
    }

    #[test]
    fn parses_and_verifies_every_algorithm() {
        for alg in [
            KeyAlgorithm::Rsa { bits: 2048 },
            KeyAlgorithm::EcdsaP256,
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            let info = parse_csr(&csr_pem(&key, &params())).unwrap();
            assert_eq!(info.algorithm, alg);
            assert_eq!(info.public_key_der, key.public_key_der());
            assert_eq!(info.common_name.as_deref(), Some("api.example.com"));
            assert_eq!(
                info.subject.to_string(),
                r"CN=api.example.com,O=Acme\, Inc,1.2.3.4=custom"
            );
            assert_eq!(info.sans.dns, vec!["API.example.com"]);
            assert_eq!(info.sans.ips, vec!["10.0.0.42".parse::<IpAddr>().unwrap()]);
        }
    }

    #[test]
    fn size_bound_is_inclusive() {
        let larger =
            |e: PkiError| matches!(e, PkiError::InvalidCsr(m) if m.starts_with("larger than"));
        // Exactly the bound: read (and refused for what it is), not refused for its size.
        assert!(!larger(
            parse_csr(&"A".repeat(MAX_CSR_PEM_LEN)).unwrap_err()
        ));
        assert!(larger(
            parse_csr(&"A".repeat(MAX_CSR_PEM_LEN + 1)).unwrap_err()
        ));
        assert_eq!(
            parse_csr_der(&vec![0u8; MAX_CSR_PEM_LEN]).unwrap_err(),
            PkiError::InvalidCsr("malformed request".into())
        );
        assert!(larger(
            parse_csr_der(&vec![0u8; MAX_CSR_PEM_LEN + 1]).unwrap_err()
        ));
    }

    #[test]
    fn at_most_max_sans_are_read() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let names = |n: usize| {
            (0..n)
                .map(|i| format!("h{i}.example.com"))
                .collect::<Vec<_>>()
        };
        let info = parse_csr(&csr_pem(
            &key,
            &CertificateParams::new(names(MAX_SANS)).unwrap(),
        ))
        .unwrap();
        assert_eq!(info.sans.dns.len(), MAX_SANS);
        let err = parse_csr(&csr_pem(
            &key,
            &CertificateParams::new(names(MAX_SANS + 1)).unwrap(),
        ))
        .unwrap_err();
        assert_eq!(
            err,
            PkiError::InvalidCsr(format!("more than {MAX_SANS} subject alternative names"))
        );
    }

    #[test]
    fn an_unsupported_signature_algorithm_is_named() {
        // ecdsa-with-SHA256 (1.2.840.10045.4.3.2) in the outer signatureAlgorithm becomes
        // ecdsa-with-SHA224 (…4.3.1), which the verifier does not support.
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut der = crate::pem_to_der(&csr_pem(&key, &params()), "CERTIFICATE REQUEST").unwrap();
        let sha256 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
        let at = der.windows(8).rposition(|w| w == sha256).unwrap();
        der[at + 7] = 0x01;
        assert_eq!(
            parse_csr_der(&der).unwrap_err(),
            PkiError::InvalidCsr("signature algorithm 1.2.840.10045.4.3.1 is not supported".into())
        );
    }

    #[test]
    fn accepts_unknown_requested_extensions() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let mut p = params();
        let mut ext = CustomExtension::from_oid_content(&[1, 2, 3, 4, 5], vec![0x05, 0x00]);
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
        p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        let info = parse_csr(&csr_pem(&key, &p)).unwrap();
        assert_eq!(info.sans.dns, vec!["API.example.com"]);
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = csr_pem(&key, &params());
        let mut der = crate::pem_to_der(&pem, "CERTIFICATE REQUEST").unwrap();
        // Flip a bit inside the signed subject (CN "api..." -> "aqi...").
        let pos = der.windows(3).position(|w| w == b"api").unwrap();
        der[pos + 1] ^= 0x01;
        let err = parse_csr_der(&der).unwrap_err();
        assert_eq!(
            err,
            PkiError::InvalidCsr("signature verification failed".into())
        );
    }

    #[test]
    fn garbage_and_oversized_input() {
        for bad in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
            "-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n",
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        ] {
            assert!(
                matches!(parse_csr(bad), Err(PkiError::InvalidCsr(_))),
                "{bad:?}"
            );
        }
        let huge = "A".repeat(MAX_CSR_PEM_LEN + 1);
        assert!(matches!(parse_csr(&huge), Err(PkiError::InvalidCsr(_))));
        // Truncations of a valid CSR never panic.
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let der = crate::pem_to_der(&csr_pem(&key, &params()), "CERTIFICATE REQUEST").unwrap();
        for n in 0..der.len() {
            assert!(parse_csr_der(&der[..n]).is_err());
        }
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(parse_csr_der(&trailing).is_err());
        // Single-byte corruptions never panic (most are rejected).
        for i in 0..der.len() {
            let mut d = der.clone();
            d[i] ^= 0xff;
            let _ = parse_csr_der(&d);
        }
    }

    #[test]
    fn too_many_sans() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let names: Vec<String> = (0..=MAX_SANS).map(|i| format!("h{i}.example")).collect();
        let p = CertificateParams::new(names).unwrap();
        let err = parse_csr(&csr_pem(&key, &p)).unwrap_err();
        assert!(matches!(err, PkiError::InvalidCsr(m) if m.contains("more than")));
    }
}
