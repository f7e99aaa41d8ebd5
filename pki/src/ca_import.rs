//! CAs made elsewhere: reading their certificates, checking that a certificate and a key
//! make a CA that can issue and sign CRLs, that a certificate chains to its issuers, and
//! the CSR a CA sends to an outside CA (renewal, cross-signing, a new key).

use chrono::{DateTime, Utc};
use x509_parser::error::X509Error;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::codec::int_hex;
use crate::der;
use crate::dn::{DistinguishedName, x509_name_to_string};
use crate::error::PkiError;
use crate::issue::{Issuer, asn1_time};
use crate::keys::{KeyAlgorithm, PrivateKey};
use crate::profile::{
    KU_CRL_SIGN, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN, basic_constraints, key_usage,
};

/// Most certificates accepted in one file (the CA's, or the chain above it).
pub const MAX_CHAIN_LEN: usize = 16;

/// Largest certificate accepted, DER bytes.
const MAX_CERT_LEN: usize = 64 * 1024;

/// PKCS#9 extensionRequest.
const OID_EXTENSION_REQUEST: &[u64] = &[1, 2, 840, 113549, 1, 9, 14];

fn bad(m: impl Into<String>) -> PkiError {
    PkiError::InvalidCertificate(m.into())
}

/// The certificates of a file: every `CERTIFICATE` block of a PEM text, in order, or one DER
/// certificate. At least one, at most [`MAX_CHAIN_LEN`].
pub fn read_certificates(data: &[u8]) -> Result<Vec<Vec<u8>>, PkiError> {
    let trimmed = data.trim_ascii();
    // PEM, perhaps after text (`openssl x509 -text`, bundles with comments).
    let ders = if trimmed.windows(10).any(|w| w == b"-----BEGIN") {
        let text = std::str::from_utf8(trimmed).map_err(|_| bad("PEM that is not text"))?;
        let blocks = ::pem::parse_many(text).map_err(|_| bad("malformed PEM"))?;
        let certs: Vec<Vec<u8>> = blocks
            .into_iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(::pem::Pem::into_contents)
            .collect();
        if certs.is_empty() {
            return Err(bad("no CERTIFICATE block in the PEM text"));
        }
        certs
    } else if trimmed.is_empty() {
        return Err(bad("empty"));
    } else {
        vec![data.to_vec()]
    };
    if ders.len() > MAX_CHAIN_LEN {
        return Err(bad(format!("more than {MAX_CHAIN_LEN} certificates")));
    }
    for der in &ders {
        parse(der)?;
    }
    Ok(ders)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    if der.len() > MAX_CERT_LEN {
        return Err(bad(format!(
            "a certificate of more than {MAX_CERT_LEN} bytes"
        )));
    }
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|_| bad("not an X.509 certificate (PEM or DER)"))?;
    if !rest.is_empty() {
        return Err(bad("trailing data after the certificate"));
    }
    Ok(cert)
}

/// A CA certificate and its key, checked: what FastPKI needs to run the CA.
#[derive(Debug, Clone)]
pub struct ImportedCa {
    /// The CA ready to sign (certificate DER kept byte for byte, subject included).
    pub issuer: Issuer,
    /// The subject in our DN syntax (for display; the DER is what is signed with).
    pub subject: String,
    /// The subject as a name our policies can judge, when our DN syntax can hold it
    /// (single-valued RDNs of string attributes).
    pub subject_dn: Option<DistinguishedName>,
    /// Serial number, lowercase hex.
    pub serial_hex: String,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// BasicConstraints pathLenConstraint.
    pub path_len: Option<u32>,
    /// Self-issued, and its signature verifies with its own key: a root.
    pub self_signed: bool,
    /// The key's algorithm and size.
    pub algorithm: KeyAlgorithm,
}

/// Checks that `cert_der` and `key` make a usable CA at `now`: the certificate parses, its
/// public key is `key`'s, BasicConstraints says cA, KeyUsage (when present) has keyCertSign
/// and cRLSign, and it has not expired.
pub fn check_ca_certificate(
    cert_der: &[u8],
    key: PrivateKey,
    now: DateTime<Utc>,
) -> Result<ImportedCa, PkiError> {
    let cert = parse(cert_der)?;
    let algorithm = key.algorithm();
    // Parses again, checks cA, the subject and that the key is the certificate's.
    let issuer = Issuer::from_der(cert_der, key)?;
    if !issuer.can_sign_certs() {
        return Err(bad(
            "the certificate's KeyUsage lacks keyCertSign: it may not sign certificates",
        ));
    }
    if !issuer.can_sign_crls() {
        return Err(bad(
            "the certificate's KeyUsage lacks cRLSign: it may not sign the CRLs that \
             revocation needs",
        ));
    }
    let not_after = issuer.not_after();
    if not_after <= now {
        return Err(bad(format!(
            "the certificate expired on {}",
            not_after.format("%Y-%m-%d %H:%M:%S UTC")
        )));
    }
    let self_signed =
        cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok();
    Ok(ImportedCa {
        subject: x509_name_to_string(cert.subject()),
        subject_dn: DistinguishedName::from_x509_name(cert.subject()).ok(),
        serial_hex: int_hex(cert.raw_serial()),
        not_before: asn1_time(&cert.validity().not_before)?,
        not_after,
        path_len: issuer.path_len(),
        self_signed,
        algorithm,
        issuer,
    })
}

/// Checks that `cert_der` chains to `issuers` (its issuer first, then that one's, ...):
/// each certificate names the next one's subject as issuer and its signature verifies
/// with the next one's key; each issuer is a CA allowed to sign certificates, and its
/// pathLenConstraint allows the CAs below it (`cert_der` is a CA, so it counts). The last
/// issuer need not be a root: trust ends where the caller says.
///
/// Returns how many CAs the issuers' pathLenConstraints still allow below `cert_der`
/// (None: no limit), whatever `cert_der`'s own constraint says.
pub fn verify_chain(cert_der: &[u8], issuers: &[Vec<u8>]) -> Result<Option<u32>, PkiError> {
    if issuers.len() > MAX_CHAIN_LEN {
        return Err(bad(format!("a chain of more than {MAX_CHAIN_LEN} issuers")));
    }
    let mut child = parse(cert_der)?;
    // Non-self-issued CA certificates below the issuer being looked at.
    let mut below: u32 = 0;
    let mut room: Option<u32> = None;
    for (i, der) in issuers.iter().enumerate() {
        let parent = parse(der)?;
        let which = |n: usize| match n {
            0 => "the certificate".to_string(),
            n => format!("chain certificate {n}"),
        };
        if child.issuer().as_raw() != parent.subject().as_raw() {
            return Err(bad(format!(
                "{} is issued by \"{}\", not by \"{}\" (chain certificate {})",
                which(i),
                x509_name_to_string(child.issuer()),
                x509_name_to_string(parent.subject()),
                i + 1
            )));
        }
        let bc = parent
            .basic_constraints()
            .map_err(|_| bad("malformed BasicConstraints"))?
            .filter(|b| b.value.ca)
            .ok_or_else(|| bad(format!("chain certificate {} is not a CA", i + 1)))?;
        let ku = parent.key_usage().map_err(|_| bad("malformed KeyUsage"))?;
        if ku.is_some_and(|k| !k.value.key_cert_sign()) {
            return Err(bad(format!(
                "chain certificate {} may not sign certificates (no keyCertSign)",
                i + 1
            )));
        }
        if child.subject().as_raw() != child.issuer().as_raw() {
            below += 1;
        }
        if let Some(max) = bc.value.path_len_constraint
            && below > max
        {
            return Err(bad(format!(
                "chain certificate {} (\"{}\") allows {max} CA(s) below it \
                 (pathLenConstraint), this chain has {below}",
                i + 1,
                x509_name_to_string(parent.subject())
            )));
        }
        if let Some(max) = bc.value.path_len_constraint {
            let left = max - below;
            room = Some(room.map_or(left, |r| r.min(left)));
        }
        child
            .verify_signature(Some(parent.public_key()))
            .map_err(|e| match e {
                X509Error::SignatureUnsupportedAlgorithm => bad(format!(
                    "the signature algorithm of {} ({}) is not supported",
                    which(i),
                    child.signature_algorithm.algorithm.to_id_string()
                )),
                _ => bad(format!(
                    "the signature of {} does not verify with the key of chain certificate {}",
                    which(i),
                    i + 1
                )),
            })?;
        child = parent;
    }
    Ok(room)
}

/// A PEM CSR (`CERTIFICATE REQUEST`) for a CA: the subject exactly as `subject_der` (a DER
/// Name, e.g. the CA certificate's own), `key`'s public key, and an extensionRequest for
/// BasicConstraints critical cA (with `path_len`) and KeyUsage critical digitalSignature,
/// keyCertSign, cRLSign; signed with `key`.
pub fn ca_csr(
    key: &PrivateKey,
    subject_der: &[u8],
    path_len: Option<u8>,
) -> Result<String, PkiError> {
    match x509_parser::x509::X509Name::from_der(subject_der) {
        Ok((rest, name)) if rest.is_empty() && name.iter_attributes().next().is_some() => {}
        _ => {
            return Err(PkiError::InvalidInput(
                "a CA needs a non-empty subject name".into(),
            ));
        }
    }
    let extensions = der::seq(&[
        &basic_constraints(true, path_len),
        &key_usage(KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN),
    ]);
    let request = der::seq(&[
        &der::oid(OID_EXTENSION_REQUEST),
        &der::constructed(der::SET, &[&extensions]),
    ]);
    let info = der::seq(&[
        &der::uint_u64(0),
        subject_der,
        &key.public_key_der(),
        &der::constructed(0xa0, &[&request]),
    ]);
    let csr = key.sign_tbs(&info)?;
    Ok(crate::codec::der_to_pem(&csr, "CERTIFICATE REQUEST"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ALL_ALGS, issue_simple, now, root};
    use crate::{KeyAlgorithm, Profile, Sans, Signer, cert_der_to_pem, parse_csr, parse_dn};

    fn intermediate(parent: &Issuer, name: &str, path_len: Option<u8>) -> (PrivateKey, Vec<u8>) {
        let alg = parent.key().algorithm();
        let key = PrivateKey::generate(alg).unwrap();
        let cert = issue_simple(
            &parse_dn(&format!("CN={name} {},O=FastPKI", alg.name())).unwrap(),
            &key.public_key_der(),
            Profile::IntermediateCa { path_len },
            &Sans::default(),
            Signer::Issuer(parent),
        )
        .unwrap();
        (key, cert.der)
    }

    #[test]
    fn roots_and_intermediates_check_and_chain() {
        for alg in ALL_ALGS {
            let r = root(alg);
            let ca = check_ca_certificate(r.certificate_der(), r.key().clone(), now()).unwrap();
            assert!(ca.self_signed);
            assert_eq!(ca.algorithm, alg);
            assert_eq!(ca.path_len, Some(1));
            assert_eq!(ca.issuer.subject_der(), r.subject_der());
            assert!(ca.subject_dn.is_some());
            assert_eq!(ca.subject, r.subject());
            let (key, sub) = intermediate(&r, "Sub", Some(0));
            let imported = check_ca_certificate(&sub, key.clone(), now()).unwrap();
            assert!(!imported.self_signed);
            // The root (pathLen 1) leaves no room for a CA below the sub-CA.
            assert_eq!(
                verify_chain(&sub, &[r.certificate_der().to_vec()]),
                Ok(Some(0))
            );
            // Below a pathLen-0 CA, no CA can chain.
            let sub_issuer = Issuer::from_der(&sub, key).unwrap();
            let (_, deeper) = intermediate(&sub_issuer, "Deeper", None);
            let e =
                verify_chain(&deeper, &[sub.clone(), r.certificate_der().to_vec()]).unwrap_err();
            assert!(e.to_string().contains("pathLenConstraint"), "{e}");
            // A root of the same name but another key: names chain, the signature does not.
            let other = root(alg);
            let e = verify_chain(&sub, &[other.certificate_der().to_vec()]).unwrap_err();
            assert!(e.to_string().contains("does not verify"), "{e}");
            // Another name altogether.
            let e = verify_chain(r.certificate_der(), std::slice::from_ref(&sub)).unwrap_err();
            assert!(e.to_string().contains("is issued by"), "{e}");
        }
    }

    #[test]
    fn refusals() {
        let r = root(KeyAlgorithm::EcdsaP256);
        let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(
            check_ca_certificate(r.certificate_der(), other, now()).unwrap_err(),
            PkiError::KeyMismatch
        );
        let late = r.not_after() + chrono::Duration::seconds(1);
        let e = check_ca_certificate(r.certificate_der(), r.key().clone(), late).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let leaf_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let leaf = issue_simple(
            &parse_dn("CN=leaf.example").unwrap(),
            &leaf_key.public_key_der(),
            Profile::Server,
            &Sans::default(),
            Signer::Issuer(&r),
        )
        .unwrap();
        let e = check_ca_certificate(&leaf.der, leaf_key, now()).unwrap_err();
        assert!(e.to_string().contains("not a CA"), "{e}");
        let e = verify_chain(r.certificate_der(), std::slice::from_ref(&leaf.der)).unwrap_err();
        assert!(e.to_string().contains("is issued by"), "{e}");
    }

    #[test]
    fn reading_certificate_files() {
        let r = root(KeyAlgorithm::Ed25519);
        let der = r.certificate_der().to_vec();
        let pem = cert_der_to_pem(&der);
        assert_eq!(read_certificates(&der).unwrap(), vec![der.clone()]);
        assert_eq!(
            read_certificates(pem.as_bytes()).unwrap(),
            vec![der.clone()]
        );
        let two = format!("subject=CN = x\n{pem}{pem}");
        assert_eq!(read_certificates(two.as_bytes()).unwrap().len(), 2);
        let two = format!("{pem}\n{pem}");
        assert_eq!(read_certificates(two.as_bytes()).unwrap().len(), 2);
        for bad in [&b""[..], b"  \n", b"garbage", b"\x30\x03\x02\x01\x00"] {
            assert!(read_certificates(bad).is_err(), "{bad:?}");
        }
        let many = pem.repeat(MAX_CHAIN_LEN + 1);
        assert!(read_certificates(many.as_bytes()).is_err());
        let key_pem = r.key().to_pem();
        assert!(read_certificates(key_pem.as_bytes()).is_err());
    }

    #[test]
    fn csrs_keep_the_subject_bytes_and_verify() {
        for alg in ALL_ALGS {
            let r = root(alg);
            let pem = ca_csr(r.key(), r.subject_der(), Some(2)).unwrap();
            let info = parse_csr(&pem).unwrap();
            assert_eq!(info.public_key_der, r.key().public_key_der());
            assert_eq!(info.subject.to_der(), r.subject_der());
            let der = crate::pem_to_der(&pem, "CERTIFICATE REQUEST").unwrap();
            let (_, csr) = x509_parser::prelude::X509CertificationRequest::from_der(&der).unwrap();
            assert_eq!(
                csr.certification_request_info.subject.as_raw(),
                r.subject_der()
            );
        }
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert!(ca_csr(&key, &[0x30, 0x00], None).is_err());
        assert!(ca_csr(&key, b"junk", None).is_err());
    }
}
