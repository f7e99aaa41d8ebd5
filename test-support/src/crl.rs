//! CRLs as `openssl crl` reads them: number and revoked serials, and the signature.

use std::collections::HashSet;

use crate::openssl::openssl_ok;
use crate::process::Files;

/// A CRL's number and revoked serials (in the form of `norm_serial`).
#[derive(Debug, Clone)]
pub struct CrlInfo {
    pub number: u64,
    pub serials: HashSet<String>,
}

/// Reads a DER CRL with `openssl crl -text`.
pub fn parse_crl(der: &[u8]) -> CrlInfo {
    let f = Files::new();
    let path = f.write("crl.der", der);
    let text = openssl_ok(&["crl", "-inform", "DER", "-noout", "-text", "-in", &path]);
    let mut lines = text.lines();
    let mut number = None;
    let mut serials = HashSet::new();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with("X509v3 CRL Number") {
            number = lines
                .next()
                .map(|l| l.trim().parse::<u64>().expect("decimal"));
        } else if let Some(s) = t.strip_prefix("Serial Number: ") {
            serials.insert(norm_serial(s));
        }
    }
    CrlInfo {
        number: number.expect("a CRL number"),
        serials,
    }
}

/// A serial as the API or openssl shows it, in one form: lowercase hex, no
/// leading zero octets.
pub fn norm_serial(s: &str) -> String {
    let t = s.trim().trim_start_matches('0').to_lowercase();
    if t.len() % 2 == 1 { format!("0{t}") } else { t }
}

/// Asserts that a DER CRL's signature verifies against the CA certificate (PEM).
#[track_caller]
pub fn assert_crl_verifies(der: &[u8], ca_pem: &str) {
    let f = Files::new();
    let ca = f.write("ca.pem", ca_pem);
    let crl = f.write("crl.der", der);
    let text = openssl_ok(&[
        "crl", "-inform", "DER", "-noout", "-verify", "-CAfile", &ca, "-in", &crl,
    ]);
    assert!(text.contains("verify OK"), "CRL signature: {text}");
}

/// The CRL (DER) a server publishes for the CA `slug` (`/crl/<slug>` under `root`).
#[cfg(feature = "server")]
pub async fn crl_der(c: &reqwest::Client, root: &str, slug: &str) -> Vec<u8> {
    let r = c
        .get(format!("{root}/crl/{slug}"))
        .send()
        .await
        .expect("CRL request");
    assert_eq!(
        r.status(),
        reqwest::StatusCode::OK,
        "CRL of {slug} at {root}"
    );
    r.bytes().await.unwrap().to_vec()
}
