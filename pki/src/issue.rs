//! Issuing certificates: the issuing CA, the request, and the signed result.

use std::fmt;

use chrono::{DateTime, Utc};
use x509_parser::prelude::{FromDer, ParsedExtension, X509Certificate};
use x509_parser::x509::X509Name;

use crate::codec::{cert_der_to_pem, cert_pem_to_der};
use crate::der;
use crate::dn::{DistinguishedName, x509_name_to_string};
use crate::error::PkiError;
use crate::keys::{PrivateKey, check_supported, key_identifier, parse_spki};
use crate::profile::{self, ExtensionInputs, Profile};
use crate::san::Sans;
use crate::serial::SerialNumber;

/// A CA able to sign: its certificate (parsed once) and its private key.
#[derive(Clone)]
pub struct Issuer {
    cert_der: Vec<u8>,
    subject_der: Vec<u8>,
    subject: String,
    ski: Vec<u8>,
    key: PrivateKey,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    path_len: Option<u32>,
    can_sign_certs: bool,
    can_sign_crls: bool,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("subject", &self.subject)
            .field("ski", &hex::encode(&self.ski))
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Converts an X.509 time to chrono.
pub(crate) fn asn1_time(t: &x509_parser::time::ASN1Time) -> Result<DateTime<Utc>, PkiError> {
    DateTime::from_timestamp(t.timestamp(), 0)
        .ok_or_else(|| PkiError::InvalidCertificate("time out of range".into()))
}

/// Finds the SubjectKeyIdentifier extension value of a parsed certificate.
pub(crate) fn find_ski(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

impl Issuer {
    /// Loads a CA from its PEM certificate and private key; the key must match the certificate.
    pub fn new(ca_cert_pem: &str, key: PrivateKey) -> Result<Self, PkiError> {
        let der = cert_pem_to_der(ca_cert_pem)
            .map_err(|_| PkiError::InvalidCertificate("expected a PEM CERTIFICATE".into()))?;
        Self::from_der(&der, key)
    }

    /// Loads a CA from its DER certificate and private key; the key must match the certificate.
    pub fn from_der(cert_der: &[u8], key: PrivateKey) -> Result<Self, PkiError> {
        let bad = |m: &str| PkiError::InvalidCertificate(m.to_string());
        let (rest, cert) =
            X509Certificate::from_der(cert_der).map_err(|_| bad("malformed certificate"))?;
        if !rest.is_empty() {
            return Err(bad("trailing data after the certificate"));
        }
        // The subject is copied into everything this CA signs: it must be a whole Name.
        // x509-parser can accept a certificate whose subject it only half read (the raw
        // slice is then just the SEQUENCE header); found by fuzzing.
        let subject_raw = cert.subject().as_raw();
        if !matches!(X509Name::from_der(subject_raw), Ok((rest, _)) if rest.is_empty()) {
            return Err(bad("malformed subject name"));
        }
        let bc = cert
            .basic_constraints()
            .map_err(|_| bad("malformed BasicConstraints"))?;
        let Some(bc) = bc.filter(|bc| bc.value.ca) else {
            return Err(bad(
                "not a CA certificate (BasicConstraints cA is not TRUE)",
            ));
        };
        let path_len = bc.value.path_len_constraint;
        let ku = cert.key_usage().map_err(|_| bad("malformed KeyUsage"))?;
        let (can_sign_certs, can_sign_crls) = match ku {
            Some(ku) => (ku.value.key_cert_sign(), ku.value.crl_sign()),
            None => (true, true),
        };
        let cert_key = parse_spki(cert.public_key().raw)
            .map_err(|m| PkiError::InvalidCertificate(format!("CA public key: {m}")))?;
        let own_key = parse_spki(key.spki()).map_err(PkiError::InvalidKey)?;
        if cert_key != own_key {
            return Err(PkiError::KeyMismatch);
        }
        // Use the CA's own SKI so AKIs match even for CAs made by other software.
        let ski = find_ski(&cert).unwrap_or_else(|| key_identifier(&cert_key.key_bits));
        Ok(Self {
            cert_der: cert_der.to_vec(),
            subject_der: cert.subject().as_raw().to_vec(),
            subject: x509_name_to_string(cert.subject()),
            ski,
            not_before: asn1_time(&cert.validity().not_before)?,
            not_after: asn1_time(&cert.validity().not_after)?,
            path_len,
            can_sign_certs,
            can_sign_crls,
            key,
        })
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CA certificate, PEM.
    pub fn certificate_pem(&self) -> String {
        cert_der_to_pem(&self.cert_der)
    }

    /// The CA's private key.
    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// The CA's subject in our DN syntax.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The CA's subject key identifier, lowercase hex (what its children's AKI holds).
    pub fn ski_hex(&self) -> String {
        hex::encode(&self.ski)
    }

    /// Start of the CA certificate's validity.
    pub fn not_before(&self) -> DateTime<Utc> {
        self.not_before
    }

    /// End of the CA certificate's validity.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// The CA's BasicConstraints pathLenConstraint, if any.
    pub fn path_len(&self) -> Option<u32> {
        self.path_len
    }

    /// The CA's subject Name, DER, exactly as its certificate has it (what everything it
    /// signs names as issuer).
    pub fn subject_der(&self) -> &[u8] {
        &self.subject_der
    }

    pub(crate) fn ski(&self) -> &[u8] {
        &self.ski
    }

    pub(crate) fn can_sign_certs(&self) -> bool {
        self.can_sign_certs
    }

    pub(crate) fn can_sign_crls(&self) -> bool {
        self.can_sign_crls
    }
}

/// Who signs a certificate.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// The subject's own key (root CAs only).
    SelfSigned(&'a PrivateKey),
    /// An existing CA.
    Issuer(&'a Issuer),
}

/// Everything needed to issue one certificate.
#[derive(Debug, Clone)]
pub struct CertRequest<'a> {
    /// Subject name, written exactly as given (may be empty for leaves with SANs).
    pub subject: &'a DistinguishedName,
    /// Subject's SubjectPublicKeyInfo DER (own key for roots, CSR key for sign-csr).
    pub public_key_der: &'a [u8],
    /// Which extensions the certificate gets.
    pub profile: Profile,
    /// Subject alternative names (checked; duplicates dropped, case kept).
    pub sans: &'a Sans,
    /// The serial number (use [`crate::random_serial`]).
    pub serial: &'a SerialNumber,
    /// Start of validity (truncated to whole seconds).
    pub not_before: DateTime<Utc>,
    /// End of validity (truncated to whole seconds).
    pub not_after: DateTime<Utc>,
    /// CRL Distribution Point URI (the issuer's CRL); ignored for roots.
    pub crl_url: Option<&'a str>,
    /// AIA caIssuers URI (the issuer's certificate); ignored for roots.
    pub ca_issuers_url: Option<&'a str>,
}

/// A freshly signed certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCert {
    /// PEM (`-----BEGIN CERTIFICATE-----`).
    pub pem: String,
    /// DER.
    pub der: Vec<u8>,
    /// Serial number, lowercase hex.
    pub serial_hex: String,
    /// Start of validity as written (whole seconds).
    pub not_before: DateTime<Utc>,
    /// End of validity as written (whole seconds).
    pub not_after: DateTime<Utc>,
    /// Subject key identifier, lowercase hex.
    pub ski_hex: String,
}

fn whole_seconds(t: DateTime<Utc>) -> Result<DateTime<Utc>, PkiError> {
    DateTime::from_timestamp(t.timestamp(), 0)
        .ok_or_else(|| PkiError::InvalidInput("date out of range".into()))
}

/// Issues (builds and signs) a certificate for `req`.
pub fn issue(req: &CertRequest<'_>, signer: Signer<'_>) -> Result<IssuedCert, PkiError> {
    let subject_key = parse_spki(req.public_key_der)
        .map_err(|m| PkiError::InvalidInput(format!("subject public key: {m}")))?;
    check_supported(subject_key.algorithm).map_err(PkiError::InvalidInput)?;
    let not_before = whole_seconds(req.not_before)?;
    let not_after = whole_seconds(req.not_after)?;
    if not_after <= not_before {
        return Err(PkiError::InvalidInput(
            "not_after must be later than not_before".into(),
        ));
    }
    let subject_der = req.subject.to_der();
    let ski = key_identifier(&subject_key.key_bits);
    let (issuer_name, aki, key): (&[u8], &[u8], &PrivateKey) = match signer {
        Signer::SelfSigned(key) => {
            if !matches!(req.profile, Profile::RootCa { .. }) {
                return Err(PkiError::InvalidInput(
                    "only root CA certificates are self-signed".into(),
                ));
            }
            let own = parse_spki(key.spki()).map_err(PkiError::InvalidKey)?;
            if own != subject_key {
                return Err(PkiError::KeyMismatch);
            }
            (&subject_der, &ski, key)
        }
        Signer::Issuer(issuer) => {
            if matches!(req.profile, Profile::RootCa { .. }) {
                return Err(PkiError::InvalidInput(
                    "a root CA certificate must be self-signed".into(),
                ));
            }
            if !issuer.can_sign_certs {
                return Err(PkiError::InvalidCertificate(
                    "the issuing CA's KeyUsage lacks keyCertSign".into(),
                ));
            }
            (issuer.subject_der(), issuer.ski(), issuer.key())
        }
    };
    let sans = req.sans.normalized()?;
    let exts = profile::extensions(
        req.profile,
        &ExtensionInputs {
            subject_key: subject_key.algorithm,
            ski: &ski,
            aki,
            sans: &sans,
            subject_empty: req.subject.is_empty(),
            crl_url: req.crl_url,
            ca_issuers_url: req.ca_issuers_url,
        },
    )?;
    let ext_parts: Vec<&[u8]> = exts.iter().map(Vec::as_slice).collect();
    let sig_alg = key.algorithm().signature_algorithm_der();
    let tbs = der::seq(&[
        &der::explicit(0, &[&der::uint_u64(2)]),
        &der::uint(req.serial.bytes()),
        &sig_alg,
        issuer_name,
        &der::seq(&[&der::time(&not_before)?, &der::time(&not_after)?]),
        &subject_der,
        &subject_key.to_der(),
        &der::explicit(3, &[&der::seq(&ext_parts)]),
    ]);
    let cert = key.sign_tbs(&tbs)?;
    Ok(IssuedCert {
        pem: cert_der_to_pem(&cert),
        der: cert,
        serial_hex: req.serial.hex(),
        not_before,
        not_after,
        ski_hex: hex::encode(&ski),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{ALL_ALGS, issue_simple, now, root};
    use crate::{KeyAlgorithm, parse_dn};
    use chrono::Duration;
    use x509_parser::extensions::GeneralName;

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        let (rest, cert) = X509Certificate::from_der(der).unwrap();
        assert!(rest.is_empty());
        cert
    }

    fn aki(cert: &X509Certificate<'_>) -> Vec<u8> {
        cert.extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(a) => {
                    a.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn chain_for_every_algorithm() {
        for alg in ALL_ALGS {
            let root = root(alg);
            let root_cert = parse(root.certificate_der());
            root_cert.verify_signature(None).unwrap();
            assert_eq!(root_cert.version().0, 2);
            let ski = find_ski(&root_cert).unwrap();
            assert_eq!(
                ski,
                key_identifier(&root_cert.public_key().subject_public_key.data)
            );
            assert_eq!(aki(&root_cert), ski);
            let bc = root_cert.basic_constraints().unwrap().unwrap();
            assert!(bc.critical && bc.value.ca);
            assert_eq!(bc.value.path_len_constraint, Some(1));
            let ku = root_cert.key_usage().unwrap().unwrap();
            assert!(ku.critical);
            assert!(ku.value.key_cert_sign() && ku.value.crl_sign());
            assert!(ku.value.digital_signature() && !ku.value.key_encipherment());
            assert_eq!(root.path_len(), Some(1));

            // Intermediate with the other algorithms' keys too.
            for sub_alg in ALL_ALGS {
                let key = PrivateKey::generate(sub_alg).unwrap();
                let dn = parse_dn("CN=Sub,OU=a,OU=b,O=FastPKI").unwrap();
                let cert = issue_simple(
                    &dn,
                    &key.public_key_der(),
                    Profile::IntermediateCa { path_len: Some(0) },
                    &Sans::default(),
                    Signer::Issuer(&root),
                )
                .unwrap();
                let c = parse(&cert.der);
                c.verify_signature(Some(root_cert.public_key())).unwrap();
                assert_eq!(aki(&c), ski);
                assert_eq!(c.issuer().as_raw(), root_cert.subject().as_raw());
                assert_eq!(c.subject().iter_organizational_unit().count(), 2);
                assert_eq!(
                    x509_name_to_string(c.subject()),
                    "CN=Sub,OU=a,OU=b,O=FastPKI"
                );
                let sub = Issuer::new(&cert.pem, key).unwrap();
                assert_eq!(sub.path_len(), Some(0));
                let oids: Vec<String> = c
                    .extensions()
                    .iter()
                    .map(|e| e.oid.to_id_string())
                    .collect();
                assert!(oids.contains(&"2.5.29.31".to_string()), "{oids:?}");
                assert!(oids.contains(&"1.3.6.1.5.5.7.1.1".to_string()), "{oids:?}");
            }
        }
    }

    #[test]
    fn leaf_profiles() {
        let ca = root(KeyAlgorithm::EcdsaP256);
        let sans = Sans {
            dns: vec!["WWW.Example.com".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            emails: vec![],
        };
        for (alg, keyenc) in [
            (KeyAlgorithm::Rsa { bits: 2048 }, true),
            (KeyAlgorithm::EcdsaP384, false),
            (KeyAlgorithm::Ed25519, false),
        ] {
            let key = PrivateKey::generate(alg).unwrap();
            for profile in [Profile::Server, Profile::Client, Profile::DualPurpose] {
                let dn = parse_dn("CN=www.example.com").unwrap();
                let out = issue_simple(
                    &dn,
                    &key.public_key_der(),
                    profile,
                    &sans,
                    Signer::Issuer(&ca),
                )
                .unwrap();
                let c = parse(&out.der);
                let bc = c.basic_constraints().unwrap().unwrap();
                assert!(bc.critical && !bc.value.ca);
                let ku = c.key_usage().unwrap().unwrap();
                assert!(ku.critical && ku.value.digital_signature());
                assert_eq!(ku.value.key_encipherment(), keyenc);
                assert!(!ku.value.key_cert_sign());
                let eku = c.extended_key_usage().unwrap().unwrap().value;
                assert_eq!(eku.server_auth, profile != Profile::Client);
                assert_eq!(eku.client_auth, profile != Profile::Server);
                let san = c.subject_alternative_name().unwrap().unwrap();
                assert!(!san.critical);
                assert_eq!(
                    san.value.general_names[0],
                    GeneralName::DNSName("WWW.Example.com")
                );
                assert_eq!(out.serial_hex, crate::codec::int_hex(c.raw_serial()));
                assert_eq!(out.not_before, now());
                assert_eq!(hex::encode(find_ski(&c).unwrap()), out.ski_hex);
            }
        }
        // LeafCa: CA TRUE, no EKU; keyEncipherment for an RSA key (the API contract), not for EC.
        let key = PrivateKey::generate(KeyAlgorithm::Rsa { bits: 2048 }).unwrap();
        let out = issue_simple(
            &parse_dn("CN=Leaf CA").unwrap(),
            &key.public_key_der(),
            Profile::LeafCa,
            &Sans::default(),
            Signer::Issuer(&ca),
        )
        .unwrap();
        let c = parse(&out.der);
        let bc = c.basic_constraints().unwrap().unwrap().value;
        assert!(bc.ca);
        assert_eq!(bc.path_len_constraint, Some(0));
        assert!(c.extended_key_usage().unwrap().is_none());
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && ku.key_encipherment());
        let ec = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let out = issue_simple(
            &parse_dn("CN=Leaf CA").unwrap(),
            &ec.public_key_der(),
            Profile::LeafCa,
            &Sans::default(),
            Signer::Issuer(&ca),
        )
        .unwrap();
        let c = parse(&out.der);
        let ku = c.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.key_encipherment());
    }

    #[test]
    fn empty_subject_needs_critical_san() {
        let ca = root(KeyAlgorithm::EcdsaP256);
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let empty = DistinguishedName::new();
        let sans = Sans {
            dns: vec!["a.example".into()],
            ..Sans::default()
        };
        let out = issue_simple(
            &empty,
            &key.public_key_der(),
            Profile::Server,
            &sans,
            Signer::Issuer(&ca),
        )
        .unwrap();
        let c = parse(&out.der);
        assert!(c.subject_alternative_name().unwrap().unwrap().critical);
        let err = issue_simple(
            &empty,
            &key.public_key_der(),
            Profile::Server,
            &Sans::default(),
            Signer::Issuer(&ca),
        );
        assert!(matches!(err, Err(PkiError::InvalidInput(_))));
    }

    #[test]
    fn refusals() {
        let ca = root(KeyAlgorithm::EcdsaP256);
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let dn = parse_dn("CN=x").unwrap();
        let none = Sans::default();
        let spki = key.public_key_der();
        let root_profile = Profile::RootCa { path_len: None };
        // Self-signed must be a root, a root must be self-signed, with its own key.
        assert!(
            issue_simple(&dn, &spki, Profile::Server, &none, Signer::SelfSigned(&key)).is_err()
        );
        assert!(issue_simple(&dn, &spki, root_profile, &none, Signer::Issuer(&ca)).is_err());
        assert_eq!(
            issue_simple(&dn, &spki, root_profile, &none, Signer::SelfSigned(&other)),
            Err(PkiError::KeyMismatch)
        );
        // CA route certificates carry no SANs.
        let sans = Sans {
            dns: vec!["x.example".into()],
            ..Sans::default()
        };
        assert!(issue_simple(&dn, &spki, root_profile, &sans, Signer::SelfSigned(&key)).is_err());
        // Bad SANs, bad key bytes.
        let bad = Sans {
            dns: vec!["bad_name".into()],
            ..Sans::default()
        };
        assert!(issue_simple(&dn, &spki, Profile::Server, &bad, Signer::Issuer(&ca)).is_err());
        assert!(issue_simple(&dn, b"junk", Profile::Server, &none, Signer::Issuer(&ca)).is_err());
        // Dates.
        let serial = crate::random_serial();
        let mut req = CertRequest {
            subject: &dn,
            public_key_der: &spki,
            profile: Profile::Client,
            sans: &none,
            serial: &serial,
            not_before: now(),
            not_after: now(),
            crl_url: None,
            ca_issuers_url: None,
        };
        assert!(issue(&req, Signer::Issuer(&ca)).is_err());
        req.not_after = now() + Duration::days(1);
        req.crl_url = Some("ftp://x/y");
        assert!(issue(&req, Signer::Issuer(&ca)).is_err());
        req.crl_url = None;
        assert!(issue(&req, Signer::Issuer(&ca)).is_ok());
        // A validity ending after 2049 is written as GeneralizedTime and read back.
        req.not_after = chrono::TimeZone::with_ymd_and_hms(&Utc, 2051, 1, 1, 0, 0, 0).unwrap();
        let out = issue(&req, Signer::Issuer(&ca)).unwrap();
        assert_eq!(
            crate::inspect_cert(&out.der).unwrap().not_after,
            req.not_after
        );
    }

    #[test]
    fn issuer_checks() {
        let ca = root(KeyAlgorithm::EcdsaP256);
        let other = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(
            Issuer::new(&ca.certificate_pem(), other.clone()).unwrap_err(),
            PkiError::KeyMismatch
        );
        let leaf = issue_simple(
            &parse_dn("CN=leaf").unwrap(),
            &other.public_key_der(),
            Profile::Client,
            &Sans::default(),
            Signer::Issuer(&ca),
        )
        .unwrap();
        assert!(matches!(
            Issuer::new(&leaf.pem, other.clone()),
            Err(PkiError::InvalidCertificate(_))
        ));
        assert!(Issuer::new("junk", other.clone()).is_err());
        assert!(Issuer::from_der(&[0x30, 0x00], other).is_err());
        assert_eq!(ca.subject(), "CN=Test Root ecdsa-p256,O=FastPKI");
        assert_eq!(ca.not_before(), now());
        let debug = format!("{ca:?}");
        assert!(debug.starts_with("Issuer {"), "{debug}");
        assert!(debug.contains("CN=Test Root ecdsa-p256"), "{debug}");
        assert!(!debug.contains("pkcs8"), "{debug}");
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// The fixture CA of fuzz/ with a mangled subject, found by the pem_der fuzz target.
    const MANGLED_SUBJECT_CA: &str = "308201a030820152a00302010202146b04c9f1b3de174f9e6326c05eda496d46b861d5300506032b6570303b3115301306035504030c0c46757a7a20526f6f7420434131153013060355040a0c0c46617374504b492046757a7a310b30090603550406130255533020170d3236313132393138323931365a180f32313236313130353138323931365a303b311530130603550431a7df4ebc3e6eb55d38a36630644131153013060355040a0c0c46617374504b492046757a7a310b3009060355040613025553302a300506032b6570032100ec249b4254e631552aff66ace92d36ef312ed74a5ecb33a7df4ebc3e6eb55d38a3663064301d0603551d0e04160414928cb9d75cd7b01e85d0e98dc82aca9022c97328301f0603551d23041830168014928cb9d75cd7b01e85d0e98dc82aca9022c9732830120603551d130101ff040830060101ff020101300e0603551d0f0101ff040403020106300506032b65700341007fb1f65eed078c65a78eb3dbd4422771e2ebb5efb4f970f634a71f726c93cab370144a0cd680f287fa9a4cb34d9774bc2e1c89f16d7dd9e4de03a74172d55a02";

    #[test]
    fn a_ca_whose_subject_is_not_a_whole_name_is_refused() {
        let der = hex::decode(MANGLED_SUBJECT_CA).unwrap();
        // x509-parser takes the certificate, with a subject of only its header...
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.subject().as_raw(), [0x30, 0x3b]);
        // ...which would have been the issuer name of every certificate and CRL signed.
        let key = PrivateKey::generate(crate::KeyAlgorithm::Ed25519).unwrap();
        assert_eq!(
            Issuer::from_der(&der, key).unwrap_err(),
            PkiError::InvalidCertificate("malformed subject name".into())
        );
    }
}
