//! Public PKI routes at the root, without authentication: `/crl/{slug}`,
//! `/crl/{slug}.pem`, `/ca/{slug}.crt`, `/ca/{slug}.pem`; slug rules; CRL
//! numbers and entries.

use serde_json::json;

use crate::common::*;

/// `openssl crl` on a CRL (DER or PEM) with extra options.
fn crl_tool(body: &[u8], der: bool, opts: &[&str]) -> String {
    let f = Files::new();
    let p = f.write("crl", body);
    let mut args = vec!["crl", "-in", &p, "-noout"];
    if der {
        args.extend(["-inform", "DER"]);
    }
    args.extend(opts);
    openssl_ok(&args)
}

/// The CRL number as an integer.
fn crl_number(pem: &[u8]) -> u64 {
    let out = crl_tool(pem, false, &["-crlnumber"]);
    let hex = out
        .trim()
        .trim_start_matches("crlNumber=")
        .trim_start_matches("0x");
    u64::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("crl number in {out}"))
}

#[tokio::test]
async fn ca_certificate_and_crl_downloads() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca = s
        .create_ca(
            &w.admin_a.1,
            "Acme Issuing CA",
            json!({"subject_dn": "CN=Acme Issuing CA,O=Acme,C=US"}),
        )
        .await;
    let slug = format!("acme-issuing-ca-{}", id(&ca));
    let pem = ca["certificate"].as_str().unwrap();

    // CA certificate, DER and PEM; no token needed, and a bad one is not looked at.
    for token in [None, Some("garbage")] {
        let der = s.raw(&format!("/ca/{slug}.crt"), token).await;
        assert_eq!(der.status, 200);
        assert_eq!(der.header("content-type"), "application/pkix-cert");
        let f = Files::new();
        let p = f.write("ca.der", &der.body);
        let converted = openssl_ok(&["x509", "-inform", "DER", "-in", &p]);
        assert_eq!(converted.trim(), pem.trim());
        let as_pem = s.raw(&format!("/ca/{slug}.pem"), token).await;
        assert_eq!(as_pem.status, 200);
        assert_eq!(as_pem.header("content-type"), "application/x-pem-file");
        assert_eq!(as_pem.text().trim(), pem.trim());
    }

    // The CRL, DER and PEM: the same CRL, issued by the CA, number 1, empty.
    let der = s.raw(&format!("/crl/{slug}"), None).await;
    assert_eq!(der.status, 200);
    assert_eq!(der.header("content-type"), "application/pkix-crl");
    let as_pem = s.raw(&format!("/crl/{slug}.pem"), Some("garbage")).await;
    assert_eq!(as_pem.status, 200);
    assert_eq!(as_pem.header("content-type"), "application/x-pem-file");
    assert!(as_pem.text().starts_with("-----BEGIN X509 CRL-----"));
    let from_der = crl_tool(&der.body, true, &["-text"]);
    let from_pem = crl_tool(&as_pem.body, false, &["-text"]);
    assert_eq!(from_der, from_pem);
    assert!(
        from_der.contains("Issuer: C = US, O = Acme, CN = Acme Issuing CA"),
        "{from_der}"
    );
    assert!(from_der.contains("No Revoked Certificates"), "{from_der}");
    assert!(from_der.contains("Next Update:"), "{from_der}");
    assert!(
        from_der.contains("X509v3 Authority Key Identifier"),
        "{from_der}"
    );
    assert_eq!(crl_number(&as_pem.body), 1);
    // Signed by the CA.
    let f = Files::new();
    let ca_file = f.write("ca.pem", pem);
    let crl_file = f.write("crl.pem", &as_pem.body);
    let out = openssl_ok(&[
        "crl", "-in", &crl_file, "-CAfile", &ca_file, "-noout", "-verify",
    ]);
    assert!(out.contains("verify OK"), "{out}");
}

#[tokio::test]
async fn crl_numbers_grow_and_entries_carry_reasons() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let ca = s.create_ca(a, "Revoking CA", json!({})).await;
    let other = s.create_ca(a, "Other CA", json!({})).await;
    let slug = format!("revoking-ca-{}", id(&ca));
    let crl_pem = |slug: String| {
        let s = &s;
        async move {
            let r = s.raw(&format!("/crl/{slug}.pem"), None).await;
            assert_eq!(r.status, 200);
            r.body
        }
    };
    let cases = [
        (json!({"reason": "keyCompromise"}), Some("Key Compromise")),
        (json!({"reason_code": 4}), Some("Superseded")),
        (
            json!({"reason": "cessation of operation"}),
            Some("Cessation Of Operation"),
        ),
        (json!({}), None),
    ];
    let mut revoked: Vec<(String, Option<&str>)> = vec![];
    let mut last = crl_number(&crl_pem(slug.clone()).await);
    assert_eq!(last, 1);
    let kept = s
        .issue(a, id(&ca), "kept.example.com", "server", json!({}))
        .await;
    let elsewhere = s
        .issue(a, id(&other), "else.example.com", "server", json!({}))
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&elsewhere)),
            Some(a),
            json!({}),
        )
        .await,
        200,
    );
    for (i, (body, reason)) in cases.into_iter().enumerate() {
        let c = s
            .issue(
                a,
                id(&ca),
                &format!("rev{i}.example.com"),
                "server",
                json!({}),
            )
            .await;
        expect(
            s.post(&format!("/certificates/{}/revoke", id(&c)), Some(a), body)
                .await,
            200,
        );
        revoked.push((c["serial_number"].as_str().unwrap().to_uppercase(), reason));
        let crl = crl_pem(slug.clone()).await;
        let n = crl_number(&crl);
        assert!(n > last, "CRL number {n} after {last}");
        last = n;
        // The DER route serves the same, fresh CRL.
        let der = s.raw(&format!("/crl/{slug}"), None).await;
        assert_eq!(
            crl_tool(&der.body, true, &["-text"]),
            crl_tool(&crl, false, &["-text"])
        );
    }
    let text = crl_tool(&crl_pem(slug.clone()).await, false, &["-text"]);
    // Every revoked serial with its reason, in its own entry.
    let entries: Vec<&str> = text.split("Serial Number:").skip(1).collect();
    assert_eq!(entries.len(), revoked.len(), "{text}");
    for (serial, reason) in &revoked {
        let entry = entries
            .iter()
            .find(|e| e.trim_start().starts_with(serial.as_str()))
            .unwrap_or_else(|| panic!("{serial} not in {text}"));
        assert!(entry.contains("Revocation Date:"), "{entry}");
        match reason {
            Some(r) => assert!(entry.contains(r), "{r} not in {entry}"),
            None => assert!(!entry.contains("CRL Reason Code"), "{entry}"),
        }
    }
    let kept_serial = kept["serial_number"].as_str().unwrap().to_uppercase();
    assert!(!text.contains(&kept_serial));
    let else_serial = elsewhere["serial_number"].as_str().unwrap().to_uppercase();
    assert!(!text.contains(&else_serial), "another CA's revocation");
    let other_text = crl_tool(
        &crl_pem(format!("other-ca-{}", id(&other))).await,
        false,
        &["-text"],
    );
    assert!(other_text.contains(&else_serial), "{other_text}");
}

#[tokio::test]
async fn slugs_must_match_exactly() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Acme Issuing CA", json!({})).await;
    let other = s.create_ca(&root, "Acme Issuing CA", json!({})).await;
    let weird = s
        .create_ca(
            &root,
            "  Weird__Name--X!! ",
            json!({"subject_dn": "CN=Weird"}),
        )
        .await;
    let (n, o) = (id(&ca), id(&other));
    assert_eq!(
        s.raw(&format!("/crl/acme-issuing-ca-{n}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.raw(&format!("/crl/acme-issuing-ca-{o}"), None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.raw(&format!("/ca/weird-name-x-{}.pem", id(&weird)), None)
            .await
            .status,
        200
    );
    for path in [
        format!("/crl/acme-issuing-{n}"),
        format!("/crl/other-name-{n}"),
        format!("/crl/Acme-Issuing-CA-{n}"),
        format!("/crl/acme-issuing-ca-{}", o + 100),
        format!("/crl/acme-issuing-ca-0{n}"),
        format!("/crl/acme-issuing-ca-+{n}"),
        format!("/crl/acme_issuing_ca-{n}"),
        format!("/crl/{n}"),
        format!("/crl/-{n}"),
        "/crl/acme-issuing-ca".into(),
        format!("/crl/acme-issuing-ca-{n}.der"),
        format!("/crl/acme-issuing-ca-{n}.crt"),
        format!("/ca/acme-issuing-ca-{n}"),
        format!("/ca/acme-issuing-ca-{n}.der"),
        format!("/ca/acme-issuing-{n}.crt"),
        "/ca/acme-issuing-ca-999999.crt".into(),
        format!("/ca/weird__name--x-{}.pem", id(&weird)),
        "/crl/..%2F..%2Fetc%2Fpasswd".into(),
        "/crl/..%2F..%2Fetc%2Fpasswd.pem".into(),
        "/ca/..%2F..%2Fetc%2Fpasswd.crt".into(),
        "/ca/..%2F..%2Fetc%2Fpasswd.pem".into(),
        "/crl/%00".into(),
        "/crl/".into(),
        "/ca/".into(),
        format!("/crl/acme-issuing-ca-{}", "9".repeat(30)),
    ] {
        let r = s.raw(&path, None).await;
        assert_eq!(
            r.status,
            404,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A deleted CA keeps its public files under the same exact slug (its
    // final CRL, for relying parties), and nothing else answers for it.
    expect(s.delete(&format!("/cas/{o}"), Some(&root)).await, 204);
    for path in [
        format!("/crl/acme-issuing-ca-{o}"),
        format!("/crl/acme-issuing-ca-{o}.pem"),
        format!("/ca/acme-issuing-ca-{o}.crt"),
        format!("/ca/acme-issuing-ca-{o}.pem"),
    ] {
        assert_eq!(s.raw(&path, None).await.status, 200, "{path}");
    }
    for path in [
        format!("/crl/acme-issuing-{o}"),
        format!("/crl/Acme-Issuing-CA-{o}"),
        format!("/ca/other-name-{o}.crt"),
    ] {
        assert_eq!(s.raw(&path, None).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_ca_named_with_non_ascii_letters_issues_and_publishes() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Zürich Root", json!({})).await;
    let sub = s
        .post(
            "/cas/",
            Some(&root),
            ca_body("Zürich Sub", json!({"parent_ca_id": id(&ca)})),
        )
        .await;
    assert_eq!(sub.0.as_u16(), 201, "intermediate under it: {}", sub.1);
    let leaf = s
        .post(
            &format!("/certificates/?ca_id={}", id(&sub.1)),
            Some(&root),
            cert_body("z.example.com", "server", json!({})),
        )
        .await;
    assert_eq!(leaf.0.as_u16(), 201, "leaf under it: {}", leaf.1);
    // Whatever the slug becomes, the URLs in the certificate serve the CRL and
    // the issuer certificate.
    let text = x509_text(leaf.1["certificate"].as_str().unwrap());
    for (section, prefix) in [
        ("X509v3 CRL Distribution Points", "URI:"),
        ("Authority Information Access", "CA Issuers - URI:"),
    ] {
        let sec = text_section(&text, section);
        let url = sec
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no URI in {sec}"));
        let r = s.client.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
    }
}
