//! The attacks of the security review, replayed: each must fail cleanly while
//! the normal use next to it keeps working.

use serde_json::{Value, json};

use crate::common::*;

/// Makes `<name>.key` (P-256) and `<name>.pem`, signed offline by `<issuer>.pem`
/// and `<issuer>.key` with the extensions `ext`, as a holder of that key could.
fn offline_sign(f: &Files, name: &str, subject: &str, issuer: &str, ext: &str) {
    let (key, csr, cert) = (
        f.path(&format!("{name}.key")),
        f.path(&format!("{name}.csr")),
        f.path(&format!("{name}.pem")),
    );
    let ext_file = f.write(&format!("{name}.cnf"), ext);
    openssl_ok(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &key,
    ]);
    openssl_ok(&["req", "-new", "-key", &key, "-subj", subject, "-out", &csr]);
    let (issuer_cert, issuer_key) = (
        f.path(&format!("{issuer}.pem")),
        f.path(&format!("{issuer}.key")),
    );
    openssl_ok(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &issuer_cert,
        "-CAkey",
        &issuer_key,
        "-CAcreateserial",
        "-days",
        "30",
        "-extfile",
        &ext_file,
        "-out",
        &cert,
    ]);
}

/// A user with only `can_create_cert` asks for a `ca` certificate: before the
/// fix it got an unconstrained CA and its key, and could sign any name
/// offline, unseen by FastPKI.
#[tokio::test]
async fn create_cert_alone_cannot_mint_a_sub_ca() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let root = s.create_ca(&w.admin_a.1, "Root", json!({})).await;
    let (_, minter) = s
        .create_user(
            &w.root,
            "minter",
            "user",
            Some(w.org_a),
            json!({"can_create_cert": true}),
        )
        .await;
    let path = format!("/certificates/?ca_id={}", id(&root));
    let v = expect(
        s.post(
            &path,
            Some(&minter),
            cert_body("sub.example.com", "ca", json!({})),
        )
        .await,
        403,
    );
    assert!(v["detail"].as_str().unwrap().contains("create_ca"), "{v}");
    // Its ordinary use still works.
    s.issue(&minter, id(&root), "www.example.com", "server", json!({}))
        .await;

    // With create_ca (an admin), the CA certificate is bounded: pathLen 0.
    let ca_cert = s
        .issue(&w.admin_a.1, id(&root), "sub.example.com", "ca", json!({}))
        .await;
    let pem = ca_cert["certificate"].as_str().unwrap();
    let bc = text_section(&x509_text(pem), "X509v3 Basic Constraints");
    assert!(bc.contains("CA:TRUE") && bc.contains("pathlen:0"), "{bc}");

    // Offline, a sub-CA signed with that key does not verify: the path length
    // constraint stops it.
    let f = Files::new();
    f.write("root.pem", root["certificate"].as_str().unwrap());
    f.write("leafca.pem", pem);
    f.write("leafca.key", ca_cert["private_key"].as_str().unwrap());
    // The forged CA itself ends a valid path; the certificates *it* signs fail.
    offline_sign(
        &f,
        "forged",
        "/CN=Forged CA",
        "leafca",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    offline_sign(
        &f,
        "leaf",
        "/CN=bank.example.com",
        "forged",
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:bank.example.com\n",
    );
    let chain = format!("{}\n{}", f.read("forged.pem"), f.read("leafca.pem"));
    f.write("chain.pem", chain);
    let (ok, out) = openssl(&[
        "verify",
        "-CAfile",
        &f.path("root.pem"),
        "-untrusted",
        &f.path("chain.pem"),
        &f.path("leaf.pem"),
    ]);
    assert!(!ok, "a leaf under a forged sub-CA must not verify: {out}");
    assert!(out.contains("path length"), "{out}");

    // Under an issuer whose path length is 0, no CA certificate at all.
    let inter = s
        .create_ca(
            &w.admin_a.1,
            "Issuing",
            json!({"parent_ca_id": id(&root), "path_length": 0}),
        )
        .await;
    expect(
        s.post(
            &format!("/certificates/?ca_id={}", id(&inter)),
            Some(&w.admin_a.1),
            cert_body("sub2.example.com", "ca", json!({})),
        )
        .await,
        400,
    );
}

/// A service account needs `can_create_ca` and `ca` in its policy to obtain a
/// CA certificate from the certificate route.
#[tokio::test]
async fn a_service_account_needs_ca_in_its_policy_for_a_ca_certificate() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let root = s.create_ca(&w.admin_a.1, "Root", json!({})).await;
    let (sa, token) = s
        .service_account(
            &w.admin_a.1,
            "robot",
            json!({"can_create_cert": true, "can_create_ca": true}),
        )
        .await;
    let policy = format!("/service-accounts/{sa}/policy");
    let put = |types: Value| {
        s.put(
            &policy,
            Some(&w.admin_a.1),
            json!({"cn_patterns": ["*.example.com"], "san_dns_patterns": ["*.example.com"],
                   "allowed_ca_ids": [id(&root)], "allowed_certificate_types": types, "max_validity_days": 365}),
        )
    };
    expect(put(json!(["server"])).await, 200);
    let path = format!("/certificates/?ca_id={}", id(&root));
    let v = expect(
        s.post(
            &path,
            Some(&token),
            cert_body("sub.example.com", "ca", json!({})),
        )
        .await,
        400,
    );
    assert_eq!(
        v["detail"],
        json!({"code": "policy_violation", "field": "allowed_certificate_types", "value": "ca"})
    );
    expect(put(json!(["server", "ca"])).await, 200);
    expect(
        s.post(
            &path,
            Some(&token),
            cert_body("sub.example.com", "ca", json!({})),
        )
        .await,
        201,
    );
}

/// Service accounts with `can_create_ca` create CAs only as their policy
/// allows: before the fix any account with the flag created intermediates
/// (and got their keys) with no policy at all, switching off leaf issuance on
/// the parent for everyone.
#[tokio::test]
async fn service_account_policies_apply_to_ca_creation() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let root = s.create_ca(&w.admin_a.1, "Root", json!({})).await;
    let other = s.create_ca(&w.admin_a.1, "Other Root", json!({})).await;
    let (sa, token) = s
        .service_account(&w.admin_a.1, "ca-robot", json!({"can_create_ca": true}))
        .await;
    let sub = |parent: Option<i64>, cn: &str, days: i64| {
        let mut body = ca_body(
            cn,
            json!({"subject_dn": format!("CN={cn}"), "valid_days": days}),
        );
        if let Some(p) = parent {
            body["parent_ca_id"] = json!(p);
        }
        s.post("/cas/", Some(&token), body)
    };
    // No policy: refused as for certificates.
    let v = expect(sub(Some(id(&root)), "team.ca.example.com", 365).await, 403);
    assert_eq!(v["detail"]["code"], "service_account_has_no_policy");

    let policy = format!("/service-accounts/{sa}/policy");
    let put = |types: Value| {
        s.put(
            &policy,
            Some(&w.admin_a.1),
            json!({"cn_patterns": ["*.ca.example.com"], "allowed_ca_ids": [id(&root)],
                   "allowed_certificate_types": types, "max_validity_days": 400}),
        )
    };
    expect(put(json!(["server"])).await, 200);
    let violation = |v: Value, field: &str, value: Value| {
        assert_eq!(
            v["detail"],
            json!({"code": "policy_violation", "field": field, "value": value})
        );
    };
    violation(
        expect(sub(Some(id(&root)), "team.ca.example.com", 365).await, 400),
        "allowed_certificate_types",
        json!("ca"),
    );
    expect(put(json!(["ca"])).await, 200);
    violation(
        expect(sub(Some(id(&other)), "team.ca.example.com", 365).await, 400),
        "allowed_ca_ids",
        json!(id(&other)),
    );
    violation(
        expect(sub(None, "team.ca.example.com", 365).await, 400),
        "allowed_ca_ids",
        Value::Null,
    );
    violation(
        expect(sub(Some(id(&root)), "evil.example.org", 365).await, 400),
        "cn_patterns",
        json!("evil.example.org"),
    );
    violation(
        expect(sub(Some(id(&root)), "team.ca.example.com", 401).await, 400),
        "max_validity_days",
        json!(401),
    );
    // Every refusal left the parent as it was: it still issues leaves.
    let parent = expect(
        s.get(&format!("/cas/{}", id(&root)), Some(&w.admin_a.1))
            .await,
        200,
    );
    assert_eq!(parent["allow_leaf_certs"], true);
    // Within the policy: created.
    let made = expect(sub(Some(id(&root)), "team.ca.example.com", 365).await, 201);
    assert_eq!(made["parent_ca_id"], id(&root));
    // Users are not bound by policies.
    s.create_ca(
        &w.admin_a.1,
        "Anything",
        json!({"parent_ca_id": id(&other)}),
    )
    .await;
}

/// A certificate belongs to its CA's organization: a superuser issuing from
/// organization A's CA made a certificate A's admin could neither see nor revoke.
#[tokio::test]
async fn a_certificate_belongs_to_its_cas_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca = s.create_ca(&w.admin_a.1, "A Root", json!({})).await;
    let cert = s
        .issue(&w.root, id(&ca), "by-root.example.com", "server", json!({}))
        .await;
    assert_eq!(cert["organization_id"], w.org_a);
    let listed = expect(s.get("/certificates/", Some(&w.admin_a.1)).await, 200);
    assert!(ids(&listed).contains(&id(&cert)), "{listed}");
    let v = expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&cert)),
            Some(&w.admin_a.1),
            json!({}),
        )
        .await,
        200,
    );
    assert_eq!(v["status"], "revoked");
    // The audit entry is filed under A too.
    let audit = s.audit_for(&w.root, "cert_create", id(&cert)).await;
    assert_eq!(audit[0]["organization_id"], w.org_a);
}

/// A policy's `*` matched the literal `*` of a wildcard name: an account
/// allowed `*.svc.example.com` obtained the wildcard certificate itself.
/// Wildcard names now need `allow_wildcards`; none directly under a public
/// suffix is issued to anyone.
#[tokio::test]
async fn wildcards_need_the_policy_flag_and_never_sit_under_a_public_suffix() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca = s.create_ca(&w.admin_a.1, "Root", json!({})).await;
    let (sa, token) = s
        .service_account(&w.admin_a.1, "web-robot", json!({"can_create_cert": true}))
        .await;
    let policy = format!("/service-accounts/{sa}/policy");
    let put = |wildcards: bool| {
        s.put(
            &policy,
            Some(&w.admin_a.1),
            json!({"cn_patterns": ["*.svc.example.com"], "san_dns_patterns": ["*.svc.example.com"],
                   "allowed_ca_ids": [id(&ca)], "allowed_certificate_types": ["server"],
                   "max_validity_days": 90, "allow_wildcards": wildcards}),
        )
    };
    let v = expect(put(false).await, 200);
    assert_eq!(v["allow_wildcards"], false);
    let path = format!("/certificates/?ca_id={}", id(&ca));
    let wildcard_san = cert_body(
        "api.svc.example.com",
        "server",
        json!({"san_dns_names": ["*.svc.example.com"]}),
    );
    let v = expect(s.post(&path, Some(&token), wildcard_san.clone()).await, 400);
    assert_eq!(
        v["detail"],
        json!({"code": "policy_violation", "field": "allow_wildcards", "value": "*.svc.example.com"})
    );
    let v = expect(
        s.post(
            &path,
            Some(&token),
            cert_body("*.prod.svc.example.com", "server", json!({})),
        )
        .await,
        400,
    );
    assert_eq!(v["detail"]["field"], "allow_wildcards");
    // Ordinary names under the pattern keep FastPKI's shell meaning.
    expect(
        s.post(
            &path,
            Some(&token),
            cert_body("deep.api.svc.example.com", "server", json!({})),
        )
        .await,
        201,
    );
    // With the flag, a wildcard under the pattern's star is issued.
    let v = expect(put(true).await, 200);
    assert_eq!(v["allow_wildcards"], true);
    let v = expect(s.post(&path, Some(&token), wildcard_san).await, 201);
    let sans = text_section(
        &x509_text(v["certificate"].as_str().unwrap()),
        "X509v3 Subject Alternative Name",
    );
    assert!(sans.contains("DNS:*.svc.example.com"), "{sans}");

    // Nobody gets a wildcard directly under a public suffix, by issue or CSR.
    for name in ["*.com", "*.co.uk", "*.github.io"] {
        let v = expect(
            s.post(
                &path,
                Some(&w.admin_a.1),
                cert_body(
                    "web.example.com",
                    "server",
                    json!({"san_dns_names": [name]}),
                ),
            )
            .await,
            400,
        );
        assert!(
            v["detail"].as_str().unwrap().contains("public suffix"),
            "{v}"
        );
        let (csr, _) = make_csr(
            "p256",
            "/CN=web.example.com",
            &[&format!("subjectAltName=DNS:{name}")],
        );
        expect(
            s.post(
                "/certificates/sign-csr",
                Some(&w.admin_a.1),
                json!({"csr": csr, "ca_id": id(&ca)}),
            )
            .await,
            400,
        );
    }
    s.issue(
        &w.admin_a.1,
        id(&ca),
        "web.example.co.uk",
        "server",
        json!({"san_dns_names": ["*.example.co.uk", "*.internal"]}),
    )
    .await;
}

/// Expensive keys from one caller no longer hold every signing slot: before
/// the fix, six concurrent RSA requests of one user made another
/// organization's ECDSA issuance wait for them. Each caller now holds at most
/// its share; the other caller's request is answered while they still run.
#[tokio::test]
async fn one_caller_cannot_starve_issuance_for_the_others() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca_a = s.create_ca(&w.admin_a.1, "A Root", json!({})).await;
    let ca_b = s.create_ca(&w.admin_b.1, "B Root", json!({})).await;
    let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut heavy = Vec::new();
    for i in 0..6 {
        let r = s.req(
            reqwest::Method::POST,
            &format!("/certificates/?ca_id={}", id(&ca_a)),
            Some(&w.admin_a.1),
        );
        let body = cert_body(
            &format!("heavy{i}.example.com"),
            "server",
            json!({"key_algorithm": "rsa", "key_size": 4096}),
        );
        let order = order.clone();
        heavy.push(tokio::spawn(async move {
            let status = r.json(&body).send().await.unwrap().status();
            order.lock().unwrap().push("heavy");
            status
        }));
    }
    // Let the heavy requests take their slots first.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    s.issue(
        &w.admin_b.1,
        id(&ca_b),
        "light.example.com",
        "server",
        json!({}),
    )
    .await;
    order.lock().unwrap().push("light");
    for h in heavy {
        assert_eq!(h.await.unwrap().as_u16(), 201);
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(
        order.first(),
        Some(&"light"),
        "the other caller waited for the heavy requests: {order:?}"
    );
}

/// RSA keys of certificates are bounded by MAX_LEAF_RSA_BITS (CA keys are not).
#[tokio::test]
async fn leaf_rsa_keys_are_bounded() {
    let s = Server::start_with(&[("MAX_LEAF_RSA_BITS", "2048"), ("CERT_KEY_SIZE", "2048")]).await;
    let root = s.bootstrap().await;
    let ca = s
        .create_ca(
            &root,
            "RSA Root",
            json!({"key_algorithm": "rsa", "key_size": 3072}),
        )
        .await;
    let path = format!("/certificates/?ca_id={}", id(&ca));
    let v = expect(
        s.post(
            &path,
            Some(&root),
            cert_body(
                "big.example.com",
                "server",
                json!({"key_algorithm": "rsa", "key_size": 3072}),
            ),
        )
        .await,
        400,
    );
    assert!(v["detail"].as_str().unwrap().contains("2048 bits"), "{v}");
    s.issue(
        &root,
        id(&ca),
        "ok.example.com",
        "server",
        json!({"key_algorithm": "rsa", "key_size": 2048}),
    )
    .await;
    // A CSR's key is bounded the same way.
    let f = Files::new();
    openssl_ok(&[
        "req",
        "-new",
        "-newkey",
        "rsa:3072",
        "-nodes",
        "-subj",
        "/CN=csr.example.com",
        "-keyout",
        &f.path("k.pem"),
        "-out",
        &f.path("r.pem"),
    ]);
    let v = expect(
        s.post(
            "/certificates/sign-csr",
            Some(&root),
            json!({"csr": f.read("r.pem"), "ca_id": id(&ca)}),
        )
        .await,
        400,
    );
    assert!(v["detail"].as_str().unwrap().contains("2048 bits"), "{v}");
}

/// Without PUBLIC_BASE_URL, the `Host` header chose the CRL and AIA URLs
/// written into certificates: a requester could point its own certificate's
/// revocation check at a host it controls. Only this server's own address,
/// or a host in ALLOWED_HOSTS, is taken now.
#[tokio::test]
async fn the_host_header_cannot_choose_a_certificates_revocation_urls() {
    for allowed in [None, Some("pki.example.com")] {
        let extra: Vec<(&str, &str)> = allowed.map(|h| ("ALLOWED_HOSTS", h)).into_iter().collect();
        let s = Server::start_with(&extra).await;
        let root = s.bootstrap().await;
        let ca = s.create_ca(&root, "Root", json!({})).await;
        let inter = s
            .create_ca(&root, "Issuing", json!({"parent_ca_id": id(&ca)}))
            .await;
        let issue = |host: &'static str| {
            s.req(
                reqwest::Method::POST,
                &format!("/certificates/?ca_id={}", id(&inter)),
                Some(&root),
            )
            .header("host", host)
            .json(&cert_body("web.example.com", "server", json!({})))
            .send()
        };
        let cdp = |v: &Value| {
            text_section(
                &x509_text(v["certificate"].as_str().unwrap()),
                "X509v3 CRL Distribution Points",
            )
        };
        let resp = issue("evil.example.com").await.unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let v: Value = resp.json().await.unwrap();
        let urls = cdp(&v);
        assert!(!urls.contains("evil.example.com"), "{urls}");
        assert!(
            urls.contains(&s.base),
            "the listening address instead: {urls}"
        );
        let resp = issue("pki.example.com").await.unwrap();
        let v: Value = resp.json().await.unwrap();
        let urls = cdp(&v);
        assert_eq!(
            urls.contains("http://pki.example.com/crl/"),
            allowed.is_some(),
            "{urls}"
        );
    }
}
