//! Certificate revocation lists (RFC 5280 section 5): CRL building.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use crate::codec::crl_der_to_pem;
use crate::der;
use crate::error::PkiError;
use crate::issue::Issuer;
use crate::profile::aki_extension;
use crate::reason::RevocationReason;
use crate::serial::SerialNumber;

const OID_CRL_NUMBER: &[u64] = &[2, 5, 29, 20];
const OID_REASON_CODE: &[u64] = &[2, 5, 29, 21];

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// The certificate's serial number, hex.
    pub serial_hex: String,
    /// When it was revoked.
    pub revoked_at: DateTime<Utc>,
    /// Why; `None` or unspecified writes no reason extension.
    pub reason: Option<RevocationReason>,
}

/// A signed CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    /// DER (`application/pkix-crl`).
    pub der: Vec<u8>,
    /// PEM (`-----BEGIN X509 CRL-----`).
    pub pem: String,
}

/// Builds and signs a complete CRL v2 with AKI (= CA SKI), CRL number and reason codes.
pub fn build_crl(
    issuer: &Issuer,
    entries: &[RevokedEntry],
    crl_number: u64,
    this_update: DateTime<Utc>,
    next_update: DateTime<Utc>,
) -> Result<Crl, PkiError> {
    if !issuer.can_sign_crls() {
        return Err(PkiError::InvalidCertificate(
            "the CA's KeyUsage lacks cRLSign".into(),
        ));
    }
    if next_update.timestamp() <= this_update.timestamp() {
        return Err(PkiError::InvalidInput(
            "next_update must be later than this_update".into(),
        ));
    }
    let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(entries.len());
    let mut encoded: Vec<Vec<u8>> = Vec::with_capacity(entries.len());
    for e in entries {
        let serial = SerialNumber::from_hex(&e.serial_hex)?;
        if !seen.insert(serial.bytes().to_vec()) {
            return Err(PkiError::InvalidInput(format!(
                "serial {} is listed twice",
                serial.hex()
            )));
        }
        let reason = match e.reason {
            // RFC 5280 5.3.1: unspecified SHOULD be absent
            None | Some(RevocationReason::Unspecified) => None,
            Some(r) if r.delta_only() => {
                return Err(PkiError::InvalidInput(format!(
                    "reason {r} ({}) only belongs in delta CRLs",
                    r.code()
                )));
            }
            Some(r) => Some(r.code()),
        };
        let serial = der::uint(serial.bytes());
        let date = der::time(&e.revoked_at)?;
        encoded.push(match reason {
            Some(code) => {
                let ext =
                    der::extension(OID_REASON_CODE, false, &der::tlv(der::ENUMERATED, &[code]));
                der::seq(&[&serial, &date, &der::seq(&[&ext])])
            }
            None => der::seq(&[&serial, &date]),
        });
    }
    let sig_alg = issuer.key().algorithm().signature_algorithm_der();
    let crl_number_ext = der::extension(OID_CRL_NUMBER, false, &der::uint_u64(crl_number));
    let extensions = der::explicit(
        0,
        &[&der::seq(&[&aki_extension(issuer.ski()), &crl_number_ext])],
    );
    let this = der::time(&this_update)?;
    let next = der::time(&next_update)?;
    let version = der::uint_u64(1); // v2
    let revoked;
    let mut parts: Vec<&[u8]> = vec![&version, &sig_alg, issuer.subject_der(), &this, &next];
    // RFC 5280 5.1.2.6: when there are no revoked certificates the list is absent.
    if !encoded.is_empty() {
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        revoked = der::seq(&refs);
        parts.push(&revoked);
    }
    parts.push(&extensions);
    let tbs = der::seq(&parts);
    let crl = issuer.key().sign_tbs(&tbs)?;
    Ok(Crl {
        pem: crl_der_to_pem(&crl),
        der: crl,
    })
}

#[cfg(test)]
mod build_tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::testutil::{now, root};
    use chrono::Duration;
    use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
    use x509_parser::revocation_list::CertificateRevocationList;

    #[test]
    fn crl_contents_and_signature() {
        for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Ed25519] {
            let ca = root(alg);
            let entries = vec![
                RevokedEntry {
                    serial_hex: "0a1b".into(),
                    revoked_at: now(),
                    reason: Some(RevocationReason::KeyCompromise),
                },
                RevokedEntry {
                    serial_hex: "ff".into(),
                    revoked_at: now(),
                    reason: Some(RevocationReason::Unspecified),
                },
                RevokedEntry {
                    serial_hex: "7f".repeat(20),
                    revoked_at: now(),
                    reason: None,
                },
            ];
            let crl = build_crl(&ca, &entries, 42, now(), now() + Duration::days(7)).unwrap();
            assert!(crl.pem.starts_with("-----BEGIN X509 CRL-----\n"));
            let (rest, parsed) = CertificateRevocationList::from_der(&crl.der).unwrap();
            assert!(rest.is_empty());
            let (_, ca_cert) = X509Certificate::from_der(ca.certificate_der()).unwrap();
            parsed.verify_signature(ca_cert.public_key()).unwrap();
            assert_eq!(
                parsed.crl_number().map(|n| n.to_string()),
                Some("42".into())
            );
            assert_eq!(parsed.issuer().as_raw(), ca_cert.subject().as_raw());
            let revoked: Vec<_> = parsed.iter_revoked_certificates().collect();
            assert_eq!(revoked.len(), 3);
            assert_eq!(revoked[0].raw_serial(), &[0x0a, 0x1b]);
            assert_eq!(revoked[0].reason_code().map(|r| r.1.0), Some(1));
            // Unspecified (0) and None write no reason extension.
            assert!(revoked[1].extensions().is_empty());
            assert!(revoked[2].extensions().is_empty());
            // The ff serial gets a sign byte.
            assert_eq!(revoked[1].raw_serial(), &[0x00, 0xff]);
            let aki = parsed
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(a) => a.key_identifier.clone(),
                    _ => None,
                })
                .unwrap();
            assert_eq!(hex::encode(aki.0), ca.ski_hex());
        }
    }

    #[test]
    fn empty_crl_and_refusals() {
        let ca = root(KeyAlgorithm::EcdsaP256);
        let next = now() + Duration::days(1);
        let crl = build_crl(&ca, &[], 1, now(), next).unwrap();
        let (_, parsed) = CertificateRevocationList::from_der(&crl.der).unwrap();
        assert_eq!(parsed.iter_revoked_certificates().count(), 0);
        assert!(build_crl(&ca, &[], 1, next, now()).is_err());
        let entry = |serial: &str, reason| RevokedEntry {
            serial_hex: serial.into(),
            revoked_at: now(),
            reason,
        };
        for bad in [
            vec![entry("zz", None)],
            vec![entry("", None)],
            vec![entry("01", Some(RevocationReason::RemoveFromCrl))],
            vec![entry("01", None), entry("0001", None)],
        ] {
            assert!(matches!(
                build_crl(&ca, &bad, 1, now(), next),
                Err(PkiError::InvalidInput(_))
            ));
        }
        assert_eq!(
            build_crl(
                &ca,
                &[entry("01", Some(RevocationReason::RemoveFromCrl))],
                1,
                now(),
                next
            )
            .unwrap_err()
            .to_string(),
            "invalid input: reason removeFromCRL (8) only belongs in delta CRLs"
        );
    }
}
