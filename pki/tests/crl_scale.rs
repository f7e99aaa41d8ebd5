//! CRL scaling: 100,000 entries in release builds (10,000 in debug) build quickly and verify.

mod common;

use std::time::Instant;

use chrono::Duration;
use common::*;
use pki::{KeyAlgorithm, RevocationReason, RevokedEntry, build_crl, random_serial};
use test_support::crl::assert_crl_verifies;

#[test]
fn large_crl_builds_fast_and_verifies() {
    let (n, budget_secs) = if cfg!(debug_assertions) {
        (10_000, 10)
    } else {
        (100_000, 5)
    };
    let ca = root(KeyAlgorithm::EcdsaP256);
    let issuer = ca.issuer();
    let entries: Vec<RevokedEntry> = (0..n)
        .map(|i| RevokedEntry {
            serial_hex: random_serial().hex(),
            revoked_at: now() - Duration::seconds(i),
            reason: [
                None,
                Some(RevocationReason::KeyCompromise),
                Some(RevocationReason::Superseded),
                Some(RevocationReason::CessationOfOperation),
            ][i as usize % 4],
        })
        .collect();
    let start = Instant::now();
    let crl = build_crl(
        &issuer,
        &entries,
        1_000_000,
        now(),
        now() + Duration::days(1),
    )
    .unwrap();
    let took = start.elapsed();
    println!("{n} entries: {} bytes DER in {took:?}", crl.der.len());
    assert!(took.as_secs() < budget_secs, "{n} entries took {took:?}");

    assert_crl_verifies(&crl.der, &ca.cert.pem);
    assert_eq!(count_entries(&crl.der), n as usize);
}

/// Counts the entries of a DER CRL with x509-parser.
fn count_entries(der: &[u8]) -> usize {
    use x509_parser::prelude::FromDer;
    let (rest, crl) =
        x509_parser::revocation_list::CertificateRevocationList::from_der(der).unwrap();
    assert!(rest.is_empty());
    crl.iter_revoked_certificates().count()
}
