//! `/certificates`: issuing each type (SAN defaults and rules, extensions,
//! validation), signing CSRs made by `openssl`, scoped lists, keys, and
//! revocation (reasons, conflicts, concurrency).

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

const CERT_FIELDS: [&str; 19] = [
    "id",
    "common_name",
    "subject_dn",
    "certificate_type",
    "key_size",
    "valid_days",
    "status",
    "certificate",
    "serial_number",
    "not_before",
    "not_after",
    "revoked_at",
    "issuer_id",
    "organization_id",
    "created_by_user_id",
    "renewed_from_id",
    "renewed_to_ids",
    "created_at",
    "updated_at",
];

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// An organization-A world with one issuing CA (P-256) made by admin_a.
async fn world_with_ca(s: &Server) -> (World, Value) {
    let w = World::build(s).await;
    let ca = s.create_ca(&w.admin_a.1, "Issuing CA", json!({})).await;
    (w, ca)
}

fn cert_path(ca_id: i64) -> String {
    format!("/certificates/?ca_id={ca_id}")
}

#[tokio::test]
async fn certificate_object_and_server_extensions() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let ca_id = id(&ca);
    let v = s
        .issue(&w.admin_a.1, ca_id, "www.example.com", "server", json!({}))
        .await;
    for k in CERT_FIELDS {
        assert!(v.get(k).is_some(), "{k} missing from {v}");
    }
    assert_eq!(v["common_name"], "www.example.com");
    assert_eq!(v["subject_dn"], "CN=www.example.com");
    assert_eq!(v["certificate_type"], "server");
    assert_eq!(v["key_algorithm"], "ecdsa-p256");
    assert_eq!(v["key_size"], 256);
    assert_eq!(v["valid_days"], 90);
    assert_eq!(v["status"], "valid");
    assert_eq!(v["revoked_at"], Value::Null);
    assert_eq!(v["issuer_id"], ca_id);
    assert_eq!(v["organization_id"], w.org_a);
    assert_eq!(v["created_by_user_id"], w.admin_a.0);
    assert_eq!(v["renewed_from_id"], Value::Null);
    assert_eq!(v["renewed_to_ids"], json!([]));
    assert_eq!(strs(&v["san_dns_names"]), ["www.example.com"]);
    let nb = chrono::DateTime::parse_from_rfc3339(v["not_before"].as_str().unwrap()).unwrap();
    let na = chrono::DateTime::parse_from_rfc3339(v["not_after"].as_str().unwrap()).unwrap();
    // RFC 5280 validity includes both ends.
    assert_eq!((na - nb).num_seconds(), 90 * 86_400 - 1);
    for k in ["created_at", "updated_at"] {
        chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap()).expect(k);
    }
    // Serial: lowercase hex of at least 64 bits, at most 20 octets, the certificate's.
    let serial = v["serial_number"].as_str().unwrap();
    assert!(
        serial.len() >= 16
            && serial.len() <= 40
            && serial
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{serial}"
    );
    let cert = v["certificate"].as_str().unwrap();
    let openssl_serial = x509_field(cert, "-serial");
    assert_eq!(
        openssl_serial.trim_start_matches("serial=").to_lowercase(),
        serial
    );
    // The key comes once, and matches.
    let key = v["private_key"].as_str().expect("private key");
    assert_eq!(key_public_key(key), cert_public_key(cert));
    // Extensions.
    let text = x509_text(cert);
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert_eq!(text_section(&text, "X509v3 Basic Constraints"), "CA:FALSE");
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    // ECDSA: digitalSignature only.
    assert_eq!(text_section(&text, "X509v3 Key Usage"), "Digital Signature");
    assert_eq!(
        text_section(&text, "X509v3 Extended Key Usage"),
        "TLS Web Server Authentication"
    );
    assert_eq!(
        text_section(&text, "X509v3 Subject Alternative Name"),
        "DNS:www.example.com"
    );
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    let ca_ski = text_section(
        &x509_text(ca["certificate"].as_str().unwrap()),
        "X509v3 Subject Key Identifier",
    );
    assert!(
        text_section(&text, "X509v3 Authority Key Identifier").contains(&ca_ski),
        "{text}"
    );
    let slug = format!("issuing-ca-{ca_id}");
    assert!(
        text_section(&text, "X509v3 CRL Distribution Points")
            .contains(&format!("URI:{}/crl/{slug}", s.base)),
        "{text}"
    );
    assert!(
        text_section(&text, "Authority Information Access")
            .contains(&format!("CA Issuers - URI:{}/ca/{slug}.crt", s.base)),
        "{text}"
    );
    assert!(
        text.contains("Signature Algorithm: ecdsa-with-SHA256"),
        "{text}"
    );
    // Read back: no key, same object.
    let back = expect(
        s.get(&format!("/certificates/{}", id(&v)), Some(&w.user_a.1))
            .await,
        200,
    );
    assert!(back.get("private_key").is_none(), "{back}");
    assert_eq!(back["certificate"], v["certificate"]);
    assert_eq!(back["renewed_to_ids"], json!([]));
    let audit = s.audit_for(&w.root, "cert_create", id(&v)).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["username"], "admin_a");
}

#[tokio::test]
async fn each_type_with_its_san_defaults() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (a, ca_id) = (&w.admin_a.1, id(&ca));
    let san = |v: &Value| {
        text_section(
            &x509_text(v["certificate"].as_str().unwrap()),
            "X509v3 Subject Alternative Name",
        )
    };
    let eku = |v: &Value| {
        text_section(
            &x509_text(v["certificate"].as_str().unwrap()),
            "X509v3 Extended Key Usage",
        )
    };

    // RSA, the default algorithm (CERT_KEY_SIZE 2048): keyEncipherment too.
    let rsa = s
        .issue(
            a,
            ca_id,
            "rsa.example.com",
            "server",
            json!({"key_algorithm": null}),
        )
        .await;
    assert_eq!(rsa["key_algorithm"], "rsa");
    assert_eq!(rsa["key_size"], 2048);
    let text = x509_text(rsa["certificate"].as_str().unwrap());
    assert_eq!(
        text_section(&text, "X509v3 Key Usage"),
        "Digital Signature, Key Encipherment"
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");

    // Explicit DNS SANs: the common name is not added.
    let explicit = s
        .issue(
            a,
            ca_id,
            "api.example.com",
            "server",
            json!({"san_dns_names": ["a.example.com", "b.example.com"], "san_ip_addresses": ["10.0.0.42"]}),
        )
        .await;
    assert_eq!(
        strs(&explicit["san_dns_names"]),
        ["a.example.com", "b.example.com"]
    );
    assert_eq!(strs(&explicit["san_ip_addresses"]), ["10.0.0.42"]);
    assert_eq!(
        san(&explicit),
        "DNS:a.example.com, DNS:b.example.com, IP Address:10.0.0.42"
    );
    // A wildcard common name becomes the DNS SAN.
    let wild = s
        .issue(a, ca_id, "*.example.com", "server", json!({}))
        .await;
    assert_eq!(strs(&wild["san_dns_names"]), ["*.example.com"]);

    // Dual purpose: the CN as DNS SAN, both EKUs, e-mail SANs allowed.
    let dual = s
        .issue(
            a,
            ca_id,
            "svc.example.com",
            "dual_purpose",
            json!({"san_ip_addresses": ["10.0.0.1", "::1"], "san_email_addresses": ["ops@example.com"]}),
        )
        .await;
    assert_eq!(strs(&dual["san_dns_names"]), ["svc.example.com"]);
    assert_eq!(strs(&dual["san_email_addresses"]), ["ops@example.com"]);
    let dual_san = san(&dual);
    for part in [
        "DNS:svc.example.com",
        "IP Address:10.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
        "email:ops@example.com",
    ] {
        assert!(dual_san.contains(part), "{part} not in {dual_san}");
    }
    assert_eq!(
        eku(&dual),
        "TLS Web Server Authentication, TLS Web Client Authentication"
    );

    // Client: an e-mail common name becomes the e-mail SAN; another gets none.
    let mail = s
        .issue(a, ca_id, "alice@example.com", "client", json!({}))
        .await;
    assert_eq!(strs(&mail["san_email_addresses"]), ["alice@example.com"]);
    assert_eq!(mail["san_dns_names"], json!([]));
    assert_eq!(san(&mail), "email:alice@example.com");
    assert_eq!(eku(&mail), "TLS Web Client Authentication");
    let plain = s.issue(a, ca_id, "alice", "client", json!({})).await;
    assert_eq!(plain["san_email_addresses"], json!([]));
    assert_eq!(san(&plain), "");
    let given = s
        .issue(
            a,
            ca_id,
            "bob@example.com",
            "client",
            json!({"san_email_addresses": ["robert@example.com"]}),
        )
        .await;
    assert_eq!(strs(&given["san_email_addresses"]), ["robert@example.com"]);

    // Type ca: CA:TRUE, keyCertSign and cRLSign, no SAN, no EKU.
    let sub = s.issue(a, ca_id, "Team CA", "ca", json!({})).await;
    assert_eq!(sub["certificate_type"], "ca");
    let text = x509_text(sub["certificate"].as_str().unwrap());
    assert!(
        text_section(&text, "X509v3 Basic Constraints").contains("CA:TRUE"),
        "{text}"
    );
    let ku = text_section(&text, "X509v3 Key Usage");
    assert!(
        ku.contains("Certificate Sign") && ku.contains("CRL Sign"),
        "{ku}"
    );
    assert!(!text.contains("Subject Alternative Name"), "{text}");

    // A subject DN is kept as given; without a CN the common name is put first.
    let dn = s
        .issue(
            a,
            ca_id,
            "api.example.com",
            "server",
            json!({"subject_dn": "CN=api.example.com,O=Acme\\, Inc,C=US"}),
        )
        .await;
    let subject = x509_field(dn["certificate"].as_str().unwrap(), "-subject");
    assert_eq!(
        subject,
        "subject=C = US, O = \"Acme, Inc\", CN = api.example.com"
    );
    let no_cn = s
        .issue(
            a,
            ca_id,
            "x.example.com",
            "server",
            json!({"subject_dn": "O=Acme,C=US"}),
        )
        .await;
    let subject = x509_field(no_cn["certificate"].as_str().unwrap(), "-subject");
    assert_eq!(subject, "subject=C = US, O = Acme, CN = x.example.com");
}

#[tokio::test]
async fn san_rules_and_malformed_input() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (a, ca_id) = (&w.admin_a.1, id(&ca));
    let post = |body: Value| {
        let (s, path) = (&s, cert_path(ca_id));
        async move { s.post(&path, Some(a), body).await }
    };
    // SAN type rules and malformed names: 400.
    for (cn, ty, extra) in [
        (
            "www.example.com",
            "server",
            json!({"san_email_addresses": ["a@example.com"]}),
        ),
        (
            "alice",
            "client",
            json!({"san_dns_names": ["alice.example.com"]}),
        ),
        ("alice", "client", json!({"san_ip_addresses": ["10.0.0.1"]})),
        (
            "www.example.com",
            "server",
            json!({"san_ip_addresses": ["999.1.1.1"]}),
        ),
        (
            "www.example.com",
            "server",
            json!({"san_ip_addresses": ["10.0.0"]}),
        ),
        (
            "www.example.com",
            "server",
            json!({"san_ip_addresses": ["example.com"]}),
        ),
        (
            "www.example.com",
            "server",
            json!({"san_dns_names": ["bad name.example.com"]}),
        ),
        (
            "www.example.com",
            "server",
            json!({"san_dns_names": ["-bad.example.com"]}),
        ),
        (
            "www.example.com",
            "server",
            json!({"san_dns_names": ["a.*.example.com"]}),
        ),
        ("www.example.com", "server", json!({"san_dns_names": [""]})),
        (
            "www.example.com",
            "server",
            json!({"san_dns_names": ["x".repeat(64) + ".example.com"]}),
        ),
        (
            "svc",
            "dual_purpose",
            json!({"san_email_addresses": ["not-an-email"]}),
        ),
        (
            "www.example.com",
            "server",
            json!({"subject_dn": "CN=a,BOGUS=b"}),
        ),
        (
            "www.example.com",
            "server",
            json!({"subject_dn": "garbage"}),
        ),
    ] {
        let v = expect(post(cert_body(cn, ty, extra.clone())).await, 400);
        assert!(v["detail"].is_string(), "{extra} -> {v}");
    }
    // Body and query validation: 422.
    for body in [
        cert_body("x.example.com", "web", json!({})),
        cert_body("x.example.com", "server", json!({"certificate_type": null})),
        json!({"certificate_type": "server"}),
        cert_body("", "server", json!({})),
        cert_body(&"x".repeat(65), "server", json!({})),
        cert_body("x.example.com", "server", json!({"valid_days": 0})),
        cert_body("x.example.com", "server", json!({"valid_days": 36501})),
        cert_body(
            "x.example.com",
            "server",
            json!({"key_algorithm": "rsa", "key_size": 1024}),
        ),
        cert_body(
            "x.example.com",
            "server",
            json!({"key_algorithm": "rsa", "key_size": 2056}),
        ),
        cert_body("x.example.com", "server", json!({"key_algorithm": "dsa"})),
        cert_body(
            "x.example.com",
            "server",
            json!({"san_dns_names": "x.example.com"}),
        ),
        cert_body(
            "x.example.com",
            "server",
            json!({"include_private_key": "no"}),
        ),
    ] {
        let v = expect(post(body.clone()).await, 422);
        assert!(v["detail"].is_array(), "{body} -> {v}");
    }
    let body = cert_body("x.example.com", "server", json!({}));
    let v = expect(s.post("/certificates/", Some(a), body.clone()).await, 422);
    assert_eq!(v["detail"][0]["loc"], json!(["query", "ca_id"]));
    expect(
        s.post("/certificates/?ca_id=abc", Some(a), body.clone())
            .await,
        422,
    );
    expect(
        s.post(&cert_path(999_999), Some(a), body.clone()).await,
        404,
    );
    expect(s.post(&cert_path(ca_id), None, body.clone()).await, 401);
    expect(s.post(&cert_path(ca_id), Some("garbage"), body).await, 401);
    // Nothing was issued.
    assert_eq!(
        expect(s.get("/certificates/", Some(a)).await, 200),
        json!([])
    );
}

#[tokio::test]
async fn without_a_kept_key_there_is_no_key_to_export() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let a = &w.admin_a.1;
    let v = s
        .issue(
            a,
            id(&ca),
            "nokey.example.com",
            "server",
            json!({"include_private_key": false}),
        )
        .await;
    assert!(
        v.get("private_key").is_some(),
        "private_key must be present: {v}"
    );
    assert_eq!(v["private_key"], Value::Null);
    let cid = id(&v);
    // FastPKI answers the certificate with `"private_key": null`; the PEM
    // download has nothing to send.
    let v = expect(
        s.get(&format!("/certificates/{cid}/private-key"), Some(a))
            .await,
        200,
    );
    assert_eq!(v["id"], cid);
    assert!(v.get("private_key").is_some(), "{v}");
    assert_eq!(v["private_key"], Value::Null);
    assert!(v["certificate"].as_str().unwrap().contains("CERTIFICATE"));
    assert_eq!(
        s.raw(&format!("/export/certificate/{cid}/private-key"), Some(a))
            .await
            .status,
        404
    );
    // The same guard as with a key: a user without the flag is refused.
    expect(
        s.get(
            &format!("/certificates/{cid}/private-key"),
            Some(&w.user_a.1),
        )
        .await,
        403,
    );
    // A certificate signed from a CSR has no key either.
    let (csr, _) = make_csr("p256", "/CN=csr-nokey.example.com", &[]);
    let signed = expect(
        s.post(
            "/certificates/sign-csr",
            Some(a),
            json!({"csr": csr, "ca_id": id(&ca)}),
        )
        .await,
        201,
    );
    let v = expect(
        s.get(
            &format!("/certificates/{}/private-key", id(&signed)),
            Some(a),
        )
        .await,
        200,
    );
    assert_eq!(v["private_key"], Value::Null);
}

#[tokio::test]
async fn issuer_rules_leaf_flag_and_validity_clamp() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let no_leaves = s
        .create_ca(a, "Sub Only", json!({"allow_leaf_certs": false}))
        .await;
    for ty in ["server", "client", "dual_purpose"] {
        expect(
            s.post(
                &cert_path(id(&no_leaves)),
                Some(a),
                cert_body("x.example.com", ty, json!({})),
            )
            .await,
            400,
        );
    }
    // As in FastPKI, allow_leaf_certs false refuses CA certificates too.
    expect(
        s.post(
            &cert_path(id(&no_leaves)),
            Some(a),
            cert_body("Below", "ca", json!({})),
        )
        .await,
        400,
    );
    // A parent loses its leaves when it gets a sub-CA.
    let parent = s.create_ca(a, "Parent", json!({"path_length": 1})).await;
    s.issue(a, id(&parent), "before.example.com", "server", json!({}))
        .await;
    let child = s
        .create_ca(a, "Child", json!({"parent_ca_id": id(&parent)}))
        .await;
    expect(
        s.post(
            &cert_path(id(&parent)),
            Some(a),
            cert_body("after.example.com", "server", json!({})),
        )
        .await,
        400,
    );
    // A CA of path length 0 issues no CA certificate.
    expect(
        s.post(
            &cert_path(id(&child)),
            Some(a),
            cert_body("Deeper", "ca", json!({})),
        )
        .await,
        400,
    );
    // Validity: clamped to the issuer's, and valid_days says so.
    let short = s.create_ca(a, "Short", json!({"valid_days": 5})).await;
    let v = s
        .issue(
            a,
            id(&short),
            "long.example.com",
            "server",
            json!({"valid_days": 365}),
        )
        .await;
    assert_eq!(v["not_after"], short["not_after"]);
    assert_eq!(v["valid_days"], 5);
    assert_eq!(
        x509_field(v["certificate"].as_str().unwrap(), "-enddate"),
        x509_field(short["certificate"].as_str().unwrap(), "-enddate")
    );
}

// ------------------------------------------------------------------ sign-csr

/// A CSR whose signature no longer matches: one byte flipped at `offset_from_end`
/// of its DER (in the signature when small, in the signed content when large).
fn tamper(csr_pem: &str, offset_from_end: usize) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: String = csr_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut der = b64.decode(body).unwrap();
    let i = der.len() - offset_from_end;
    der[i] ^= 0x01;
    let enc = b64.encode(&der);
    let lines: Vec<&str> = enc
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE REQUEST-----\n{}\n-----END CERTIFICATE REQUEST-----\n",
        lines.join("\n")
    )
}

/// Flips one byte of the subject's common name in the CSR's DER.
fn tamper_subject(csr_pem: &str, cn: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let body: String = csr_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let mut der = b64.decode(body).unwrap();
    let at = der
        .windows(cn.len())
        .position(|w| w == cn.as_bytes())
        .expect("CN in the DER");
    der[at] = b'z';
    let enc = b64.encode(&der);
    format!("-----BEGIN CERTIFICATE REQUEST-----\n{enc}\n-----END CERTIFICATE REQUEST-----\n")
}

#[tokio::test]
async fn sign_csr_of_each_key_type() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (a, ca_id) = (&w.admin_a.1, id(&ca));
    for (alg, api_alg, size) in [
        ("rsa", "rsa", 2048),
        ("p256", "ecdsa-p256", 256),
        ("ed25519", "ed25519", 256),
    ] {
        let (csr, key) = make_csr(
            alg,
            "/CN=api.example.com/O=Acme Corp/C=US",
            &["subjectAltName=DNS:api.example.com,DNS:alt.example.com,IP:10.1.2.3"],
        );
        let v = expect(
            s.post(
                "/certificates/sign-csr",
                Some(a),
                json!({"csr": csr, "ca_id": ca_id, "certificate_type": "server", "valid_days": 30}),
            )
            .await,
            201,
        );
        assert!(
            v.get("private_key").is_none_or(Value::is_null),
            "no private key from a CSR: {v}"
        );
        assert!(!v.to_string().contains("PRIVATE KEY"));
        assert_eq!(v["key_origin"], "csr");
        assert_eq!(v["key_algorithm"], api_alg);
        assert_eq!(v["key_size"], size);
        assert_eq!(v["common_name"], "api.example.com");
        assert_eq!(v["valid_days"], 30);
        assert_eq!(v["issuer_id"], ca_id);
        assert_eq!(v["organization_id"], w.org_a);
        assert_eq!(
            strs(&v["san_dns_names"]),
            ["api.example.com", "alt.example.com"]
        );
        assert_eq!(strs(&v["san_ip_addresses"]), ["10.1.2.3"]);
        let cert = v["certificate"].as_str().unwrap();
        assert_eq!(cert_public_key(cert), key_public_key(&key), "{alg}");
        assert_eq!(
            x509_field(cert, "-subject"),
            "subject=C = US, O = Acme Corp, CN = api.example.com"
        );
        let text = x509_text(cert);
        assert_eq!(
            text_section(&text, "X509v3 Subject Alternative Name"),
            "DNS:api.example.com, DNS:alt.example.com, IP Address:10.1.2.3"
        );
        // RSA keys get keyEncipherment, others not.
        let ku = text_section(&text, "X509v3 Key Usage");
        assert_eq!(ku.contains("Key Encipherment"), alg == "rsa", "{ku}");
        // No private key to export for it.
        let k = expect(
            s.get(&format!("/certificates/{}/private-key", id(&v)), Some(a))
                .await,
            200,
        );
        assert_eq!(k["private_key"], Value::Null);
        assert_eq!(s.audit_for(&w.root, "cert_create", id(&v)).await.len(), 1);
    }
}

#[tokio::test]
async fn sign_csr_ignores_requested_extensions_and_applies_overrides() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (a, ca_id) = (&w.admin_a.1, id(&ca));
    let sign = |body: Value| s.post("/certificates/sign-csr", Some(a), body);
    // A CSR asking to be a CA: the issued certificate is not one.
    let (csr, _) = make_csr(
        "p256",
        "/CN=sneaky.example.com",
        &[
            "basicConstraints=critical,CA:TRUE",
            "keyUsage=critical,keyCertSign,cRLSign",
            "extendedKeyUsage=codeSigning",
            "subjectAltName=DNS:sneaky.example.com",
        ],
    );
    let v = expect(sign(json!({"csr": csr, "ca_id": ca_id})).await, 201);
    assert_eq!(
        v["certificate_type"], "server",
        "server is the default type"
    );
    let text = x509_text(v["certificate"].as_str().unwrap());
    assert_eq!(text_section(&text, "X509v3 Basic Constraints"), "CA:FALSE");
    let ku = text_section(&text, "X509v3 Key Usage");
    assert!(
        !ku.contains("Certificate Sign") && !ku.contains("CRL Sign"),
        "{ku}"
    );
    assert_eq!(
        text_section(&text, "X509v3 Extended Key Usage"),
        "TLS Web Server Authentication"
    );
    assert!(!text.contains("Code Signing"), "{text}");

    let (csr, _) = make_csr(
        "p256",
        "/CN=orig.example.com/O=Orig Org",
        &["subjectAltName=DNS:orig.example.com"],
    );
    // A new common name replaces the CSR's; the rest of the subject stays.
    let v = expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "common_name": "new.example.com"})).await,
        201,
    );
    assert_eq!(v["common_name"], "new.example.com");
    assert_eq!(
        x509_field(v["certificate"].as_str().unwrap(), "-subject"),
        "subject=O = Orig Org, CN = new.example.com"
    );
    assert_eq!(strs(&v["san_dns_names"]), ["orig.example.com"]);
    // A subject DN replaces the CSR's.
    let v = expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "subject_dn": "CN=dn.example.com,O=Other,C=DE"}))
            .await,
        201,
    );
    assert_eq!(
        x509_field(v["certificate"].as_str().unwrap(), "-subject"),
        "subject=C = DE, O = Other, CN = dn.example.com"
    );
    // SANs given replace the CSR's.
    let v = expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "san_dns_names": ["x.example.com", "y.example.com"], "san_ip_addresses": ["10.9.8.7"]}))
            .await,
        201,
    );
    assert_eq!(
        text_section(
            &x509_text(v["certificate"].as_str().unwrap()),
            "X509v3 Subject Alternative Name"
        ),
        "DNS:x.example.com, DNS:y.example.com, IP Address:10.9.8.7"
    );
    // Client type: the CSR's DNS SAN breaks the client rule unless replaced.
    expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "certificate_type": "client"})).await,
        400,
    );
    let v = expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "certificate_type": "client", "san_dns_names": [], "san_email_addresses": ["o@example.com"]}))
            .await,
        201,
    );
    assert_eq!(
        text_section(
            &x509_text(v["certificate"].as_str().unwrap()),
            "X509v3 Extended Key Usage"
        ),
        "TLS Web Client Authentication"
    );
    // An override that is not a valid name: 400, not 500.
    expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "common_name": "x".repeat(65)})).await,
        400,
    );
    expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "subject_dn": "nonsense"})).await,
        400,
    );
}

#[tokio::test]
async fn sign_csr_rejections() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (a, ca_id) = (&w.admin_a.1, id(&ca));
    let sign = |body: Value| s.post("/certificates/sign-csr", Some(a), body);
    let (csr, _) = make_csr("rsa", "/CN=api.example.com", &[]);
    // Exactly one of ca_id and ca_name.
    expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "ca_name": "Issuing CA"})).await,
        400,
    );
    expect(sign(json!({"csr": csr})).await, 400);
    expect(sign(json!({"csr": csr, "ca_name": ""})).await, 400);
    // Never a CA certificate from a CSR.
    expect(
        sign(json!({"csr": csr, "ca_id": ca_id, "certificate_type": "ca"})).await,
        400,
    );
    // Garbage, tampered, not-a-CSR: 400.
    let ca_pem = ca["certificate"].as_str().unwrap().to_string();
    for bad in [
        String::new(),
        "not a csr".to_string(),
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n".into(),
        ca_pem,
        tamper(&csr, 1),
        tamper_subject(&csr, "api.example.com"),
    ] {
        let v = expect(sign(json!({"csr": bad, "ca_id": ca_id})).await, 400);
        assert!(v["detail"].is_string(), "{v}");
    }
    // Validation: 422.
    for body in [
        json!({"ca_id": ca_id}),
        json!({"csr": 5, "ca_id": ca_id}),
        json!({"csr": csr, "ca_id": ca_id, "certificate_type": "web"}),
        json!({"csr": csr, "ca_id": ca_id, "valid_days": 0}),
        json!({"csr": csr, "ca_id": "one"}),
    ] {
        expect(sign(body).await, 422);
    }
    expect(sign(json!({"csr": csr, "ca_id": 999_999})).await, 404);
    // A CSR without a common name needs one in the request.
    let (no_cn, _) = make_csr(
        "p256",
        "/O=Example Org",
        &["subjectAltName=DNS:nocn.example.com"],
    );
    let v = expect(sign(json!({"csr": no_cn, "ca_id": ca_id})).await, 400);
    assert!(v["detail"].as_str().unwrap().contains("common name"), "{v}");
    let v = expect(
        sign(json!({"csr": no_cn, "ca_id": ca_id, "common_name": "nocn.example.com"})).await,
        201,
    );
    assert_eq!(v["common_name"], "nocn.example.com");
    // A CA that issues no leaves signs no CSR either.
    let no_leaves = s
        .create_ca(a, "Sub Only", json!({"allow_leaf_certs": false}))
        .await;
    expect(
        sign(json!({"csr": csr, "ca_id": id(&no_leaves)})).await,
        400,
    );
    expect(
        s.post(
            "/certificates/sign-csr",
            None,
            json!({"csr": csr, "ca_id": ca_id}),
        )
        .await,
        401,
    );
    // Another organization's CA by id: 403; plain user without the flag: 403.
    expect(
        s.post(
            "/certificates/sign-csr",
            Some(&w.admin_b.1),
            json!({"csr": csr, "ca_id": ca_id}),
        )
        .await,
        403,
    );
    expect(
        s.post(
            "/certificates/sign-csr",
            Some(&w.user_a.1),
            json!({"csr": csr, "ca_id": ca_id}),
        )
        .await,
        403,
    );
    // Only the CSR given a common name was signed.
    let listed = expect(s.get("/certificates/", Some(a)).await, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["common_name"], "nocn.example.com");
}

#[tokio::test]
async fn sign_csr_by_name_is_scoped_to_the_callers_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca_a = id(&s
        .create_ca(&w.admin_a.1, "Acme Issuing CA", json!({}))
        .await);
    let ca_b = id(&s
        .create_ca(&w.admin_b.1, "Acme Issuing CA", json!({}))
        .await);
    let only_b = id(&s.create_ca(&w.admin_b.1, "Only B", json!({})).await);
    let (csr, _) = make_csr("p256", "/CN=named.example.com", &[]);
    let by_name = |token: &str, name: &str| {
        let (s, token, body) = (&s, token.to_string(), json!({"csr": csr, "ca_name": name}));
        async move { s.post("/certificates/sign-csr", Some(&token), body).await }
    };
    assert_eq!(
        expect(by_name(&w.admin_a.1, "Acme Issuing CA").await, 201)["issuer_id"],
        ca_a
    );
    assert_eq!(
        expect(by_name(&w.admin_b.1, "Acme Issuing CA").await, 201)["issuer_id"],
        ca_b
    );
    // Another organization's name is unknown to org A; the orphan knows none.
    expect(by_name(&w.admin_a.1, "Only B").await, 404);
    expect(by_name(&w.orphan.1, "Acme Issuing CA").await, 404);
    expect(by_name(&w.admin_a.1, "No Such CA").await, 404);
    // Found but not allowed.
    expect(by_name(&w.user_a.1, "Acme Issuing CA").await, 403);
    // The superuser resolves any organization's names; an ambiguous one is refused.
    assert_eq!(
        expect(by_name(&w.root, "Only B").await, 201)["issuer_id"],
        only_b
    );
    expect(by_name(&w.root, "Acme Issuing CA").await, 400);
}

// ------------------------------------------------------------- list and read

#[tokio::test]
async fn lists_are_scoped_filtered_and_paginated() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a1 = id(&s.create_ca(&w.admin_a.1, "A1", json!({})).await);
    let a2 = id(&s.create_ca(&w.admin_a.1, "A2", json!({})).await);
    let b1 = id(&s.create_ca(&w.admin_b.1, "B1", json!({})).await);
    let r = id(&s.create_ca(&w.root, "R", json!({})).await);
    let mut a_certs = vec![];
    for (i, ca) in [a1, a2, a1, a2, a1].into_iter().enumerate() {
        a_certs.push(id(&s
            .issue(
                &w.admin_a.1,
                ca,
                &format!("a{i}.example.com"),
                "server",
                json!({}),
            )
            .await));
    }
    let b_cert = id(&s
        .issue(&w.admin_b.1, b1, "b.example.com", "server", json!({}))
        .await);
    let r_cert = id(&s
        .issue(&w.root, r, "r.example.com", "server", json!({}))
        .await);
    let list = |token: &str, q: &str| {
        let path = format!("/certificates/?{q}");
        let token = token.to_string();
        let s = &s;
        async move { ids(&expect(s.get(&path, Some(&token)).await, 200)) }
    };
    let mut all = a_certs.clone();
    all.extend([b_cert, r_cert]);
    assert_eq!(list(&w.root, "").await, all);
    assert_eq!(list(&w.admin_a.1, "").await, a_certs);
    assert_eq!(list(&w.user_a.1, "").await, a_certs);
    assert_eq!(list(&w.user_b.1, "").await, vec![b_cert]);
    assert_eq!(list(&w.orphan.1, "").await, Vec::<i64>::new());
    // The ca_id filter, still scoped.
    let on_a1: Vec<i64> = vec![a_certs[0], a_certs[2], a_certs[4]];
    assert_eq!(list(&w.user_a.1, &format!("ca_id={a1}")).await, on_a1);
    assert_eq!(
        list(&w.root, &format!("ca_id={a2}")).await,
        vec![a_certs[1], a_certs[3]]
    );
    assert_eq!(
        list(&w.user_a.1, &format!("ca_id={b1}")).await,
        Vec::<i64>::new()
    );
    assert_eq!(list(&w.root, "ca_id=999999").await, Vec::<i64>::new());
    // Pagination, in id order, combined with the filter.
    assert_eq!(list(&w.user_a.1, "limit=2").await, a_certs[..2].to_vec());
    assert_eq!(
        list(&w.user_a.1, "skip=2&limit=2").await,
        a_certs[2..4].to_vec()
    );
    assert_eq!(
        list(&w.user_a.1, "skip=4&limit=2").await,
        a_certs[4..].to_vec()
    );
    assert_eq!(
        list(&w.user_a.1, &format!("ca_id={a1}&skip=1&limit=1")).await,
        vec![a_certs[2]]
    );
    for bad in [
        "limit=0",
        "limit=1001",
        "skip=-1",
        "ca_id=0",
        "ca_id=x",
        "skip=x",
    ] {
        expect(
            s.get(&format!("/certificates/?{bad}"), Some(&w.root)).await,
            422,
        );
    }
    expect(s.get("/certificates/", None).await, 401);
    // Read one: organization members and the superuser.
    let one = format!("/certificates/{}", a_certs[0]);
    for token in [&w.root, &w.admin_a.1, &w.user_a.1] {
        expect(s.get(&one, Some(token)).await, 200);
    }
    for token in [&w.admin_b.1, &w.user_b.1, &w.orphan.1] {
        expect(s.get(&one, Some(token)).await, 403);
    }
    expect(
        s.get(&format!("/certificates/{r_cert}"), Some(&w.admin_a.1))
            .await,
        403,
    );
    expect(s.get(&one, None).await, 401);
    expect(s.get("/certificates/999999", Some(&w.root)).await, 404);
    expect(s.get("/certificates/abc", Some(&w.root)).await, 422);
}

#[tokio::test]
async fn private_key_route_is_guarded_and_audited() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let v = s
        .issue(
            &w.admin_a.1,
            id(&ca),
            "key.example.com",
            "server",
            json!({}),
        )
        .await;
    let cid = id(&v);
    let path = format!("/certificates/{cid}/private-key");
    let (_, exporter) = s
        .create_user(
            &w.root,
            "exporter",
            "user",
            Some(w.org_a),
            json!({"can_export_private_key": true}),
        )
        .await;
    for token in [&w.user_a.1, &w.admin_b.1, &w.user_b.1, &w.orphan.1] {
        expect(s.get(&path, Some(token)).await, 403);
    }
    expect(s.get(&path, None).await, 401);
    expect(
        s.get("/certificates/999999/private-key", Some(&w.root))
            .await,
        404,
    );
    assert!(
        s.audit_for(&w.root, "cert_export_private_key", cid)
            .await
            .is_empty()
    );
    for (token, who) in [
        (&w.admin_a.1, "admin_a"),
        (&exporter, "exporter"),
        (&w.root, "root"),
    ] {
        let got = expect(s.get(&path, Some(token)).await, 200);
        assert_eq!(got["private_key"], v["private_key"], "{who}");
        assert_eq!(got["certificate"], v["certificate"]);
        let audit = s.audit_for(&w.root, "cert_export_private_key", cid).await;
        assert!(
            audit.iter().any(|e| e["username"] == who),
            "{who}: {audit:?}"
        );
    }
}

// ------------------------------------------------------------------ revoke

#[tokio::test]
async fn revoke_reasons_codes_and_conflicts() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (a, ca_id) = (&w.admin_a.1, id(&ca));
    // (body, reason_code, revocation_reason)
    let cases: Vec<(Value, Value, Value)> = vec![
        (
            json!({"reason": "keyCompromise"}),
            json!(1),
            json!("keyCompromise"),
        ),
        (
            json!({"reason": "key compromise"}),
            json!(1),
            json!("key compromise"),
        ),
        (
            json!({"reason": "Key Compromise"}),
            json!(1),
            json!("Key Compromise"),
        ),
        (
            json!({"reason": "key_compromise"}),
            json!(1),
            json!("key_compromise"),
        ),
        (
            json!({"reason": "unspecified"}),
            json!(0),
            json!("unspecified"),
        ),
        (
            json!({"reason": "CA compromise"}),
            json!(2),
            json!("CA compromise"),
        ),
        (
            json!({"reason": "affiliationChanged"}),
            json!(3),
            json!("affiliationChanged"),
        ),
        (
            json!({"reason": "superseded"}),
            json!(4),
            json!("superseded"),
        ),
        (
            json!({"reason": "cessation of operation"}),
            json!(5),
            json!("cessation of operation"),
        ),
        (
            json!({"reason": "certificateHold"}),
            json!(6),
            json!("certificateHold"),
        ),
        (
            json!({"reason": "privilegeWithdrawn"}),
            json!(9),
            json!("privilegeWithdrawn"),
        ),
        (
            json!({"reason": "aACompromise"}),
            json!(10),
            json!("aACompromise"),
        ),
        // Only delta CRLs know removeFromCRL: no code from the text.
        (
            json!({"reason": "removeFromCRL"}),
            Value::Null,
            json!("removeFromCRL"),
        ),
        (
            json!({"reason": "the laptop was stolen"}),
            Value::Null,
            json!("the laptop was stolen"),
        ),
        (json!({}), Value::Null, Value::Null),
        (Value::Null, Value::Null, Value::Null),
        (
            json!({"reason_code": 9}),
            json!(9),
            json!("privilegeWithdrawn"),
        ),
        (
            json!({"reason_code": 1, "reason": "lost laptop"}),
            json!(1),
            json!("lost laptop"),
        ),
        (
            json!({"reason_code": 0, "reason": "superseded"}),
            json!(0),
            json!("superseded"),
        ),
    ];
    for (i, (body, code, text)) in cases.into_iter().enumerate() {
        let c = s
            .issue(a, ca_id, &format!("r{i}.example.com"), "server", json!({}))
            .await;
        let path = format!("/certificates/{}/revoke", id(&c));
        let got = if body.is_null() {
            // No body at all.
            let r = s
                .req(reqwest::Method::POST, &path, Some(a))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        } else {
            expect(s.post(&path, Some(a), body.clone()).await, 200)
        };
        assert_eq!(got["status"], "revoked", "{body}");
        assert_eq!(got["revocation_reason_code"], code, "{body} -> {got}");
        assert_eq!(got["revocation_reason"], text, "{body} -> {got}");
        chrono::DateTime::parse_from_rfc3339(got["revoked_at"].as_str().unwrap()).unwrap();
        let back = expect(
            s.get(&format!("/certificates/{}", id(&c)), Some(a)).await,
            200,
        );
        assert_eq!(back["status"], "revoked");
        assert_eq!(back["revoked_at"], got["revoked_at"]);
    }
    // Invalid codes and reasons: 422, and the certificate stays valid.
    let c = s
        .issue(a, ca_id, "keep.example.com", "server", json!({}))
        .await;
    let path = format!("/certificates/{}/revoke", id(&c));
    for bad in [
        json!({"reason_code": 8}),
        json!({"reason_code": 7}),
        json!({"reason_code": 11}),
        json!({"reason_code": -1}),
        json!({"reason_code": "one"}),
        json!({"reason": 5}),
        json!({"reason": "x".repeat(513)}),
    ] {
        expect(s.post(&path, Some(a), bad).await, 422);
    }
    assert_eq!(
        expect(
            s.get(&format!("/certificates/{}", id(&c)), Some(a)).await,
            200
        )["status"],
        "valid"
    );
    // Twice: 409; audited once.
    expect(
        s.post(&path, Some(a), json!({"reason": "superseded"}))
            .await,
        200,
    );
    let v = expect(
        s.post(&path, Some(a), json!({"reason": "superseded"}))
            .await,
        409,
    );
    assert!(v["detail"].is_string());
    let audit = s.audit_for(&w.root, "cert_revoke", id(&c)).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["username"], "admin_a");
    expect(
        s.post("/certificates/999999/revoke", Some(a), json!({}))
            .await,
        404,
    );
    expect(s.post(&path, None, json!({})).await, 401);
}

#[tokio::test]
async fn who_may_revoke() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let (_, revoker) = s
        .create_user(
            &w.root,
            "revoker",
            "user",
            Some(w.org_a),
            json!({"can_revoke_cert": true}),
        )
        .await;
    let c = s
        .issue(
            &w.admin_a.1,
            id(&ca),
            "who.example.com",
            "server",
            json!({}),
        )
        .await;
    let path = format!("/certificates/{}/revoke", id(&c));
    for token in [&w.user_a.1, &w.admin_b.1, &w.user_b.1, &w.orphan.1] {
        expect(s.post(&path, Some(token), json!({})).await, 403);
    }
    let v = expect(
        s.post(&path, Some(&revoker), json!({"reason": "superseded"}))
            .await,
        200,
    );
    assert_eq!(v["status"], "revoked");
    let audit = s.audit_for(&w.root, "cert_revoke", id(&c)).await;
    assert_eq!(audit[0]["username"], "revoker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_exactly_one_wins() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let c = s
        .issue(
            &w.admin_a.1,
            id(&ca),
            "race.example.com",
            "server",
            json!({}),
        )
        .await;
    let path = format!("/certificates/{}/revoke", id(&c));
    let calls = (0..8).map(|_| {
        s.post(
            &path,
            Some(&w.admin_a.1),
            json!({"reason": "keyCompromise"}),
        )
    });
    let results = futures::future::join_all(calls).await;
    let statuses: Vec<u16> = results.iter().map(|(st, _)| st.as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|&&st| st == 200).count(),
        1,
        "{results:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&st| st == 409).count(),
        7,
        "{results:?}"
    );
    assert_eq!(s.audit_for(&w.root, "cert_revoke", id(&c)).await.len(), 1);
    // The CRL lists it once, with the second CRL number.
    let slug = format!("issuing-ca-{}", id(&ca));
    let crl = s.raw(&format!("/crl/{slug}.pem"), None).await;
    assert_eq!(crl.status, StatusCode::OK);
    let f = Files::new();
    let p = f.write("crl.pem", &crl.body);
    let text = openssl_ok(&["crl", "-in", &p, "-noout", "-text"]);
    let serial = c["serial_number"].as_str().unwrap().to_uppercase();
    assert_eq!(text.matches(&serial).count(), 1, "{text}");
    assert!(openssl_ok(&["crl", "-in", &p, "-noout", "-crlnumber"]).contains("crlNumber=0x02"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_revocations_of_one_ca_all_reach_its_crl() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let mut certs = vec![];
    for i in 0..6 {
        certs.push(
            s.issue(
                &w.admin_a.1,
                id(&ca),
                &format!("c{i}.example.com"),
                "server",
                json!({}),
            )
            .await,
        );
    }
    let paths: Vec<String> = certs
        .iter()
        .map(|c| format!("/certificates/{}/revoke", id(c)))
        .collect();
    let calls = paths
        .iter()
        .map(|p| s.post(p, Some(&w.admin_a.1), json!({"reason_code": 4})));
    for (st, v) in futures::future::join_all(calls).await {
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    let crl = s
        .raw(&format!("/crl/issuing-ca-{}.pem", id(&ca)), None)
        .await;
    let f = Files::new();
    let p = f.write("crl.pem", &crl.body);
    let text = openssl_ok(&["crl", "-in", &p, "-noout", "-text"]);
    for c in &certs {
        let serial = c["serial_number"].as_str().unwrap().to_uppercase();
        assert!(text.contains(&serial), "{serial} missing from\n{text}");
    }
    assert!(
        openssl_ok(&["crl", "-in", &p, "-noout", "-crlnumber"]).contains("crlNumber=0x07"),
        "one CRL per revocation after the first (1)"
    );
}

#[tokio::test]
async fn superuser_actions_on_an_organizations_resources_reach_its_audit_log() {
    let s = Server::start().await;
    let (w, ca) = world_with_ca(&s).await;
    let ca_id = id(&ca);
    let c = s
        .issue(
            &w.admin_a.1,
            ca_id,
            "audited.example.com",
            "server",
            json!({}),
        )
        .await;
    let cid = id(&c);
    expect(
        s.get(&format!("/cas/{ca_id}/private-key"), Some(&w.root))
            .await,
        200,
    );
    expect(
        s.get(&format!("/certificates/{cid}/private-key"), Some(&w.root))
            .await,
        200,
    );
    expect(
        s.post(
            &format!("/certificates/{cid}/revoke"),
            Some(&w.root),
            json!({}),
        )
        .await,
        200,
    );
    // As ca_delete and ca_update already do, the entry belongs to the resource's
    // organization: org A's admin must see who exported its keys and revoked its
    // certificates.
    let mut missing = vec![];
    for (action, resource) in [
        ("ca_export_private_key", ca_id),
        ("cert_export_private_key", cid),
        ("cert_revoke", cid),
    ] {
        let seen = expect(
            s.get(
                &format!("/audit-logs/?action={action}&resource_id={resource}"),
                Some(&w.admin_a.1),
            )
            .await,
            200,
        );
        if seen.as_array().unwrap().is_empty() {
            let all = s.audit_for(&w.root, action, resource).await;
            missing.push(format!(
                "{action}: invisible to admin_a; recorded as {all:?}"
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
