//! Interop tests: what this crate issues must satisfy the `openssl` command line.

mod common;

use std::time::{Duration as StdDuration, Instant};

use chrono::Duration;
use common::*;
use pki::{
    KeyAlgorithm, PkiError, Profile, RevokedEntry, Sans, build_crl, cert_der_to_pem, der_to_pem,
    parse_csr, pem_to_der,
};
use test_support::openssl::{SServer, openssl, openssl_ok};
use test_support::process::Files;

/// Hex from `openssl x509 -noout -ext ...` output: the last line, colons and `keyid:` removed.
fn ext_hex(text: &str) -> String {
    let line = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    line.trim()
        .trim_start_matches("keyid:")
        .replace(':', "")
        .to_lowercase()
}

/// SKI openssl itself computes for a key, via a throwaway `req -x509` certificate.
fn openssl_ski_for_key(dir: &Files, key_pem: &str, name: &str) -> String {
    let key = dir.write(&format!("{name}.ref.key"), key_pem);
    let cert = dir.path(&format!("{name}.ref.pem"));
    openssl_ok(&[
        "req", "-new", "-x509", "-key", &key, "-subj", "/CN=ref", "-days", "1", "-out", &cert,
    ]);
    ext_hex(&openssl_ok(&[
        "x509",
        "-noout",
        "-ext",
        "subjectKeyIdentifier",
        "-in",
        &cert,
    ]))
}

fn ext(dir: &Files, file: &str, name: &str) -> String {
    ext_hex(&openssl_ok(&[
        "x509",
        "-noout",
        "-ext",
        name,
        "-in",
        &dir.path(file),
    ]))
}

fn sig_name(alg: KeyAlgorithm) -> &'static str {
    match alg {
        KeyAlgorithm::Rsa { .. } => "sha256WithRSAEncryption",
        KeyAlgorithm::EcdsaP256 => "ecdsa-with-SHA256",
        KeyAlgorithm::EcdsaP384 => "ecdsa-with-SHA384",
        KeyAlgorithm::Ed25519 => "ED25519",
    }
}

#[test]
fn chain_verifies_for_every_algorithm() {
    for alg in ALGS {
        let dir = Files::new();
        let root = root(alg);
        let inter = intermediate(&root.issuer(), alg);
        let server = leaf(
            &inter.issuer(),
            alg,
            Profile::Server,
            "www.example.com",
            &dns(&["www.example.com"]),
        );
        dir.write("root.pem", &root.cert.pem);
        dir.write("inter.pem", &inter.cert.pem);
        dir.write("leaf.pem", &server.cert.pem);
        let out = openssl_ok(&[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &dir.path("root.pem"),
            "-untrusted",
            &dir.path("inter.pem"),
            &dir.path("leaf.pem"),
        ]);
        assert!(out.contains("leaf.pem: OK"), "{alg}: {out}");

        // SKI is RFC 5280 method 1, exactly what openssl computes for the same key.
        for (file, made) in [
            ("root.pem", &root),
            ("inter.pem", &inter),
            ("leaf.pem", &server),
        ] {
            let ours = ext(&dir, file, "subjectKeyIdentifier");
            assert_eq!(ours, made.cert.ski_hex, "{alg} {file}");
            assert_eq!(
                ours,
                openssl_ski_for_key(&dir, &made.key.to_pem(), file),
                "{alg} {file}"
            );
        }
        // AKI = issuer's SKI, all the way up (the root's AKI is its own SKI).
        assert_eq!(
            ext(&dir, "leaf.pem", "authorityKeyIdentifier"),
            inter.cert.ski_hex
        );
        assert_eq!(
            ext(&dir, "inter.pem", "authorityKeyIdentifier"),
            root.cert.ski_hex
        );
        assert_eq!(
            ext(&dir, "root.pem", "authorityKeyIdentifier"),
            root.cert.ski_hex
        );

        let text = openssl_ok(&["x509", "-noout", "-text", "-in", &dir.path("leaf.pem")]);
        assert!(text.contains(sig_name(alg)), "{alg}: {text}");
        assert!(text.contains("Digital Signature"), "{text}");
        assert_eq!(
            text.contains("Key Encipherment"),
            alg.is_rsa(),
            "{alg}: {text}"
        );
        assert!(text.contains("TLS Web Server Authentication"), "{text}");
        assert!(text.contains("CA:FALSE"), "{text}");
        assert!(text.contains(&format!("URI:{CRL_URL}")), "{text}");
        assert!(
            text.contains(&format!("CA Issuers - URI:{CA_URL}")),
            "{text}"
        );
        assert!(text.contains("DNS:www.example.com"), "{text}");
        let text = openssl_ok(&["x509", "-noout", "-text", "-in", &dir.path("inter.pem")]);
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(
            text.contains("Digital Signature, Certificate Sign, CRL Sign"),
            "{text}"
        );
    }
}

#[test]
fn mixed_algorithm_chain_verifies() {
    let dir = Files::new();
    let root = root(KeyAlgorithm::EcdsaP384);
    let inter = intermediate(&root.issuer(), KeyAlgorithm::Rsa { bits: 2048 });
    let client = leaf(
        &inter.issuer(),
        KeyAlgorithm::Ed25519,
        Profile::Client,
        "alice@example.com",
        &Sans {
            emails: vec!["alice@example.com".into()],
            ..Sans::default()
        },
    );
    dir.write("root.pem", &root.cert.pem);
    dir.write("inter.pem", &inter.cert.pem);
    dir.write("leaf.pem", &client.cert.pem);
    let out = openssl_ok(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "sslclient",
        "-CAfile",
        &dir.path("root.pem"),
        "-untrusted",
        &dir.path("inter.pem"),
        &dir.path("leaf.pem"),
    ]);
    assert!(out.contains("leaf.pem: OK"), "{out}");
}

#[test]
fn crl_revokes_with_openssl() {
    for alg in ALGS {
        let dir = Files::new();
        let root = root(alg);
        let inter = intermediate(&root.issuer(), alg);
        let issuer = inter.issuer();
        let revoked = leaf(
            &issuer,
            alg,
            Profile::Server,
            "bad.example.com",
            &dns(&["bad.example.com"]),
        );
        let good = leaf(
            &issuer,
            alg,
            Profile::Server,
            "good.example.com",
            &dns(&["good.example.com"]),
        );
        let crl = build_crl(
            &issuer,
            &[RevokedEntry {
                serial_hex: revoked.cert.serial_hex.clone(),
                revoked_at: now(),
                reason: Some(pki::RevocationReason::KeyCompromise),
            }],
            42,
            now(),
            now() + Duration::days(7),
        )
        .unwrap();
        let root_crl = build_crl(&root.issuer(), &[], 1, now(), now() + Duration::days(7)).unwrap();
        dir.write("root.pem", &root.cert.pem);
        dir.write("inter.pem", &inter.cert.pem);
        dir.write("revoked.pem", &revoked.cert.pem);
        dir.write("good.pem", &good.cert.pem);
        dir.write("crl.pem", &crl.pem);
        dir.write("crl.der", &crl.der);
        dir.write("crls.pem", format!("{}{}", crl.pem, root_crl.pem));

        let out = openssl_ok(&[
            "crl",
            "-in",
            &dir.path("crl.pem"),
            "-noout",
            "-verify",
            "-CAfile",
            &dir.path("inter.pem"),
        ]);
        assert!(out.contains("verify OK"), "{alg}: {out}");
        openssl_ok(&[
            "crl",
            "-inform",
            "DER",
            "-in",
            &dir.path("crl.der"),
            "-noout",
        ]);

        let text = openssl_ok(&["crl", "-in", &dir.path("crl.pem"), "-noout", "-text"]);
        assert!(text.contains("Version 2"), "{text}");
        assert!(text.contains("X509v3 CRL Number"), "{text}");
        assert!(text.contains("42"), "{text}");
        assert!(text.contains("Key Compromise"), "{text}");
        assert!(text.contains(sig_name(alg)), "{text}");
        assert!(
            text.to_lowercase()
                .replace(':', "")
                .contains(&inter.cert.ski_hex),
            "AKI must be the CA's SKI: {text}"
        );
        assert!(
            text.to_lowercase().contains(&revoked.cert.serial_hex),
            "{text}"
        );

        let verify = |file: &str, flag: &str, crls: &str| {
            openssl(&[
                "verify",
                "-x509_strict",
                flag,
                "-CAfile",
                &dir.path("root.pem"),
                "-untrusted",
                &dir.path("inter.pem"),
                "-CRLfile",
                &dir.path(crls),
                &dir.path(file),
            ])
        };
        for flag in ["-crl_check", "-crl_check_all"] {
            let (bad, bad_text) = verify("revoked.pem", flag, "crls.pem");
            assert!(!bad, "{alg} {flag}: revoked leaf accepted: {bad_text}");
            assert!(bad_text.contains("certificate revoked"), "{bad_text}");
            let (ok, ok_text) = verify("good.pem", flag, "crls.pem");
            assert!(ok, "{alg} {flag}: valid leaf rejected: {ok_text}");
            assert!(ok_text.contains("good.pem: OK"), "{ok_text}");
        }
    }
}

fn openssl_csr(dir: &Files, name: &str, newkey: &[&str], extra: &[&str]) -> String {
    let mut args = vec!["req", "-new", "-nodes"];
    args.extend_from_slice(newkey);
    let key = dir.path(&format!("{name}.key"));
    let csr = dir.path(&format!("{name}.csr"));
    args.extend_from_slice(&["-keyout", &key, "-out", &csr]);
    args.extend_from_slice(&["-subj", "/CN=api.example.com/O=Acme Corp/C=US"]);
    args.extend_from_slice(extra);
    openssl_ok(&args);
    std::fs::read_to_string(&csr).unwrap()
}

#[test]
fn signs_openssl_csrs() {
    let dir = Files::new();
    let root = root(KeyAlgorithm::EcdsaP256);
    let inter = intermediate(&root.issuer(), KeyAlgorithm::EcdsaP256);
    let issuer = inter.issuer();
    dir.write("root.pem", &root.cert.pem);
    dir.write("inter.pem", &inter.cert.pem);
    let san = [
        "-addext",
        "subjectAltName=DNS:api.example.com,DNS:API-v2.example.com,IP:10.0.0.42",
    ];
    let cases: Vec<(&str, Vec<&str>, KeyAlgorithm)> = vec![
        (
            "rsa",
            vec!["-newkey", "rsa:2048"],
            KeyAlgorithm::Rsa { bits: 2048 },
        ),
        (
            "p256",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            KeyAlgorithm::EcdsaP256,
        ),
        (
            "p384",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384"],
            KeyAlgorithm::EcdsaP384,
        ),
        ("ed25519", vec!["-newkey", "ed25519"], KeyAlgorithm::Ed25519),
    ];
    for (name, newkey, alg) in cases {
        let csr = parse_csr(&openssl_csr(&dir, name, &newkey, &san)).unwrap();
        assert_eq!(csr.algorithm, alg);
        assert_eq!(
            csr.subject.to_string(),
            "CN=api.example.com,O=Acme Corp,C=US"
        );
        assert_eq!(csr.common_name.as_deref(), Some("api.example.com"));
        assert_eq!(csr.sans.dns, vec!["api.example.com", "API-v2.example.com"]);
        assert_eq!(
            csr.sans.ips,
            vec!["10.0.0.42".parse::<std::net::IpAddr>().unwrap()]
        );
        let cert = sign(&issuer, &csr, Profile::Server);
        let file = format!("{name}.pem");
        dir.write(&file, &cert.pem);
        let out = openssl_ok(&[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-CAfile",
            &dir.path("root.pem"),
            "-untrusted",
            &dir.path("inter.pem"),
            &dir.path(&file),
        ]);
        assert!(out.contains(": OK"), "{out}");
        // The certificate carries the CSR's key.
        let cert_pub = openssl_ok(&["x509", "-noout", "-pubkey", "-in", &dir.path(&file)]);
        let key_pub = openssl_ok(&["pkey", "-pubout", "-in", &dir.path(&format!("{name}.key"))]);
        assert_eq!(cert_pub, key_pub);
        // The CSR's private key (PKCS#8 from openssl) loads too.
        let k = pki::PrivateKey::from_pem(&dir.read(&format!("{name}.key"))).unwrap();
        assert_eq!(k.public_key_der(), csr.public_key_der);
    }

    // Requested extensions we do not honour (or know) are accepted and ignored.
    let pem = openssl_csr(
        &dir,
        "extra",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-addext",
            "1.2.3.4=critical,ASN1:UTF8String:hello",
            "-addext",
            "subjectAltName=DNS:x.example.com,email:a@example.com,URI:https://x.example.com/",
        ],
    );
    let csr = parse_csr(&pem).unwrap();
    assert_eq!(csr.sans.dns, vec!["x.example.com"]);
    assert_eq!(csr.sans.emails, vec!["a@example.com"]);
    let cert = sign(&issuer, &csr, Profile::DualPurpose);
    dir.write("extra.pem", &cert.pem);
    let out = openssl_ok(&[
        "verify",
        "-x509_strict",
        "-CAfile",
        &dir.path("root.pem"),
        "-untrusted",
        &dir.path("inter.pem"),
        &dir.path("extra.pem"),
    ]);
    assert!(out.contains(": OK"), "{out}");
    let text = openssl_ok(&["x509", "-noout", "-text", "-in", &dir.path("extra.pem")]);
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(!text.contains("Certificate Sign"), "{text}");
    assert!(!text.contains("1.2.3.4"), "{text}");
    assert!(!text.contains("URI:https://x.example.com/"), "{text}");
    assert!(text.contains("email:a@example.com"), "{text}");
}

fn sign(issuer: &pki::Issuer, csr: &pki::CsrInfo, profile: Profile) -> pki::IssuedCert {
    let serial = pki::random_serial();
    pki::issue(
        &pki::CertRequest {
            subject: &csr.subject,
            public_key_der: &csr.public_key_der,
            profile,
            sans: &csr.sans,
            serial: &serial,
            not_before: now(),
            not_after: now() + Duration::days(30),
            crl_url: Some(CRL_URL),
            ca_issuers_url: Some(CA_URL),
        },
        pki::Signer::Issuer(issuer),
    )
    .unwrap()
}

fn csr_error(pem: &str) -> String {
    match parse_csr(pem) {
        Err(PkiError::InvalidCsr(m)) => m,
        other => panic!("expected InvalidCsr, got {other:?}"),
    }
}

#[test]
fn rejects_bad_csrs() {
    let dir = Files::new();
    // Tampered signature.
    let pem = openssl_csr(
        &dir,
        "t",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &[],
    );
    let mut der = pem_to_der(&pem, "CERTIFICATE REQUEST").unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let m = csr_error(&der_to_pem(&der, "CERTIFICATE REQUEST"));
    assert!(m.contains("signature"), "{m}");

    // Unsupported keys: RSA 1024, RSA-PSS, secp256k1, SHA-1 signature.
    let m = csr_error(&openssl_csr(&dir, "r1024", &["-newkey", "rsa:1024"], &[]));
    assert!(m.contains("1024"), "{m}");
    let m = csr_error(&openssl_csr(
        &dir,
        "pss",
        &["-newkey", "rsa-pss", "-pkeyopt", "rsa_keygen_bits:2048"],
        &[],
    ));
    assert!(m.contains("1.2.840.113549.1.1.10"), "{m}");
    let m = csr_error(&openssl_csr(
        &dir,
        "k1",
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
        &[],
    ));
    assert!(m.contains("curve"), "{m}");
    let m = csr_error(&openssl_csr(
        &dir,
        "sha1",
        &["-newkey", "rsa:2048", "-sha1"],
        &[],
    ));
    assert!(m.contains("SHA-1"), "{m}");

    // A 16384-bit RSA key (built by hand: generating one takes minutes) is refused
    // before any signature work.
    let start = Instant::now();
    let m = csr_error(&der_to_pem(&fake_rsa_csr(16384), "CERTIFICATE REQUEST"));
    assert!(m.contains("16384"), "{m}");
    assert!(start.elapsed() < StdDuration::from_millis(500));
}

/// A structurally valid CSR with an RSA key of `bits` bits and a junk signature.
fn fake_rsa_csr(bits: usize) -> Vec<u8> {
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let b = len.to_be_bytes();
            let skip = b.iter().take_while(|x| **x == 0).count();
            out.push(0x80 | (b.len() - skip) as u8);
            out.extend_from_slice(&b[skip..]);
        }
        out.extend_from_slice(content);
        out
    }
    let cat = |parts: &[&[u8]]| parts.concat();
    let mut modulus = vec![0u8];
    modulus.extend(std::iter::repeat_n(0xc3, bits / 8));
    let rsa_key = tlv(0x30, &cat(&[&tlv(0x02, &modulus), &tlv(0x02, &[1, 0, 1])]));
    let mut bitstring = vec![0u8];
    bitstring.extend_from_slice(&rsa_key);
    let rsa_oid = [0x06, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
    let alg = tlv(0x30, &cat(&[&rsa_oid, &[0x05, 0x00]]));
    let spki = tlv(0x30, &cat(&[&alg, &tlv(0x03, &bitstring)]));
    let cn = tlv(
        0x31,
        &tlv(0x30, &cat(&[&[0x06, 3, 0x55, 4, 3], &tlv(0x0c, b"big")])),
    );
    let name = tlv(0x30, &cn);
    let cri = tlv(0x30, &cat(&[&[0x02, 1, 0], &name, &spki, &[0xa0, 0]]));
    let sha256_rsa = [0x06, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11];
    let sig_alg = tlv(0x30, &cat(&[&sha256_rsa, &[0x05, 0x00]]));
    let mut sig = vec![0u8];
    sig.extend(std::iter::repeat_n(0x11, bits / 8));
    tlv(0x30, &cat(&[&cri, &sig_alg, &tlv(0x03, &sig)]))
}

#[test]
fn tls_handshake_with_client_certificate() {
    let dir = Files::new();
    let root = root(KeyAlgorithm::EcdsaP256);
    let inter = intermediate(&root.issuer(), KeyAlgorithm::EcdsaP256);
    let issuer = inter.issuer();
    let server = leaf(
        &issuer,
        KeyAlgorithm::Rsa { bits: 2048 },
        Profile::Server,
        "localhost",
        &Sans {
            dns: vec!["localhost".into()],
            ips: vec!["127.0.0.1".parse().unwrap()],
            emails: vec![],
        },
    );
    let client = leaf(
        &issuer,
        KeyAlgorithm::EcdsaP256,
        Profile::Client,
        "alice",
        &Sans::default(),
    );
    dir.write("root.pem", &root.cert.pem);
    dir.write("inter.pem", &inter.cert.pem);
    dir.write("server.pem", &server.cert.pem);
    dir.write("server.key", server.key.to_pem());
    dir.write("client.pem", &client.cert.pem);
    dir.write("client.key", client.key.to_pem());

    let s_server = SServer::mutual_tls(&dir, 3);
    let s_client = |verify: &[&str]| s_server.client(&dir, verify, true);
    let (ok, text) = s_client(&["-verify_hostname", "localhost"]);
    assert!(ok && text.contains("Verify return code: 0 (ok)"), "{text}");
    let (ok, text) = s_client(&["-verify_ip", "127.0.0.1"]);
    assert!(ok && text.contains("Verify return code: 0 (ok)"), "{text}");
    // The SAN is really checked: a name the certificate does not carry fails.
    let (ok, text) = s_client(&["-verify_hostname", "other.example.com"]);
    assert!(!ok, "{text}");
    assert!(text.contains("hostname mismatch"), "{text}");
}

#[test]
fn pem_helpers_agree_with_openssl() {
    let dir = Files::new();
    let root = root(KeyAlgorithm::EcdsaP256);
    assert_eq!(cert_der_to_pem(&root.cert.der), root.cert.pem);
    dir.write("root.der", &root.cert.der);
    let pem = openssl_ok(&["x509", "-inform", "DER", "-in", &dir.path("root.der")]);
    assert_eq!(pki::cert_pem_to_der(&pem).unwrap(), root.cert.der);
    assert_eq!(pem.trim(), root.cert.pem.trim());
}
