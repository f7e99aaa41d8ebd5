//! HTTPS without a proxy: the server speaks TLS with FASTPKI_TLS_CERT and
//! FASTPKI_TLS_KEY, writes `https://` URLs, and serves a renewed
//! certificate once its files change, without a restart.

use std::time::Duration;

use reqwest::{Certificate, Client};

use crate::common::*;

/// A self-signed certificate for localhost and 127.0.0.1: (cert PEM, key PEM).
fn self_signed() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn trusting(pem: &str) -> Client {
    Client::builder()
        .tls_certs_only([Certificate::from_pem(pem.as_bytes()).unwrap()])
        .build()
        .unwrap()
}

#[tokio::test]
async fn serves_https_and_reloads_a_renewed_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let (first, first_key) = self_signed();
    std::fs::write(&cert_path, &first).unwrap();
    std::fs::write(&key_path, &first_key).unwrap();
    let s = Server::start_with(&[
        ("FASTPKI_TLS_CERT", cert_path.to_str().unwrap()),
        ("FASTPKI_TLS_KEY", key_path.to_str().unwrap()),
    ])
    .await;
    let port = s.base.rsplit(':').next().unwrap().to_string();
    let https = format!("https://localhost:{port}");

    let r = trusting(&first)
        .get(format!("{https}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP on the TLS port gets no answer.
    assert!(
        Client::new()
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await
            .is_err()
    );

    // A renewed pair: served within a few seconds, the old one no longer.
    let (second, second_key) = self_signed();
    std::fs::write(&key_path, &second_key).unwrap();
    std::fs::write(&cert_path, &second).unwrap();
    let mut served = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if trusting(&second)
            .get(format!("{https}/readyz"))
            .send()
            .await
            .is_ok()
        {
            served = true;
            break;
        }
    }
    assert!(served, "the renewed certificate was not served");
    assert!(
        trusting(&first)
            .get(format!("{https}/readyz"))
            .send()
            .await
            .is_err()
    );

    // A broken file keeps the current pair.
    std::fs::write(&cert_path, "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = trusting(&second)
        .get(format!("{https}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
