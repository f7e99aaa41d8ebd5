//! Lint tests: every profile and key algorithm, and the CRL, must have no pkilint ERROR or FATAL.
//!
//! pkilint is a Python tool (`pip install pkilint`); these tests fail when it is missing.

mod common;

use chrono::Duration;
use common::*;
use pki::{KeyAlgorithm, PrivateKey, Profile, RevocationReason, RevokedEntry, Sans, build_crl};
use test_support::pkilint::{Lint, assert_canary_reported, assert_clean};
use test_support::process::Files;

/// Lints every profile for `alg`; `extras` adds the name-shape variants (one algorithm suffices).
fn lint_all_profiles(alg: KeyAlgorithm, extras: bool) {
    let dir = Files::new();
    let root = root(alg);
    let inter = intermediate(&root.issuer(), alg);
    let ca = inter.issuer();
    let key = || PrivateKey::generate(alg).unwrap();
    let both = Sans {
        dns: vec!["svc.example.com".into()],
        ips: vec!["10.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
        emails: vec![],
    };
    let email = Sans {
        emails: vec!["alice@example.com".into()],
        ..Sans::default()
    };
    let mut certs = vec![
        ("root", root.cert.pem.clone()),
        ("intermediate", inter.cert.pem.clone()),
        (
            "server",
            leaf(
                &ca,
                alg,
                Profile::Server,
                "www.example.com",
                &dns(&["www.example.com", "*.api.example.com"]),
            )
            .cert
            .pem,
        ),
        (
            "client",
            leaf(&ca, alg, Profile::Client, "alice@example.com", &email)
                .cert
                .pem,
        ),
        (
            "dual-purpose",
            leaf(&ca, alg, Profile::DualPurpose, "svc.example.com", &both)
                .cert
                .pem,
        ),
        (
            "leaf-ca",
            leaf(&ca, alg, Profile::LeafCa, "Leaf CA", &Sans::default())
                .cert
                .pem,
        ),
    ];
    if extras {
        certs.extend([
            (
                "client-no-san",
                leaf(&ca, alg, Profile::Client, "alice", &Sans::default())
                    .cert
                    .pem,
            ),
            (
                "empty-subject",
                make(
                    "",
                    key(),
                    Profile::Server,
                    &dns(&["e.example.com"]),
                    Some(&ca),
                    90,
                )
                .cert
                .pem,
            ),
            (
                "every-attribute",
                make(
                    "C=US,ST=California,L=San Francisco,STREET=1 Main St,O=Acme\\, Inc,OU=Ops,OU=Web,\
                     title=Dr,GN=Ann,SN=Lee,serialNumber=A-1234,UID=ann,DC=example,DC=com,\
                     emailAddress=ann@example.com,CN=Ann Lee",
                    key(),
                    Profile::Client,
                    // RFC 5280 4.1.2.6: a subject emailAddress must also be an rfc822Name SAN.
                    &Sans {
                        emails: vec!["ann@example.com".into()],
                        ..Sans::default()
                    },
                    Some(&ca),
                    90,
                )
                .cert
                .pem,
            ),
            (
                "root-no-pathlen",
                make(
                    "CN=Unconstrained Root",
                    key(),
                    Profile::RootCa { path_len: None },
                    &Sans::default(),
                    None,
                    3650,
                )
                .cert
                .pem,
            ),
        ]);
    }
    for (name, pem) in certs {
        let file = dir.write(&format!("{name}.pem"), &pem);
        assert_clean(&Lint::new(
            format!("{alg} {name}"),
            "lint_pkix_cert",
            &[],
            file,
        ));
    }
}

#[test]
fn pkix_rsa() {
    lint_all_profiles(KeyAlgorithm::Rsa { bits: 2048 }, false);
}

#[test]
fn pkix_p256() {
    lint_all_profiles(KeyAlgorithm::EcdsaP256, true);
}

#[test]
fn pkix_p384() {
    lint_all_profiles(KeyAlgorithm::EcdsaP384, false);
}

#[test]
fn pkix_ed25519() {
    lint_all_profiles(KeyAlgorithm::Ed25519, false);
}

#[test]
fn crls() {
    let entry = |reason: Option<u8>| RevokedEntry {
        serial_hex: pki::random_serial().hex(),
        revoked_at: now() - Duration::hours(1),
        reason: reason.map(|c| RevocationReason::from_code(c).unwrap()),
    };
    let next = now() + Duration::days(7);
    let dir = Files::new();
    for alg in ALGS {
        let issuer = root(alg).issuer();
        // Every reason a complete CRL may carry, against the RFC 5280 profile.
        let all: Vec<RevokedEntry> = [
            None,
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
            Some(6),
            Some(9),
            Some(10),
        ]
        .into_iter()
        .map(entry)
        .collect();
        let crl = build_crl(&issuer, &all, 3, now(), next).unwrap();
        let file = dir.write(&format!("{}.crl.pem", alg.name()), &crl.pem);
        assert_clean(&Lint::new(
            format!("{alg} crl"),
            "lint_crl",
            &["-t", "CRL", "-p", "PKIX"],
            file,
        ));
    }
    let issuer = root(KeyAlgorithm::EcdsaP256).issuer();
    // Only the reasons the Baseline Requirements allow, against both profiles (as DER).
    let br: Vec<RevokedEntry> = [None, Some(1), Some(3), Some(4), Some(5), Some(9)]
        .into_iter()
        .map(entry)
        .collect();
    let crl = build_crl(&issuer, &br, 4, now(), next).unwrap();
    let br_file = dir.write("br.crl.der", &crl.der);
    // And a CRL without entries (revokedCertificates absent).
    let empty = build_crl(&issuer, &[], 5, now(), next).unwrap();
    let empty_file = dir.write("empty.crl.pem", &empty.pem);
    for (label, file) in [("br crl", &br_file), ("empty crl", &empty_file)] {
        for profile in ["PKIX", "BR"] {
            assert_clean(&Lint::new(
                label,
                "lint_crl",
                &["-t", "CRL", "-p", profile],
                file.as_str(),
            ));
        }
    }
}

#[test]
fn cabf_server_leaf() {
    // BR 7.1.3 allows only RSA and ECDSA keys and signatures: Ed25519 is out of the BR's
    // scope by design (it is still linted against RFC 5280 above).
    for alg in [
        KeyAlgorithm::Rsa { bits: 2048 },
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
    ] {
        let dir = Files::new();
        let root = root(alg);
        let inter = intermediate(&root.issuer(), alg);
        // A DV-shaped subscriber: CN only (the BR also fix an RDN order; our DNs keep the
        // caller's order, so a CN-only subject keeps this check about the profile).
        let server = make(
            "CN=www.example.com",
            PrivateKey::generate(alg).unwrap(),
            Profile::Server,
            &dns(&["www.example.com", "example.com", "*.api.example.com"]),
            Some(&inter.issuer()),
            90,
        );
        let file = dir.write("server.pem", &server.cert.pem);
        assert_clean(&Lint::new(
            format!("{alg} server"),
            "lint_cabf_serverauth_cert",
            &["-t", "DV-FINAL-CERTIFICATE"],
            file,
        ));
    }
}

/// The canary: artefacts made with openssl to break rules pkilint reports as ERROR must
/// be reported, so a pkilint that silently reports nothing (or reports in a shape this
/// suite no longer reads) fails the suite instead of passing every lint above.
#[test]
fn canary_non_conformant_artefacts_are_reported() {
    assert_canary_reported();
}
