//! Interoperability through the HTTP API with real tools: `openssl verify`
//! (strict chains, CRL checking), `openssl crl -verify`, a TLS handshake
//! between `openssl s_server` and `s_client` with API-issued certificates,
//! and `pkilint` on every profile, key algorithm and on CRLs.
//!
//! Missing `openssl` or `pkilint` fails these tests: they never skip.

use serde_json::{Value, json};
use test_support::openssl::SServer;
use test_support::pkilint::{Lint, assert_canary_reported, run_lints};

use crate::common::*;

fn pem(v: &Value) -> &str {
    v["certificate"].as_str().unwrap()
}

/// The first URI of a section of `openssl x509 -text` (CDP or AIA).
fn uri_in(cert_pem: &str, section: &str) -> String {
    let text = x509_text(cert_pem);
    let sec = text_section(&text, section);
    let start = sec
        .find("URI:")
        .unwrap_or_else(|| panic!("no URI in {section}: {text}"));
    sec[start + 4..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// GETs an absolute URL (as a relying party would, without a token).
async fn fetch(s: &Server, url: &str) -> Vec<u8> {
    let r = s.client.get(url).send().await.expect("GET");
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn strict_chain_and_crl_checking_with_openssl() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = s
        .create_ca(
            a,
            "Interop Root",
            json!({"key_algorithm": "rsa", "key_size": 2048, "path_length": 1,
                   "subject_dn": "CN=Interop Root,O=Acme,C=US"}),
        )
        .await;
    let inter = s
        .create_ca(
            a,
            "Interop Inter",
            json!({"parent_ca_id": id(&root), "subject_dn": "CN=Interop Inter,O=Acme,C=US"}),
        )
        .await;
    let good = s
        .issue(
            a,
            id(&inter),
            "good.example.com",
            "server",
            json!({"key_algorithm": "ecdsa-p384"}),
        )
        .await;
    let bad = s
        .issue(a, id(&inter), "bad.example.com", "dual_purpose", json!({}))
        .await;
    let f = Files::new();
    // The chain as the export route gives it.
    let chain = s
        .raw(&format!("/export/certificate/{}/chain", id(&good)), Some(a))
        .await;
    assert_eq!(chain.status, 200);
    let blocks = pem_blocks(&chain.text());
    assert_eq!(blocks.len(), 3);
    let leaf = f.write("leaf.pem", &blocks[0]);
    let inter_file = f.write("inter.pem", &blocks[1]);
    let root_file = f.write("root.pem", &blocks[2]);
    let bad_file = f.write("bad.pem", pem(&bad));
    let out = openssl_ok(&[
        "verify",
        "-x509_strict",
        "-purpose",
        "sslserver",
        "-CAfile",
        &root_file,
        "-untrusted",
        &inter_file,
        &leaf,
    ]);
    assert!(out.contains(": OK"), "{out}");
    for purpose in ["sslserver", "sslclient"] {
        let out = openssl_ok(&[
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-CAfile",
            &root_file,
            "-untrusted",
            &inter_file,
            &bad_file,
        ]);
        assert!(out.contains(": OK"), "{out}");
    }
    // The intermediate alone is not a trust anchor for the root's children.
    let (ok, out) = openssl(&["verify", "-x509_strict", "-CAfile", &inter_file, &leaf]);
    assert!(!ok, "{out}");

    // Revoke one, then fetch the CRLs where the certificates say they are.
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&bad)),
            Some(a),
            json!({"reason": "keyCompromise"}),
        )
        .await,
        200,
    );
    let leaf_cdp = uri_in(pem(&good), "X509v3 CRL Distribution Points");
    let inter_cdp = uri_in(pem(&inter), "X509v3 CRL Distribution Points");
    assert_eq!(
        leaf_cdp,
        format!("{}/crl/interop-inter-{}", s.base, id(&inter))
    );
    assert_eq!(
        inter_cdp,
        format!("{}/crl/interop-root-{}", s.base, id(&root))
    );
    let inter_crl_der = f.write("inter.crl.der", fetch(&s, &leaf_cdp).await);
    let root_crl_der = f.write("root.crl.der", fetch(&s, &inter_cdp).await);
    let inter_crl = f.path("inter.crl");
    let root_crl = f.path("root.crl");
    openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &inter_crl_der,
        "-out",
        &inter_crl,
    ]);
    openssl_ok(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &root_crl_der,
        "-out",
        &root_crl,
    ]);
    // The AIA caIssuers URL serves the issuer's certificate (DER).
    let aia = uri_in(pem(&good), "Authority Information Access");
    let issuer_der = f.write("issuer.der", fetch(&s, &aia).await);
    let issuer_pem = openssl_ok(&["x509", "-inform", "DER", "-in", &issuer_der]);
    assert_eq!(issuer_pem.trim(), pem(&inter).trim());

    // Each CRL verifies against its issuer, and not against the other CA.
    for (crl, ca, other) in [
        (&inter_crl, &inter_file, &root_file),
        (&root_crl, &root_file, &inter_file),
    ] {
        let out = openssl_ok(&["crl", "-in", crl, "-CAfile", ca, "-noout", "-verify"]);
        assert!(out.contains("verify OK"), "{out}");
        let (ok, out) = openssl(&["crl", "-in", crl, "-CAfile", other, "-noout", "-verify"]);
        assert!(!ok || !out.contains("verify OK"), "{out}");
    }
    let with_crls = |cert: &str| {
        openssl(&[
            "verify",
            "-x509_strict",
            "-crl_check_all",
            "-CRLfile",
            &root_crl,
            "-CRLfile",
            &inter_crl,
            "-CAfile",
            &root_file,
            "-untrusted",
            &inter_file,
            cert,
        ])
    };
    let (ok, out) = with_crls(&leaf);
    assert!(ok && out.contains(": OK"), "{out}");
    let (ok, out) = with_crls(&bad_file);
    assert!(!ok, "{out}");
    assert!(out.contains("certificate revoked"), "{out}");
}

/// root -> intermediate -> server leaf with the given key algorithms; a second
/// leaf revoked; strict verification with both CRLs, and each CRL's signature.
async fn verify_with_algorithms(s: &Server, a: &str, label: &str, algs: [Value; 3]) {
    let [root_alg, inter_alg, leaf_alg] = algs;
    let root = s
        .create_ca(
            a,
            &format!("{label} Root"),
            merged(root_alg, json!({"path_length": 1})),
        )
        .await;
    let inter = s
        .create_ca(
            a,
            &format!("{label} Inter"),
            merged(inter_alg, json!({"parent_ca_id": id(&root)})),
        )
        .await;
    let good = s
        .issue(
            a,
            id(&inter),
            "good.example.com",
            "server",
            leaf_alg.clone(),
        )
        .await;
    let gone = s
        .issue(a, id(&inter), "gone.example.com", "server", leaf_alg)
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&gone)),
            Some(a),
            json!({"reason": "superseded"}),
        )
        .await,
        200,
    );
    let f = Files::new();
    let root_file = f.write("root.pem", pem(&root));
    let inter_file = f.write("inter.pem", pem(&inter));
    let good_file = f.write("good.pem", pem(&good));
    let gone_file = f.write("gone.pem", pem(&gone));
    let crl = |ca: &Value, name: &str| {
        let path = format!("/crl/{}-{}.pem", name, id(ca));
        async move {
            let r = s.raw(&path, None).await;
            assert_eq!(r.status, 200, "{path}");
            r.body
        }
    };
    let slug = label.to_lowercase().replace(' ', "-");
    let root_crl = f.write("root.crl", crl(&root, &format!("{slug}-root")).await);
    let inter_crl = f.write("inter.crl", crl(&inter, &format!("{slug}-inter")).await);
    for (crl, ca) in [(&root_crl, &root_file), (&inter_crl, &inter_file)] {
        let out = openssl_ok(&["crl", "-in", crl, "-CAfile", ca, "-noout", "-verify"]);
        assert!(out.contains("verify OK"), "{label}: {out}");
    }
    let verify = |cert: &str| {
        openssl(&[
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            "-crl_check_all",
            "-CRLfile",
            &root_crl,
            "-CRLfile",
            &inter_crl,
            "-CAfile",
            &root_file,
            "-untrusted",
            &inter_file,
            cert,
        ])
    };
    let (ok, out) = verify(&good_file);
    assert!(ok && out.contains(": OK"), "{label}: {out}");
    let (ok, out) = verify(&gone_file);
    assert!(!ok && out.contains("certificate revoked"), "{label}: {out}");
}

#[tokio::test]
async fn every_key_algorithm_chain_verifies_strictly() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    for (name, alg) in algorithms() {
        verify_with_algorithms(
            &s,
            &w.admin_a.1,
            &format!("Alg {name}"),
            [alg.clone(), alg.clone(), alg],
        )
        .await;
    }
    let [rsa, _, p384, ed25519] = algorithms().map(|(_, v)| v);
    verify_with_algorithms(
        &s,
        &w.admin_a.1,
        "Mixed One",
        [rsa.clone(), ed25519.clone(), p384.clone()],
    )
    .await;
    verify_with_algorithms(&s, &w.admin_a.1, "Mixed Two", [ed25519, p384, rsa]).await;
}

// ---------------------------------------------------------------- TLS

#[tokio::test]
async fn tls_handshake_with_api_issued_certificates() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = s.create_ca(a, "TLS Root", json!({})).await;
    let inter = s
        .create_ca(a, "TLS Inter", json!({"parent_ca_id": id(&root)}))
        .await;
    let server = s
        .issue(
            a,
            id(&inter),
            "localhost",
            "server",
            json!({"key_algorithm": "rsa", "key_size": 2048,
                   "san_dns_names": ["localhost"], "san_ip_addresses": ["127.0.0.1"]}),
        )
        .await;
    let client = s
        .issue(a, id(&inter), "alice@example.com", "client", json!({}))
        .await;
    let f = Files::new();
    let get = |path: String| {
        let s = &s;
        async move {
            let r = s.raw(&path, Some(a)).await;
            assert_eq!(r.status, 200, "{path}");
            r.text()
        }
    };
    f.write("root.pem", pem(&root));
    f.write("inter.pem", pem(&inter));
    f.write(
        "server.pem",
        get(format!("/export/certificate/{}", id(&server))).await,
    );
    f.write(
        "server.key",
        get(format!("/export/certificate/{}/private-key", id(&server))).await,
    );
    f.write(
        "client.pem",
        get(format!("/export/certificate/{}", id(&client))).await,
    );
    f.write(
        "client.key",
        get(format!("/export/certificate/{}/private-key", id(&client))).await,
    );

    let s_server = SServer::mutual_tls(&f, 10);
    let s_client = |verify: &[&str], with_cert: bool| s_server.client(&f, verify, with_cert);
    let (ok, text) = s_client(&["-verify_hostname", "localhost"], true);
    assert!(ok && text.contains("Verify return code: 0 (ok)"), "{text}");
    let (ok, text) = s_client(&["-verify_ip", "127.0.0.1"], true);
    assert!(ok && text.contains("Verify return code: 0 (ok)"), "{text}");
    // TLS 1.2 settles the client certificate inside the handshake: with it the
    // handshake completes, without it the server refuses.
    let (ok, text) = s_client(&["-tls1_2", "-verify_hostname", "localhost"], true);
    assert!(ok && text.contains("Verify return code: 0 (ok)"), "{text}");
    let (ok, text) = s_client(&["-tls1_2", "-verify_hostname", "localhost"], false);
    assert!(
        !ok,
        "the server must require the client certificate: {text}"
    );
    // The names are really checked.
    let (ok, text) = s_client(&["-verify_hostname", "other.example.com"], true);
    assert!(!ok && text.contains("hostname mismatch"), "{text}");
}

// ---------------------------------------------------------------- pkilint

/// The canary: artefacts made with openssl to break rules pkilint reports as ERROR must
/// be reported, so a pkilint that silently reports nothing (or reports in a shape this
/// suite no longer reads) fails the suite instead of passing every lint here.
#[test]
fn pkilint_canary_reports_non_conformant_artefacts() {
    assert_canary_reported();
}

fn algorithms() -> [(&'static str, Value); 4] {
    [
        ("rsa", json!({"key_algorithm": "rsa", "key_size": 2048})),
        ("p256", json!({"key_algorithm": "ecdsa-p256"})),
        ("p384", json!({"key_algorithm": "ecdsa-p384"})),
        ("ed25519", json!({"key_algorithm": "ed25519"})),
    ]
}

#[tokio::test]
async fn pkilint_every_profile_and_key_algorithm() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let f = Files::new();
    let mut lints = Vec::new();
    let mut pkix = |label: String, pem: &str| {
        let file = f.write(&format!("{label}.pem"), pem);
        lints.push(Lint {
            label,
            tool: "lint_pkix_cert",
            args: vec![],
            file,
        });
    };
    let mut cabf = Vec::new();
    for (name, alg) in algorithms() {
        // Published on a public name, as a deployment would (the test server's
        // 127.0.0.1 is an "internal name" to the CA/B Forum linter).
        let public = json!({"crl_base_url": "http://pki.example.com"});
        let root = s
            .create_ca(
                a,
                &format!("Lint Root {name}"),
                merged(
                    merged(alg.clone(), public.clone()),
                    json!({"path_length": 2}),
                ),
            )
            .await;
        let inter = s
            .create_ca(
                a,
                &format!("Lint Inter {name}"),
                merged(
                    merged(alg.clone(), public),
                    json!({"parent_ca_id": id(&root)}),
                ),
            )
            .await;
        let ca_id = id(&inter);
        // A DV-shaped server leaf: the subject is just the CN.
        let server = s
            .issue(
                a,
                ca_id,
                "www.example.com",
                "server",
                merged(
                    alg.clone(),
                    json!({"san_dns_names": ["www.example.com", "example.com", "*.api.example.com"]}),
                ),
            )
            .await;
        let client = s
            .issue(a, ca_id, "alice@example.com", "client", alg.clone())
            .await;
        let dual = s
            .issue(
                a,
                ca_id,
                "svc.example.com",
                "dual_purpose",
                merged(
                    alg.clone(),
                    json!({"san_ip_addresses": ["10.0.0.1", "::1"]}),
                ),
            )
            .await;
        let leaf_ca = s.issue(a, ca_id, "Leaf CA", "ca", alg.clone()).await;
        for (profile, v) in [
            ("root", &root),
            ("intermediate", &inter),
            ("server", &server),
            ("client", &client),
            ("dual_purpose", &dual),
            ("ca", &leaf_ca),
        ] {
            pkix(format!("{name}-{profile}"), pem(v));
        }
        // BR 7.1.3 allows only RSA and ECDSA: Ed25519 is out of the CA/B profile.
        if name != "ed25519" {
            cabf.push((format!("{name}-server-cabf"), pem(&server).to_string()));
        }
    }
    // Name shapes: a client without SAN, a rich subject, a CSR-signed certificate.
    let ca = s.create_ca(a, "Lint Shapes", json!({})).await;
    let plain = s.issue(a, id(&ca), "alice", "client", json!({})).await;
    pkix("client-no-san".into(), pem(&plain));
    let rich = s
        .issue(
            a,
            id(&ca),
            "Ann Lee",
            "client",
            json!({"subject_dn": "C=US,ST=California,L=San Francisco,O=Acme\\, Inc,OU=Ops,CN=Ann Lee"}),
        )
        .await;
    pkix("rich-subject".into(), pem(&rich));
    let (csr, _) = make_csr(
        "rsa",
        "/CN=csr.example.com/O=Acme/C=US",
        &[
            "subjectAltName=DNS:csr.example.com",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    let signed = expect(
        s.post(
            "/certificates/sign-csr",
            Some(a),
            json!({"csr": csr, "ca_id": id(&ca), "certificate_type": "dual_purpose"}),
        )
        .await,
        201,
    );
    pkix("csr-signed".into(), pem(&signed));
    for (label, cert) in cabf {
        let file = f.write(&format!("{label}.pem"), cert);
        lints.push(Lint {
            label,
            tool: "lint_cabf_serverauth_cert",
            args: vec!["-t", "DV-FINAL-CERTIFICATE"],
            file,
        });
    }
    run_lints(lints);
}

#[tokio::test]
async fn pkilint_crls_with_revoked_entries() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let f = Files::new();
    let crl_of = |ca: &Value| {
        let path = format!(
            "/crl/{}-{}.pem",
            ca["name"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .replace(' ', "-"),
            id(ca)
        );
        let s = &s;
        async move {
            let r = s.raw(&path, None).await;
            assert_eq!(r.status, 200, "{path}");
            r.body
        }
    };
    let revoke_all = |ca_id: i64, reasons: Vec<Value>| {
        let s = &s;
        async move {
            for (i, reason) in reasons.into_iter().enumerate() {
                let c = s
                    .issue(a, ca_id, &format!("r{i}.example.com"), "server", json!({}))
                    .await;
                let body = if reason.is_null() {
                    json!({})
                } else {
                    json!({"reason_code": reason})
                };
                expect(
                    s.post(&format!("/certificates/{}/revoke", id(&c)), Some(a), body)
                        .await,
                    200,
                );
            }
        }
    };
    let mut lints = Vec::new();
    let mut lint = |label: &str, body: &[u8], profile: &'static str| {
        let file = f.write(&format!("{label}-{profile}.crl"), body);
        lints.push(Lint {
            label: format!("{label} ({profile})"),
            tool: "lint_crl",
            args: vec!["-t", "CRL", "-p", profile],
            file,
        });
    };
    // Empty first CRLs, of each key algorithm.
    for (name, alg) in algorithms() {
        let ca = s.create_ca(a, &format!("Empty {name}"), alg).await;
        let crl = crl_of(&ca).await;
        lint(&format!("empty-{name}"), &crl, "PKIX");
        lint(&format!("empty-{name}"), &crl, "BR");
    }
    // Every reason a complete CRL may carry, against RFC 5280.
    let every = s.create_ca(a, "Every Reason", json!({})).await;
    revoke_all(
        id(&every),
        [
            Value::Null,
            json!(0),
            json!(1),
            json!(2),
            json!(3),
            json!(4),
            json!(5),
            json!(6),
            json!(9),
            json!(10),
        ]
        .to_vec(),
    )
    .await;
    lint("every-reason", &crl_of(&every).await, "PKIX");
    // The reasons the Baseline Requirements allow, against both profiles, signed with RSA.
    let br = s
        .create_ca(
            a,
            "BR Reasons",
            json!({"key_algorithm": "rsa", "key_size": 2048}),
        )
        .await;
    revoke_all(
        id(&br),
        [
            Value::Null,
            json!(1),
            json!(3),
            json!(4),
            json!(5),
            json!(9),
        ]
        .to_vec(),
    )
    .await;
    let crl = crl_of(&br).await;
    lint("br-reasons", &crl, "PKIX");
    lint("br-reasons", &crl, "BR");
    // An intermediate's CRL (Ed25519).
    let root = s.create_ca(a, "Lint CRL Root", json!({})).await;
    let inter = s
        .create_ca(
            a,
            "Lint CRL Inter",
            json!({"parent_ca_id": id(&root), "key_algorithm": "ed25519"}),
        )
        .await;
    revoke_all(id(&inter), vec![json!(1), json!(4)]).await;
    lint("intermediate", &crl_of(&inter).await, "PKIX");
    run_lints(lints);
}

#[tokio::test]
async fn subject_email_address_is_also_an_email_san() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let ca = s.create_ca(a, "Mail CA", json!({})).await;
    let issued = s
        .issue(
            a,
            id(&ca),
            "Ann Lee",
            "client",
            json!({"subject_dn": "CN=Ann Lee,emailAddress=ann@example.com"}),
        )
        .await;
    let (csr, _) = make_csr("p256", "/CN=Bob Lee/emailAddress=bob@example.com", &[]);
    let signed = expect(
        s.post(
            "/certificates/sign-csr",
            Some(a),
            json!({"csr": csr, "ca_id": id(&ca), "certificate_type": "client"}),
        )
        .await,
        201,
    );
    let f = Files::new();
    let mut lints = vec![];
    for (label, v) in [("issued", &issued), ("csr-signed", &signed)] {
        lints.push(Lint {
            label: format!("subject emailAddress ({label})"),
            tool: "lint_pkix_cert",
            args: vec![],
            file: f.write(&format!("{label}.pem"), pem(v)),
        });
    }
    run_lints(lints);
}

#[tokio::test]
async fn common_name_copies_its_dns_san_exactly() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let ca = s
        .create_ca(
            a,
            "Case CA",
            json!({"crl_base_url": "http://pki.example.com"}),
        )
        .await;
    let v = s
        .issue(a, id(&ca), "WWW.Example.COM", "server", json!({}))
        .await;
    let cert = pem(&v);
    let cn = x509_field(cert, "-subject")
        .trim_start_matches("subject=CN = ")
        .to_string();
    let sans = text_section(&x509_text(cert), "X509v3 Subject Alternative Name");
    assert!(
        sans.split(", ").any(|n| n == format!("DNS:{cn}")),
        "CN {cn:?} is not one of the SANs {sans:?}"
    );
    let f = Files::new();
    run_lints(vec![Lint {
        label: "capitalised CN".into(),
        tool: "lint_cabf_serverauth_cert",
        args: vec!["-t", "DV-FINAL-CERTIFICATE"],
        file: f.write("server.pem", cert),
    }]);
}
