//! Behaviour fixed after review: each test names what it guards.

use serde_json::json;

use crate::common::{Files, Server, World, cert_body, expect, ids, openssl_ok, x509_field};

/// A service account cannot slip a CN past its policy through `subject_dn`.
#[tokio::test]
async fn policy_judges_the_cn_written_into_the_certificate() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca = expect(
        s.post(
            "/cas/",
            Some(&w.admin_a.1),
            json!({"name": "CA", "subject_dn": "CN=CA", "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        201,
    );
    let a = expect(
        s.post(
            "/service-accounts/",
            Some(&w.admin_a.1),
            json!({"name": "bot", "can_create_cert": true}),
        )
        .await,
        201,
    );
    let t = expect(
        s.post(
            &format!("/service-accounts/{}/tokens", a["id"]),
            Some(&w.admin_a.1),
            json!({}),
        )
        .await,
        201,
    );
    let token = t["token"].as_str().unwrap();
    expect(
        s.put(
            &format!("/service-accounts/{}/policy", a["id"]),
            Some(&w.admin_a.1),
            json!({
            "cn_patterns": ["*.svc.example.com"], "san_dns_patterns": ["*.svc.example.com"],
            "allowed_ca_ids": [ca["id"]], "allowed_certificate_types": ["server"]}),
        )
        .await,
        200,
    );
    let v = expect(
        s.post(&format!("/certificates/?ca_id={}", ca["id"]), Some(token), json!({
            "common_name": "a.svc.example.com", "subject_dn": "CN=evil.example.org", "certificate_type": "server",
            "san_dns_names": ["a.svc.example.com"], "key_algorithm": "ecdsa-p256"}))
        .await,
        400,
    );
    assert_eq!(v["detail"]["code"], "policy_violation");
    assert_eq!(v["detail"]["value"], "evil.example.org");
}

/// CA names with non-ASCII letters still issue: their URLs are percent-encoded.
#[tokio::test]
async fn non_ascii_ca_names_issue_and_serve_their_crl() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = expect(s.post("/cas/", Some(&root), json!({"name": "Zürich CA", "subject_dn": "CN=Zurich CA", "key_algorithm": "ecdsa-p256"})).await, 201);
    let inter = expect(
        s.post("/cas/", Some(&root), json!({"name": "Zürich Issuing", "subject_dn": "CN=Zurich Issuing", "key_algorithm": "ecdsa-p256", "parent_ca_id": ca["id"]})).await,
        201,
    );
    expect(
        s.post(&format!("/certificates/?ca_id={}", inter["id"]), Some(&root), json!({"common_name": "z.example.com", "certificate_type": "server", "key_algorithm": "ecdsa-p256"})).await,
        201,
    );
    let r = s
        .req(
            reqwest::Method::GET,
            &format!("/crl/z%C3%BCrich-issuing-{}", inter["id"]),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// A CA that does not allow leaf certificates refuses every type.
#[tokio::test]
async fn allow_leaf_certs_false_refuses_ca_type_too() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = expect(s.post("/cas/", Some(&root), json!({"name": "R", "subject_dn": "CN=R", "key_algorithm": "ecdsa-p256", "allow_leaf_certs": false})).await, 201);
    for t in ["server", "ca"] {
        expect(
            s.post(
                &format!("/certificates/?ca_id={}", ca["id"]),
                Some(&root),
                json!({"common_name": "x", "certificate_type": t, "key_algorithm": "ecdsa-p256"}),
            )
            .await,
            400,
        );
    }
}

/// An RSA key size that cannot be generated is named as such.
#[tokio::test]
async fn unusable_rsa_size_is_a_key_size_error() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let v = expect(
        s.post(
            "/cas/",
            Some(&root),
            json!({"name": "R", "subject_dn": "CN=R", "key_size": 1024}),
        )
        .await,
        422,
    );
    assert_eq!(v["detail"][0]["loc"][1], "key_size");
}

/// A serial number that repeats within a CA is signed again under a fresh
/// serial: the request succeeds, nothing is stored twice.
#[tokio::test]
async fn a_repeated_serial_is_signed_again_not_refused() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let handed_out = Arc::new(AtomicUsize::new(0));
    let counter = handed_out.clone();
    let s = Server::start_tweaked(&[], move |state| {
        // The first three serials handed out are one and the same.
        let fixed = pki::SerialNumber::from_hex("7f00aa55").unwrap();
        state.serials = Arc::new(move || {
            if counter.fetch_add(1, Ordering::SeqCst) < 3 {
                fixed.clone()
            } else {
                pki::random_serial()
            }
        });
    })
    .await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Retry CA", json!({})).await;
    let ca_id = ca["id"].as_i64().unwrap();
    let first = s
        .issue(&root, ca_id, "one.example.com", "server", json!({}))
        .await;
    assert_eq!(first["serial_number"], "7f00aa55");
    let second = s
        .issue(&root, ca_id, "two.example.com", "server", json!({}))
        .await;
    assert_ne!(second["serial_number"], "7f00aa55");
    assert_eq!(
        handed_out.load(Ordering::SeqCst),
        4,
        "two retries, then a fresh serial"
    );
    let serial_in_cert = x509_field(second["certificate"].as_str().unwrap(), "-serial");
    assert!(
        serial_in_cert
            .to_lowercase()
            .ends_with(second["serial_number"].as_str().unwrap()),
        "the certificate carries the stored serial: {serial_in_cert}"
    );
    let list = expect(
        s.get(&format!("/certificates/?ca_id={ca_id}"), Some(&root))
            .await,
        200,
    );
    assert_eq!(ids(&list).len(), 2);
    for cert in [&first, &second] {
        let id = cert["id"].as_i64().unwrap();
        assert_eq!(s.audit_for(&root, "cert_create", id).await.len(), 1);
    }
}

/// Concurrent issuances share group commits (one multi-row INSERT per batch):
/// each caller still gets its own row, certificate and audit entry, and a
/// repeated serial (in one batch or two) fails only its own write, which is signed again.
#[tokio::test]
async fn concurrent_issuances_each_get_their_own_row() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let handed_out = Arc::new(AtomicUsize::new(0));
    let counter = handed_out.clone();
    let s = Server::start_tweaked(&[], move |state| {
        // Serials 5 and 6 handed out are the same: two concurrent writes collide.
        let fixed = pki::SerialNumber::from_hex("7f00bb66").unwrap();
        state.serials = Arc::new(move || match counter.fetch_add(1, Ordering::SeqCst) {
            5 | 6 => fixed.clone(),
            _ => pki::random_serial(),
        });
    })
    .await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Batch CA", json!({})).await;
    let ca_id = ca["id"].as_i64().unwrap();
    let names: Vec<String> = (0..24).map(|i| format!("batch{i}.example.com")).collect();
    let path = format!("/certificates/?ca_id={ca_id}");
    let calls = names.iter().map(|cn| {
        s.post(
            &path,
            Some(&root),
            json!({"common_name": cn, "certificate_type": "server", "key_algorithm": "ecdsa-p256"}),
        )
    });
    let results = futures::future::join_all(calls).await;
    let mut serials = std::collections::HashSet::new();
    for (cn, result) in names.iter().zip(results) {
        let cert = expect(result, 201);
        assert_eq!(
            cert["common_name"],
            cn.as_str(),
            "each caller gets its own row"
        );
        let serial = cert["serial_number"].as_str().unwrap().to_string();
        let in_cert = x509_field(cert["certificate"].as_str().unwrap(), "-serial").to_lowercase();
        assert!(
            in_cert.ends_with(&serial),
            "row {serial} holds its own certificate ({in_cert})"
        );
        let subject = x509_field(cert["certificate"].as_str().unwrap(), "-subject");
        assert!(
            subject.contains(cn.as_str()),
            "{subject} is {cn}'s certificate"
        );
        let id = cert["id"].as_i64().unwrap();
        let audit = s.audit_for(&root, "cert_create", id).await;
        assert_eq!(audit.len(), 1, "one audit entry for certificate {id}");
        assert!(audit[0]["detail"].as_str().unwrap().contains(&serial));
        assert!(serials.insert(serial), "serials are distinct");
    }
    assert!(
        handed_out.load(Ordering::SeqCst) > 24,
        "the repeated serial was signed again"
    );
    let list = expect(
        s.get(
            &format!("/certificates/?ca_id={ca_id}&limit=100"),
            Some(&root),
        )
        .await,
        200,
    );
    assert_eq!(ids(&list).len(), 24);
}

/// Public CA certificates and CRLs carry an ETag; a client that has the
/// current one gets 304 without the body, and a new CRL changes the tag.
#[tokio::test]
async fn public_files_answer_conditional_requests() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "Etag CA", json!({})).await;
    let ca_id = ca["id"].as_i64().unwrap();
    let slug = format!("etag-ca-{ca_id}");
    for path in [
        format!("/ca/{slug}.pem"),
        format!("/ca/{slug}.crt"),
        format!("/crl/{slug}"),
        format!("/crl/{slug}.pem"),
    ] {
        let full = s.raw(&path, None).await;
        assert_eq!(full.status, 200, "{path}");
        let etag = full.header("etag").to_string();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{path}: {etag:?}"
        );
        let again = s
            .req(reqwest::Method::GET, &path, None)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(again.headers()["etag"], etag.as_str());
        assert!(again.bytes().await.unwrap().is_empty());
        let other = s
            .req(reqwest::Method::GET, &path, None)
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{path}");
    }
    // A revocation re-signs the CRL: the old tag no longer matches.
    let crl_path = format!("/crl/{slug}");
    let before = s.raw(&crl_path, None).await.header("etag").to_string();
    let cert = s
        .issue(&root, ca_id, "gone.example.com", "server", json!({}))
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", cert["id"]),
            Some(&root),
            json!({}),
        )
        .await,
        200,
    );
    let after = s
        .req(reqwest::Method::GET, &crl_path, None)
        .header("if-none-match", &before)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200);
    assert_ne!(after.headers()["etag"], before.as_str());
}

/// The subject of a certificate as `openssl x509 -subject -nameopt RFC2253` prints it.
fn rfc2253_subject(cert: &serde_json::Value) -> String {
    let f = Files::new();
    let p = f.write("c.pem", cert["certificate"].as_str().unwrap());
    openssl_ok(&[
        "x509", "-in", &p, "-noout", "-subject", "-nameopt", "RFC2253",
    ])
    .trim()
    .to_string()
}

/// A subject value holding RFC 4514 specials comes back escaped, so that no RFC 4514
/// reader finds an attribute in it (`CN=a+O=Evil Corp,O=Good` once read as an extra
/// `O=Evil Corp`); an unescaped `+` in the input is refused; and rows stored before the
/// escaping show escaped and still renew.
#[tokio::test]
async fn subject_dn_specials_are_escaped_and_a_bare_plus_is_refused() {
    use std::sync::{Arc, Mutex};
    let captured: Arc<Mutex<Option<fastpki::service::AppState>>> = Arc::default();
    let keep = captured.clone();
    let s = Server::start_tweaked(&[], move |state| {
        *keep.lock().unwrap() = Some(state.clone());
    })
    .await;
    let state = captured.lock().unwrap().clone().unwrap();
    let root = s.bootstrap().await;

    // The attack as input: refused with a reason, for CAs and certificates alike.
    let v = expect(
        s.post(
            "/cas/",
            Some(&root),
            json!({"name": "Evil", "subject_dn": "CN=a+O=Evil Corp,O=Good", "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        400,
    );
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("unescaped '+'") && detail.contains(r"\+"),
        "{detail}"
    );
    let ca = s
        .create_ca(
            &root,
            "Plus CA",
            json!({"subject_dn": r"CN=Plus\+CA,O=Good"}),
        )
        .await;
    assert_eq!(ca["subject_dn"], r"CN=Plus\+CA,O=Good");
    let ca_id = ca["id"].as_i64().unwrap();
    let v = expect(
        s.post(
            &format!("/certificates/?ca_id={ca_id}"),
            Some(&root),
            cert_body(
                "a",
                "client",
                json!({"subject_dn": "CN=a+O=Evil Corp,O=Good"}),
            ),
        )
        .await,
        400,
    );
    assert!(
        v["detail"].as_str().unwrap().contains("unescaped '+'"),
        "{v}"
    );

    // A literal plus (and the other specials) is one value, shown escaped everywhere.
    let escaped = r"CN=a\+O=Evil Corp,O=Good";
    let cert = s
        .issue(&root, ca_id, "a", "client", json!({"subject_dn": escaped}))
        .await;
    let cert_id = cert["id"].as_i64().unwrap();
    assert_eq!(cert["subject_dn"], escaped);
    let read = expect(
        s.get(&format!("/certificates/{cert_id}"), Some(&root))
            .await,
        200,
    );
    assert_eq!(read["subject_dn"], escaped);
    let listed = expect(
        s.get(&format!("/certificates/?ca_id={ca_id}"), Some(&root))
            .await,
        200,
    );
    assert_eq!(listed[0]["subject_dn"], escaped);
    // The certificate holds the attack value as ONE attribute: openssl escapes the '+'.
    let subject = rfc2253_subject(&cert);
    assert_eq!(subject, r"subject=CN=a\+O=Evil Corp,O=Good");
    let specials = s
        .issue(
            &root,
            ca_id,
            "b",
            "client",
            json!({"subject_dn": r#"CN=\#x\;y\<z\>\"q\" \,=,O=\ lead"#}),
        )
        .await;
    assert_eq!(
        specials["subject_dn"],
        r#"CN=\#x\;y\<z\>\"q\" \,=,O=\ lead"#
    );
    let from_cn = s
        .issue(&root, ca_id, "alice+tag@example.com", "client", json!({}))
        .await;
    assert_eq!(from_cn["subject_dn"], r"CN=alice\+tag@example.com");
    assert_eq!(from_cn["common_name"], "alice+tag@example.com");
    // Ordinary names are unchanged.
    let plain = s
        .issue(
            &root,
            ca_id,
            "x",
            "client",
            json!({"subject_dn": "CN=x,O=y,C=US"}),
        )
        .await;
    assert_eq!(plain["subject_dn"], "CN=x,O=y,C=US");

    // A row stored the old way (unescaped) shows escaped, and renews as the same name.
    let mut tx = state.db.begin().await.unwrap();
    sqlx::query("UPDATE certificates SET subject_dn = $1 WHERE id = $2")
        .bind("CN=a+O=Evil Corp,O=Good")
        .bind(cert_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let read = expect(
        s.get(&format!("/certificates/{cert_id}"), Some(&root))
            .await,
        200,
    );
    assert_eq!(read["subject_dn"], escaped);
    let renewed = expect(
        s.post(
            &format!("/certificates/{cert_id}/renew"),
            Some(&root),
            json!({}),
        )
        .await,
        201,
    );
    assert_eq!(renewed["subject_dn"], escaped);
    let subject = rfc2253_subject(&renewed);
    assert_eq!(subject, r"subject=CN=a\+O=Evil Corp,O=Good");
}

/// A stored value that does not decode (an IP address, a time) is an error
/// where the row is read: never dropped from a renewal, never shown as
/// something else.
#[tokio::test]
async fn a_stored_value_that_does_not_decode_is_an_error_not_dropped() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca_id = s.create_ca(&root, "R", json!({})).await["id"]
        .as_i64()
        .unwrap();
    let cert = s
        .issue(
            &root,
            ca_id,
            "a.example.com",
            "server",
            json!({"san_ip_addresses": ["10.0.0.1"]}),
        )
        .await;
    let cert_id = cert["id"].as_i64().unwrap();
    let mut c = s.database().await;
    let mut set = async |column: &str, value: &str| {
        let sql = format!("UPDATE certificates SET {column} = $1 WHERE id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.to_string())
            .bind(cert_id)
            .execute(&mut c)
            .await
            .unwrap();
    };
    let path = format!("/certificates/{cert_id}");
    let renew = format!("{path}/renew");
    set("san_ip_addresses", r#"["10.0.0.300"]"#).await;
    expect(s.get(&path, Some(&root)).await, 500);
    expect(s.post(&renew, Some(&root), json!({})).await, 500);
    set("san_ip_addresses", r#"["10.0.0.1"]"#).await;
    set("not_after", "next year").await;
    expect(s.get(&path, Some(&root)).await, 500);
}
