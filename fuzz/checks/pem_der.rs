//! Every PEM and DER reader of the pki crate on hostile input:
//!
//! - the PEM codec (`pem_to_der` for each label we read, `cert_pem_to_der`, `crl_pem_to_der`);
//! - `inspect_cert` (PEM or DER);
//! - `PrivateKey::from_pem` and `PrivateKey::from_pkcs8_der`;
//! - `Issuer::new` (PEM) and `Issuer::from_der` with a fixed Ed25519 CA key; a certificate
//!   they accept is then used to sign a CRL and a leaf certificate, which must be valid DER
//!   that x509-parser reads back and whose signatures verify.

use std::sync::OnceLock;

use chrono::{Duration, TimeZone, Utc};
use x509_parser::prelude::{CertificateRevocationList, FromDer, X509Certificate};

/// The key of `fixtures/ca-ed25519.cert.pem` (also `seeds/pem_der/ca.cert.*`).
const CA_KEY_PEM: &str = include_str!("../fixtures/ca-ed25519.key.pem");

fn ca_key() -> &'static pki::PrivateKey {
    static KEY: OnceLock<pki::PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| pki::PrivateKey::from_pem(CA_KEY_PEM).expect("fixture CA key"))
}

const LABELS: [&str; 6] = [
    "CERTIFICATE",
    "X509 CRL",
    "CERTIFICATE REQUEST",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
];

fn codec(text: &str) {
    for label in LABELS {
        if let Ok(der) = pki::pem_to_der(text, label) {
            let pem = pki::der_to_pem(&der, label);
            assert_eq!(pki::pem_to_der(&pem, label).as_ref(), Ok(&der));
        }
    }
    assert_eq!(
        pki::cert_pem_to_der(text).ok(),
        pki::pem_to_der(text, pki::PEM_CERTIFICATE).ok()
    );
    assert_eq!(
        pki::crl_pem_to_der(text).ok(),
        pki::pem_to_der(text, pki::PEM_CRL).ok()
    );
    if let Ok(der) = pki::cert_pem_to_der(text) {
        assert_eq!(pki::cert_pem_to_der(&pki::cert_der_to_pem(&der)), Ok(der));
    }
    if let Ok(der) = pki::crl_pem_to_der(text) {
        assert_eq!(pki::crl_pem_to_der(&pki::crl_der_to_pem(&der)), Ok(der));
    }
}

fn inspect(input: &[u8]) {
    match pki::inspect_cert(input) {
        Ok(info) => {
            assert!(!info.serial_hex.is_empty());
            assert!(
                info.serial_hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            );
            if let Some(alg) = info.key_algorithm {
                assert_eq!(info.public_key_algorithm, alg.name());
            }
        }
        Err(e) => assert!(
            matches!(e, pki::PkiError::InvalidCertificate(_)),
            "inspect_cert failed with {e:?}"
        ),
    }
}

fn key_loaded(key: &pki::PrivateKey) {
    if let pki::KeyAlgorithm::Rsa { bits } = key.algorithm() {
        assert!((pki::RSA_MIN_BITS..=pki::RSA_MAX_BITS).contains(&bits));
    }
    let again = pki::PrivateKey::from_pem(&key.to_pem()).expect("our own PEM reloads");
    assert_eq!(again.pkcs8_der(), key.pkcs8_der());
    assert_eq!(again.algorithm(), key.algorithm());
    assert_eq!(again.public_key_der(), key.public_key_der());
}

fn key_error(e: &pki::PkiError) {
    assert!(
        matches!(e, pki::PkiError::InvalidKey(_)),
        "a bad key must be InvalidKey, got {e:?}"
    );
}

fn keys(text: &str, der: &[u8]) {
    match pki::PrivateKey::from_pem(text) {
        Ok(k) => key_loaded(&k),
        Err(e) => key_error(&e),
    }
    match pki::PrivateKey::from_pkcs8_der(der) {
        Ok(k) => {
            key_loaded(&k);
        }
        Err(e) => key_error(&e),
    }
}

/// Signs with an issuer made from a foreign certificate: the output must be sound.
fn use_issuer(issuer: &pki::Issuer) {
    let (_, ca_cert) = X509Certificate::from_der(issuer.certificate_der()).expect("accepted CA");
    let spki = ca_cert.public_key();

    let now = Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap();
    let entries = [pki::RevokedEntry {
        serial_hex: "1000".into(),
        revoked_at: now - Duration::hours(1),
        reason: Some(pki::RevocationReason::KeyCompromise),
    }];
    match pki::build_crl(issuer, &entries, 7, now, now + Duration::days(7)) {
        Ok(crl) => {
            assert_eq!(pki::crl_pem_to_der(&crl.pem).as_ref(), Ok(&crl.der));
            let (rest, parsed) =
                CertificateRevocationList::from_der(&crl.der).expect("our CRL parses");
            assert!(rest.is_empty());
            assert_eq!(parsed.issuer().as_raw(), ca_cert.subject().as_raw());
            assert_eq!(parsed.iter_revoked_certificates().count(), 1);
            parsed
                .verify_signature(spki)
                .expect("our CRL signature verifies with the CA key");
        }
        Err(e) => assert!(
            matches!(e, pki::PkiError::InvalidCertificate(_)),
            "build_crl failed with {e:?}"
        ),
    }

    let subject = pki::parse_dn("CN=leaf.example,O=Fuzz").expect("fixed DN");
    let sans = pki::Sans {
        dns: vec!["leaf.example".into()],
        ips: vec![],
        emails: vec![],
    };
    let serial = pki::random_serial();
    let spki_der = ca_key().public_key_der();
    let req = pki::CertRequest {
        subject: &subject,
        public_key_der: &spki_der,
        profile: pki::Profile::Server,
        sans: &sans,
        serial: &serial,
        not_before: now,
        not_after: now + Duration::days(30),
        crl_url: Some("http://pki.example/crl/1"),
        ca_issuers_url: Some("http://pki.example/ca/1.crt"),
    };
    match pki::issue(&req, pki::Signer::Issuer(issuer)) {
        Ok(out) => {
            let info = pki::inspect_cert(&out.der).expect("our certificate inspects");
            assert_eq!(info.subject, "CN=leaf.example,O=Fuzz");
            assert_eq!(info.issuer, issuer.subject());
            assert_eq!(info.aki_hex.as_deref(), Some(issuer.ski_hex().as_str()));
            assert_eq!(info.serial_hex, out.serial_hex);
            let (rest, leaf) = X509Certificate::from_der(&out.der).expect("our certificate");
            assert!(rest.is_empty());
            leaf.verify_signature(Some(spki))
                .expect("our signature verifies with the CA key");
        }
        Err(e) => assert!(
            matches!(e, pki::PkiError::InvalidCertificate(_)),
            "issue failed with {e:?}"
        ),
    }
}

fn issuer_error(e: &pki::PkiError) {
    assert!(
        matches!(
            e,
            pki::PkiError::InvalidCertificate(_) | pki::PkiError::KeyMismatch
        ),
        "Issuer failed with {e:?}"
    );
}

fn issuers(text: &str, der: &[u8]) {
    match pki::Issuer::new(text, ca_key().clone()) {
        Ok(issuer) => use_issuer(&issuer),
        Err(e) => issuer_error(&e),
    }
    match pki::Issuer::from_der(der, ca_key().clone()) {
        Ok(issuer) => {
            assert_eq!(issuer.certificate_der(), der);
            use_issuer(&issuer);
        }
        Err(e) => issuer_error(&e),
    }
}

/// One input through the target's checks: panics on a finding.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    codec(&text);
    inspect(data);
    inspect(text.as_bytes());
    keys(&text, data);
    issuers(&text, data);
}
