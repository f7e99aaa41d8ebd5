//! Helpers for the unit tests: a fixed clock and quick CA/leaf construction.

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::{
    CertRequest, DistinguishedName, IssuedCert, Issuer, KeyAlgorithm, PrivateKey, Profile, Sans,
    Signer, issue, parse_dn, random_serial,
};

/// The four supported algorithms (RSA at 2048 bits to stay fast).
pub(crate) const ALL_ALGS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::Rsa { bits: 2048 },
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
    KeyAlgorithm::Ed25519,
];

/// A fixed "now" so unit tests never depend on the clock.
pub(crate) fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// Issues with the common defaults (one year from `now()`, no URLs).
pub(crate) fn issue_simple(
    subject: &DistinguishedName,
    key_der: &[u8],
    profile: Profile,
    sans: &Sans,
    signer: Signer<'_>,
) -> Result<IssuedCert, crate::PkiError> {
    let serial = random_serial();
    issue(
        &CertRequest {
            subject,
            public_key_der: key_der,
            profile,
            sans,
            serial: &serial,
            not_before: now(),
            not_after: now() + Duration::days(365),
            crl_url: Some("http://pki.example.com/crl/parent-1"),
            ca_issuers_url: Some("http://pki.example.com/ca/parent-1.crt"),
        },
        signer,
    )
}

/// A self-signed root CA of the given algorithm.
pub(crate) fn root(alg: KeyAlgorithm) -> Issuer {
    let key = PrivateKey::generate(alg).unwrap();
    let dn = parse_dn(&format!("CN=Test Root {},O=FastPKI", alg.name())).unwrap();
    let cert = issue_simple(
        &dn,
        &key.public_key_der(),
        Profile::RootCa { path_len: Some(1) },
        &Sans::default(),
        Signer::SelfSigned(&key),
    )
    .unwrap();
    Issuer::new(&cert.pem, key).unwrap()
}
