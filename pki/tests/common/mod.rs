//! Building chains with `pki` for the integration tests. Running openssl and
//! pkilint, and scratch folders, come from `test_support`.
#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use pki::{
    CertRequest, DistinguishedName, IssuedCert, Issuer, KeyAlgorithm, PrivateKey, Profile, Sans,
    Signer, issue, parse_dn, random_serial,
};

/// The four key algorithms, RSA at 2048 bits to keep the suite fast.
pub const ALGS: [KeyAlgorithm; 4] = [
    KeyAlgorithm::Rsa { bits: 2048 },
    KeyAlgorithm::EcdsaP256,
    KeyAlgorithm::EcdsaP384,
    KeyAlgorithm::Ed25519,
];

pub const CRL_URL: &str = "http://pki.example.com/crl/test-ca-1";
pub const CA_URL: &str = "http://pki.example.com/ca/test-ca-1.crt";

/// The tests may read the clock: certificates must be valid for openssl right now.
pub fn now() -> DateTime<Utc> {
    Utc::now() - Duration::minutes(5)
}

/// A key and its certificate.
pub struct Made {
    pub key: PrivateKey,
    pub cert: IssuedCert,
}

impl Made {
    pub fn issuer(&self) -> Issuer {
        Issuer::new(&self.cert.pem, self.key.clone()).unwrap()
    }
}

pub fn make(
    subject: &str,
    key: PrivateKey,
    profile: Profile,
    sans: &Sans,
    signer: Option<&Issuer>,
    days: i64,
) -> Made {
    let dn: DistinguishedName = if subject.is_empty() {
        DistinguishedName::new()
    } else {
        parse_dn(subject).unwrap()
    };
    let serial = random_serial();
    let is_root = signer.is_none();
    let cert = issue(
        &CertRequest {
            subject: &dn,
            public_key_der: &key.public_key_der(),
            profile,
            sans,
            serial: &serial,
            not_before: now(),
            not_after: now() + Duration::days(days),
            crl_url: (!is_root).then_some(CRL_URL),
            ca_issuers_url: (!is_root).then_some(CA_URL),
        },
        match signer {
            Some(i) => Signer::Issuer(i),
            None => Signer::SelfSigned(&key),
        },
    )
    .unwrap();
    Made { key, cert }
}

pub fn root(alg: KeyAlgorithm) -> Made {
    make(
        &format!("CN=FastPKI Test Root {},O=FastPKI Tests,C=US", alg.name()),
        PrivateKey::generate(alg).unwrap(),
        Profile::RootCa { path_len: Some(1) },
        &Sans::default(),
        None,
        3650,
    )
}

pub fn intermediate(parent: &Issuer, alg: KeyAlgorithm) -> Made {
    make(
        &format!(
            "CN=FastPKI Test Issuing {},O=FastPKI Tests,C=US",
            alg.name()
        ),
        PrivateKey::generate(alg).unwrap(),
        Profile::IntermediateCa { path_len: Some(0) },
        &Sans::default(),
        Some(parent),
        1825,
    )
}

pub fn dns(names: &[&str]) -> Sans {
    Sans {
        dns: names.iter().map(|s| s.to_string()).collect(),
        ..Sans::default()
    }
}

pub fn leaf(issuer: &Issuer, alg: KeyAlgorithm, profile: Profile, cn: &str, sans: &Sans) -> Made {
    make(
        &format!("CN={cn},O=FastPKI Tests,C=US"),
        PrivateKey::generate(alg).unwrap(),
        profile,
        sans,
        Some(issuer),
        90,
    )
}
