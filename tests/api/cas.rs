//! `/cas`: creating roots and intermediates (key algorithms, validation, path
//! lengths, validity), who may create and see which CA, private keys, chains,
//! children, adoption into an organization and deletion.

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const CA_FIELDS: [&str; 17] = [
    "id",
    "name",
    "description",
    "subject_dn",
    "key_algorithm",
    "key_size",
    "valid_days",
    "certificate",
    "organization_id",
    "created_by_user_id",
    "parent_ca_id",
    "path_length",
    "allow_leaf_certs",
    "crl_base_url",
    "is_root",
    "created_at",
    "updated_at",
];

/// `subject=...` / `issuer=...` of a certificate without the prefix.
fn name_of(pem: &str, which: &str) -> String {
    let line = x509_field(pem, &format!("-{which}"));
    line.split_once('=')
        .map(|(_, n)| n.trim().to_string())
        .unwrap()
}

#[tokio::test]
async fn create_root_returns_the_ca_and_its_key_once() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let v = expect(
        s.post(
            "/cas/",
            Some(&w.admin_a.1),
            json!({"name": "Acme Root", "subject_dn": "CN=Acme Root,O=Acme,C=US", "description": "the root",
                   "key_algorithm": "ecdsa-p256", "valid_days": 3650, "path_length": 1}),
        )
        .await,
        201,
    );
    for k in CA_FIELDS {
        assert!(v.get(k).is_some(), "{k} missing from {v}");
    }
    assert_eq!(v["name"], "Acme Root");
    assert_eq!(v["description"], "the root");
    assert!(v["subject_dn"].as_str().unwrap().contains("CN=Acme Root"));
    assert_eq!(v["key_algorithm"], "ecdsa-p256");
    assert_eq!(v["key_size"], 256);
    assert_eq!(v["valid_days"], 3650);
    assert_eq!(v["organization_id"], w.org_a);
    assert_eq!(v["created_by_user_id"], w.admin_a.0);
    assert_eq!(v["parent_ca_id"], Value::Null);
    assert_eq!(v["path_length"], 1);
    assert_eq!(v["allow_leaf_certs"], true);
    assert_eq!(v["crl_base_url"], Value::Null);
    assert_eq!(v["is_root"], true);
    for k in ["created_at", "updated_at"] {
        chrono::DateTime::parse_from_rfc3339(v[k].as_str().unwrap()).expect(k);
    }
    // The private key comes with the creation answer, and matches the certificate.
    let cert = v["certificate"].as_str().unwrap();
    let key = v["private_key"].as_str().expect("private_key on create");
    assert!(key.contains("PRIVATE KEY"), "{key}");
    assert_eq!(key_public_key(key), cert_public_key(cert));

    // The certificate: self-signed, CA:TRUE with the path length, critical key usage, SKI.
    assert_eq!(name_of(cert, "subject"), name_of(cert, "issuer"));
    let text = x509_text(cert);
    assert!(
        text.contains("X509v3 Basic Constraints: critical"),
        "{text}"
    );
    assert!(
        text_section(&text, "X509v3 Basic Constraints").contains("CA:TRUE, pathlen:1"),
        "{text}"
    );
    assert!(text.contains("X509v3 Key Usage: critical"), "{text}");
    let ku = text_section(&text, "X509v3 Key Usage");
    for usage in ["Digital Signature", "Certificate Sign", "CRL Sign"] {
        assert!(ku.contains(usage), "{usage} not in {ku}");
    }
    assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
    assert!(!text.contains("CRL Distribution Points"), "{text}");
    assert!(text.contains("ecdsa-with-SHA256"), "{text}");

    // Never again without asking for it.
    let ca_id = id(&v);
    let one = expect(
        s.get(&format!("/cas/{ca_id}"), Some(&w.admin_a.1)).await,
        200,
    );
    assert!(one.get("private_key").is_none(), "{one}");
    assert_eq!(one["certificate"], v["certificate"]);
    let list = expect(s.get("/cas/", Some(&w.admin_a.1)).await, 200);
    let chain = expect(
        s.get(&format!("/cas/{ca_id}/chain"), Some(&w.admin_a.1))
            .await,
        200,
    );
    for entry in list
        .as_array()
        .unwrap()
        .iter()
        .chain(chain.as_array().unwrap())
    {
        assert!(entry.get("private_key").is_none(), "{entry}");
    }
    let audit = s.audit_for(&w.root, "ca_create", ca_id).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["username"], "admin_a");
    assert_eq!(audit[0]["resource_type"], "ca");
}

#[tokio::test]
async fn every_key_algorithm_and_the_rsa_default() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let cases = [
        (
            json!({"key_algorithm": "rsa", "key_size": 2048}),
            "rsa",
            2048,
            "rsaEncryption",
        ),
        (
            json!({"key_algorithm": "ecdsa-p256"}),
            "ecdsa-p256",
            256,
            "P-256",
        ),
        (
            json!({"key_algorithm": "ecdsa-p384"}),
            "ecdsa-p384",
            384,
            "P-384",
        ),
        (
            json!({"key_algorithm": "ed25519"}),
            "ed25519",
            256,
            "ED25519",
        ),
        // Neither given: RSA of CA_KEY_SIZE (2048 in these tests).
        (json!({"key_algorithm": null}), "rsa", 2048, "rsaEncryption"),
    ];
    for (i, (extra, alg, size, needle)) in cases.into_iter().enumerate() {
        let v = s.create_ca(&root, &format!("CA {i}"), extra).await;
        assert_eq!(v["key_algorithm"], alg, "{v}");
        assert_eq!(v["key_size"], size, "{v}");
        let cert = v["certificate"].as_str().unwrap();
        let text = x509_text(cert);
        assert!(text.contains(needle), "{alg}: {needle} not in {text}");
        if alg == "rsa" {
            assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
        }
        let key = v["private_key"].as_str().unwrap();
        assert_eq!(key_public_key(key), cert_public_key(cert), "{alg}");
    }
    for bad in [
        json!({"key_algorithm": "rsa", "key_size": 1024}),
        json!({"key_algorithm": "rsa", "key_size": 2056}),
        json!({"key_algorithm": "rsa", "key_size": 0}),
        json!({"key_algorithm": "rsa", "key_size": -2048}),
        json!({"key_algorithm": "rsa", "key_size": "big"}),
        json!({"key_algorithm": "dsa"}),
        json!({"key_algorithm": "ecdsa-p521"}),
        json!({"key_algorithm": ""}),
        json!({"key_algorithm": 7}),
    ] {
        let v = expect(
            s.post("/cas/", Some(&root), ca_body("Bad", bad.clone()))
                .await,
            422,
        );
        assert!(v["detail"][0]["loc"].is_array(), "{bad} -> {v}");
    }
}

#[tokio::test]
async fn malformed_input_is_refused_never_500() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    // Subject DNs that do not parse: 400.
    for dn in [
        "",
        "garbage",
        "CN=",
        "=value",
        "CN=a,XYZZY=b",
        "CN=trailing\\",
        "CN=a,,O=b",
        &format!("CN={}", "x".repeat(65)),
    ] {
        let v = expect(
            s.post(
                "/cas/",
                Some(&root),
                ca_body("Bad DN", json!({"subject_dn": dn})),
            )
            .await,
            400,
        );
        assert!(v["detail"].is_string(), "{dn:?} -> {v}");
    }
    // Field validation: 422.
    for extra in [
        json!({"valid_days": 0}),
        json!({"valid_days": -5}),
        json!({"valid_days": 36501}),
        json!({"valid_days": "long"}),
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "n".repeat(256)}),
        json!({"name": 5}),
        json!({"path_length": -1}),
        json!({"path_length": 33}),
        json!({"crl_base_url": "ftp://pki.example.com"}),
        json!({"crl_base_url": "not a url"}),
        json!({"crl_base_url": "http://a b.example.com"}),
        json!({"parent_ca_id": "one"}),
        json!({"allow_leaf_certs": "yes"}),
    ] {
        let v = expect(
            s.post("/cas/", Some(&root), ca_body("Bad", extra.clone()))
                .await,
            422,
        );
        assert!(v["detail"].is_array(), "{extra} -> {v}");
    }
    for body in [
        json!({"subject_dn": "CN=x"}),
        json!({"name": "x"}),
        json!([]),
    ] {
        expect(s.post("/cas/", Some(&root), body).await, 422);
    }
    let r = s
        .req(Method::POST, "/cas/", Some(&root))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Bounds of valid_days are inclusive.
    let one = s
        .create_ca(&root, "One Day", json!({"valid_days": 1}))
        .await;
    assert_eq!(one["valid_days"], 1);
    let nb = chrono::DateTime::parse_from_rfc3339(one["not_before"].as_str().unwrap()).unwrap();
    let na = chrono::DateTime::parse_from_rfc3339(one["not_after"].as_str().unwrap()).unwrap();
    // RFC 5280 validity includes both ends: one day is 86,399 seconds apart.
    assert_eq!((na - nb).num_seconds(), 86_400 - 1);
    let century = s
        .create_ca(&root, "Century", json!({"valid_days": 36500}))
        .await;
    assert_eq!(century["valid_days"], 36500);
    // A base URL is kept without its trailing slash.
    let with_url = s
        .create_ca(
            &root,
            "With URL",
            json!({"crl_base_url": "https://pki.example.com/"}),
        )
        .await;
    assert_eq!(with_url["crl_base_url"], "https://pki.example.com");
}

#[tokio::test]
async fn intermediate_path_length_and_leaf_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = s.create_ca(a, "Root", json!({"path_length": 2})).await;
    let root_id = id(&root);
    assert_eq!(
        expect(s.get(&format!("/cas/{root_id}"), Some(a)).await, 200)["allow_leaf_certs"],
        true
    );
    // Child path length defaults to p-1.
    let i1 = s
        .create_ca(a, "Inter One", json!({"parent_ca_id": root_id}))
        .await;
    assert_eq!(i1["path_length"], 1);
    assert_eq!(i1["parent_ca_id"], root_id);
    assert_eq!(i1["is_root"], false);
    assert_eq!(i1["organization_id"], w.org_a);
    // Creating it turned off the parent's leaf certificates.
    assert_eq!(
        expect(s.get(&format!("/cas/{root_id}"), Some(a)).await, 200)["allow_leaf_certs"],
        false
    );
    let i2 = s
        .create_ca(a, "Inter Two", json!({"parent_ca_id": id(&i1)}))
        .await;
    assert_eq!(i2["path_length"], 0);
    // A parent of path length 0 signs no sub-CA.
    expect(
        s.post(
            "/cas/",
            Some(a),
            ca_body("Too Deep", json!({"parent_ca_id": id(&i2)})),
        )
        .await,
        400,
    );
    // More than the parent allows: 400; less: kept.
    expect(
        s.post(
            "/cas/",
            Some(a),
            ca_body(
                "Too Long",
                json!({"parent_ca_id": root_id, "path_length": 2}),
            ),
        )
        .await,
        400,
    );
    let short = s
        .create_ca(
            a,
            "Short",
            json!({"parent_ca_id": root_id, "path_length": 0}),
        )
        .await;
    assert_eq!(short["path_length"], 0);
    // allow_leaf_certs given for the new CA is kept.
    assert_eq!(i1["allow_leaf_certs"], true);
    let no_leaves = s
        .create_ca(
            a,
            "No Leaves",
            json!({"parent_ca_id": root_id, "allow_leaf_certs": false}),
        )
        .await;
    assert_eq!(no_leaves["allow_leaf_certs"], false);
    let leaves = s
        .create_ca(
            a,
            "Leaves",
            json!({"parent_ca_id": root_id, "allow_leaf_certs": true}),
        )
        .await;
    assert_eq!(leaves["allow_leaf_certs"], true);
    // An unconstrained root: children take what they ask for.
    let free = s.create_ca(a, "Free Root", json!({})).await;
    assert_eq!(free["path_length"], Value::Null);
    let free_child = s
        .create_ca(a, "Free Child", json!({"parent_ca_id": id(&free)}))
        .await;
    assert_eq!(free_child["path_length"], Value::Null);
    let five = s
        .create_ca(
            a,
            "Five",
            json!({"parent_ca_id": id(&free), "path_length": 5}),
        )
        .await;
    assert_eq!(five["path_length"], 5);
    // Missing parent: 404; another organization's parent: 403.
    expect(
        s.post(
            "/cas/",
            Some(a),
            ca_body("Orphan", json!({"parent_ca_id": 999_999})),
        )
        .await,
        404,
    );
    expect(
        s.post(
            "/cas/",
            Some(&w.admin_b.1),
            ca_body("Intruder", json!({"parent_ca_id": root_id})),
        )
        .await,
        403,
    );

    // The intermediate certificate: issued by the parent, AKI = parent SKI,
    // pathlen, CDP and AIA on the parent's public URLs.
    let cert = i1["certificate"].as_str().unwrap();
    let root_cert = root["certificate"].as_str().unwrap();
    assert_eq!(name_of(cert, "issuer"), name_of(root_cert, "subject"));
    let text = x509_text(cert);
    let root_text = x509_text(root_cert);
    let root_ski = text_section(&root_text, "X509v3 Subject Key Identifier");
    assert!(!root_ski.is_empty());
    assert!(
        text_section(&text, "X509v3 Authority Key Identifier").contains(&root_ski),
        "{text}"
    );
    assert!(
        text_section(&text, "X509v3 Basic Constraints").contains("CA:TRUE, pathlen:1"),
        "{text}"
    );
    let slug = format!("root-{root_id}");
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
    // A parent's crl_base_url is what its children point at.
    let hosted = s
        .create_ca(
            a,
            "Hosted Root",
            json!({"crl_base_url": "https://pki.example.com/base/"}),
        )
        .await;
    let hosted_child = s
        .create_ca(a, "Hosted Child", json!({"parent_ca_id": id(&hosted)}))
        .await;
    let text = x509_text(hosted_child["certificate"].as_str().unwrap());
    assert!(
        text.contains(&format!(
            "URI:https://pki.example.com/base/crl/hosted-root-{}",
            id(&hosted)
        )),
        "{text}"
    );
}

#[tokio::test]
async fn intermediate_validity_is_clamped_to_its_parent() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let parent = s
        .create_ca(a, "Short Root", json!({"valid_days": 10}))
        .await;
    let child = s
        .create_ca(
            a,
            "Long Child",
            json!({"parent_ca_id": id(&parent), "valid_days": 100}),
        )
        .await;
    assert_eq!(child["not_after"], parent["not_after"]);
    assert_eq!(
        x509_field(child["certificate"].as_str().unwrap(), "-enddate"),
        x509_field(parent["certificate"].as_str().unwrap(), "-enddate")
    );
    assert_eq!(child["valid_days"], 10, "valid_days must say the truth");
}

#[tokio::test]
async fn who_may_create_a_ca() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let root_id = expect(s.get("/users/me", Some(&w.root)).await, 200)["id"].clone();
    let by_root = s.create_ca(&w.root, "Root Owned", json!({})).await;
    assert_eq!(by_root["organization_id"], Value::Null);
    assert_eq!(by_root["created_by_user_id"], root_id);
    let by_admin = s.create_ca(&w.admin_a.1, "Admin Owned", json!({})).await;
    assert_eq!(by_admin["organization_id"], w.org_a);
    let (maker_id, maker) = s
        .create_user(
            &w.root,
            "maker_a",
            "user",
            Some(w.org_a),
            json!({"can_create_ca": true}),
        )
        .await;
    let by_maker = s.create_ca(&maker, "Maker Owned", json!({})).await;
    assert_eq!(by_maker["organization_id"], w.org_a);
    assert_eq!(by_maker["created_by_user_id"], maker_id);
    // The flag also lets it create under its organization's CAs, not another's.
    s.create_ca(&maker, "Maker Sub", json!({"parent_ca_id": id(&by_admin)}))
        .await;
    let (_, maker_b) = s
        .create_user(
            &w.root,
            "maker_b",
            "user",
            Some(w.org_b),
            json!({"can_create_ca": true}),
        )
        .await;
    expect(
        s.post(
            "/cas/",
            Some(&maker_b),
            ca_body("B under A", json!({"parent_ca_id": id(&by_admin)})),
        )
        .await,
        403,
    );
    // No sub-CA of an organization-less CA for an organization's admin.
    expect(
        s.post(
            "/cas/",
            Some(&w.admin_a.1),
            ca_body("A under nobody", json!({"parent_ca_id": id(&by_root)})),
        )
        .await,
        403,
    );
    // Plain users, organization-less callers: 403, whatever their flags.
    let (_, lone_admin) = s
        .create_user(&w.root, "lone_admin", "admin", None, json!({}))
        .await;
    let (_, lone_maker) = s
        .create_user(
            &w.root,
            "lone_maker",
            "user",
            None,
            json!({"can_create_ca": true}),
        )
        .await;
    for token in [
        &w.user_a.1,
        &w.user_b.1,
        &w.orphan.1,
        &lone_admin,
        &lone_maker,
    ] {
        expect(
            s.post("/cas/", Some(token), ca_body("Nope", json!({})))
                .await,
            403,
        );
    }
    // No or bad token: 401 with a Bearer challenge.
    let r = s
        .req(Method::POST, "/cas/", None)
        .json(&ca_body("Anon", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    for bad in bad_tokens(&w.admin_a.1) {
        expect(
            s.post("/cas/", Some(&bad), ca_body("Forged", json!({})))
                .await,
            401,
        );
    }
    // Nothing of the refused attempts was created.
    let all = expect(s.get("/cas/", Some(&w.root)).await, 200);
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
}

#[tokio::test]
async fn lists_are_scoped_and_paginated() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let r = id(&s.create_ca(&w.root, "Nobody's", json!({})).await);
    let a1 = id(&s.create_ca(&w.admin_a.1, "A1", json!({})).await);
    let a2 = id(&s
        .create_ca(&w.admin_a.1, "A2", json!({"parent_ca_id": a1}))
        .await);
    let b1 = id(&s.create_ca(&w.admin_b.1, "B1", json!({})).await);
    let list = |token: String| {
        let s = &s;
        async move { ids(&expect(s.get("/cas/", Some(&token)).await, 200)) }
    };
    assert_eq!(list(w.root.clone()).await, vec![r, a1, a2, b1]);
    assert_eq!(list(w.admin_a.1.clone()).await, vec![a1, a2]);
    assert_eq!(list(w.user_a.1.clone()).await, vec![a1, a2]);
    assert_eq!(list(w.admin_b.1.clone()).await, vec![b1]);
    assert_eq!(list(w.user_b.1.clone()).await, vec![b1]);
    assert_eq!(list(w.orphan.1.clone()).await, Vec::<i64>::new());
    // Pagination.
    let page = |q: &str| {
        let (s, path, root) = (&s, format!("/cas/?{q}"), w.root.clone());
        async move { s.get(&path, Some(&root)).await }
    };
    assert_eq!(ids(&expect(page("limit=2").await, 200)), vec![r, a1]);
    assert_eq!(
        ids(&expect(page("skip=2&limit=2").await, 200)),
        vec![a2, b1]
    );
    assert_eq!(ids(&expect(page("skip=4").await, 200)), Vec::<i64>::new());
    for bad in ["limit=0", "limit=1001", "skip=-1", "limit=abc"] {
        expect(page(bad).await, 422);
    }
    expect(s.get("/cas/", None).await, 401);
    expect(s.get("/cas/", Some("garbage")).await, 401);
}

#[tokio::test]
async fn read_and_private_key() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca = s.create_ca(&w.admin_a.1, "Readable", json!({})).await;
    let ca_id = id(&ca);
    let path = format!("/cas/{ca_id}");
    let key_path = format!("/cas/{ca_id}/private-key");
    // Read: anyone of the organization, the superuser.
    for token in [&w.root, &w.admin_a.1, &w.user_a.1] {
        let v = expect(s.get(&path, Some(token)).await, 200);
        assert_eq!(v["certificate"], ca["certificate"]);
        assert!(v.get("private_key").is_none());
    }
    for token in [&w.admin_b.1, &w.user_b.1, &w.orphan.1] {
        expect(s.get(&path, Some(token)).await, 403);
    }
    expect(s.get(&path, None).await, 401);
    expect(s.get(&path, Some("garbage")).await, 401);
    expect(s.get("/cas/999999", Some(&w.root)).await, 404);
    expect(s.get("/cas/999999/private-key", Some(&w.root)).await, 404);
    expect(s.get("/cas/abc", Some(&w.root)).await, 422);
    // The key: export_private_key.
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
        expect(s.get(&key_path, Some(token)).await, 403);
    }
    expect(s.get(&key_path, None).await, 401);
    assert!(
        s.audit_for(&w.root, "ca_export_private_key", ca_id)
            .await
            .is_empty()
    );
    for (token, who) in [
        (&w.admin_a.1, "admin_a"),
        (&exporter, "exporter"),
        (&w.root, "root"),
    ] {
        let v = expect(s.get(&key_path, Some(token)).await, 200);
        assert_eq!(v["private_key"], ca["private_key"], "{who}");
        assert_eq!(v["id"], ca_id);
        let audit = s.audit_for(&w.root, "ca_export_private_key", ca_id).await;
        assert!(
            audit.iter().any(|e| e["username"] == who),
            "{who} not in {audit:?}"
        );
    }
    assert_eq!(
        s.audit_for(&w.root, "ca_export_private_key", ca_id)
            .await
            .len(),
        3
    );
}

#[tokio::test]
async fn chain_goes_up_to_the_root_and_children_are_direct() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = id(&s.create_ca(a, "Root", json!({})).await);
    let inter = id(&s.create_ca(a, "Inter", json!({"parent_ca_id": root})).await);
    let issuing = id(&s
        .create_ca(a, "Issuing", json!({"parent_ca_id": inter}))
        .await);
    let sibling = id(&s
        .create_ca(a, "Sibling", json!({"parent_ca_id": inter}))
        .await);
    let user_a = &w.user_a.1;
    let get_ids = |p: String| {
        let s = &s;
        async move { ids(&expect(s.get(&p, Some(user_a)).await, 200)) }
    };
    assert_eq!(
        get_ids(format!("/cas/{issuing}/chain")).await,
        vec![issuing, inter, root]
    );
    assert_eq!(
        get_ids(format!("/cas/{inter}/chain")).await,
        vec![inter, root]
    );
    assert_eq!(get_ids(format!("/cas/{root}/chain")).await, vec![root]);
    assert_eq!(get_ids(format!("/cas/{root}/children")).await, vec![inter]);
    assert_eq!(
        get_ids(format!("/cas/{inter}/children")).await,
        vec![issuing, sibling]
    );
    assert_eq!(
        get_ids(format!("/cas/{issuing}/children")).await,
        Vec::<i64>::new()
    );
    for route in ["chain", "children"] {
        expect(
            s.get(&format!("/cas/999999/{route}"), Some(&w.root)).await,
            404,
        );
        expect(
            s.get(&format!("/cas/{inter}/{route}"), Some(&w.user_b.1))
                .await,
            403,
        );
        expect(
            s.get(&format!("/cas/{inter}/{route}"), Some(&w.orphan.1))
                .await,
            403,
        );
        expect(s.get(&format!("/cas/{inter}/{route}"), None).await, 401);
    }
}

/// `PATCH /cas/{id}` as FastPKI's `assign_ca_organization` answers it.
async fn assign(
    s: &Server,
    token: Option<&str>,
    ca: i64,
    body: Value,
) -> (reqwest::StatusCode, Value) {
    s.patch(&format!("/cas/{ca}"), token, body).await
}

async fn org_of(s: &Server, su: &str, path: String) -> Value {
    expect(s.get(&path, Some(su)).await, 200)["organization_id"].clone()
}

#[tokio::test]
async fn assigning_a_ca_checks_the_caller_then_the_organization_then_the_ca() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let su = &w.root;
    let r = id(&s.create_ca(su, "R", json!({})).await);
    let body = json!({"organization_id": w.org_a});
    expect(assign(&s, None, r, body.clone()).await, 401);
    for token in [&w.admin_a.1, &w.user_a.1, &w.orphan.1] {
        let v = expect(assign(&s, Some(token), r, body.clone()).await, 403);
        assert_eq!(v["detail"], "Insufficient permissions");
        // Unknown CA or organization: still 403 for them.
        expect(assign(&s, Some(token), 999_999, body.clone()).await, 403);
        let unknown_org = json!({"organization_id": 999_999});
        expect(assign(&s, Some(token), r, unknown_org).await, 403);
    }
    // The body is checked first, for anyone signed in.
    expect(assign(&s, Some(&w.admin_a.1), r, json!({})).await, 422);
    for bad in [
        json!({}),
        json!({"organization_id": null}),
        json!({"organization_id": "a"}),
        json!({"cascade": true}),
        json!({"organization_id": w.org_a, "cascade": "yes"}),
    ] {
        expect(assign(&s, Some(su), r, bad).await, 422);
    }
    let v = expect(
        assign(&s, Some(su), r, json!({"organization_id": 999_999})).await,
        400,
    );
    assert_eq!(v["detail"], "Organization with ID 999999 not found");
    // The organization is looked up before the CA.
    let v = expect(
        assign(&s, Some(su), 999_998, json!({"organization_id": 999_999})).await,
        400,
    );
    assert_eq!(v["detail"], "Organization with ID 999999 not found");
    let v = expect(assign(&s, Some(su), 999_998, body.clone()).await, 404);
    assert_eq!(
        v["detail"],
        "Certificate Authority with ID 999998 not found"
    );
    // Nothing moved, nothing audited.
    assert_eq!(org_of(&s, su, format!("/cas/{r}")).await, Value::Null);
    assert!(s.audit_for(su, "ca_update", r).await.is_empty());
}

#[tokio::test]
async fn assigning_without_cascade_moves_the_ca_alone() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let su = &w.root;
    let r = id(&s
        .create_ca(su, "R", json!({"allow_leaf_certs": true}))
        .await);
    let r_leaf = id(&s.issue(su, r, "r.example.com", "server", json!({})).await);
    let c = id(&s.create_ca(su, "C", json!({"parent_ca_id": r})).await);
    let c_leaf = id(&s.issue(su, c, "c.example.com", "server", json!({})).await);

    let v = expect(
        assign(&s, Some(su), r, json!({"organization_id": w.org_a})).await,
        200,
    );
    // The response is the CA, without its key.
    assert_eq!(v["id"], r);
    assert_eq!(v["name"], "R");
    assert_eq!(v["organization_id"], w.org_a);
    assert!(v.get("private_key").is_none(), "{v}");
    assert_eq!(org_of(&s, su, format!("/cas/{c}")).await, Value::Null);
    // Its certificates keep their organization, even its own.
    for cert in [r_leaf, c_leaf] {
        assert_eq!(
            org_of(&s, su, format!("/certificates/{cert}")).await,
            Value::Null
        );
    }
    expect(s.get(&format!("/cas/{r}"), Some(&w.user_a.1)).await, 200);
    expect(s.get(&format!("/cas/{c}"), Some(&w.user_a.1)).await, 403);

    let audit = s.audit_for(su, "ca_update", r).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    let e = &audit[0];
    assert_eq!(e["resource_type"], "ca");
    assert_eq!(e["resource_id"], r);
    assert_eq!(e["organization_id"], w.org_a);
    assert_eq!(e["username"], "root");
    assert_eq!(
        e["detail"],
        "Assigned CA 'R' to organization 'org-a' (previously unassigned; 1 CA(s), 0 certificate(s) updated)"
    );
}

#[tokio::test]
async fn assigning_moves_a_ca_out_of_another_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let su = &w.root;
    let b = id(&s.create_ca(&w.admin_b.1, "B", json!({})).await);
    let b_leaf = id(&s
        .issue(&w.admin_b.1, b, "b.example.com", "server", json!({}))
        .await);
    let v = expect(
        assign(
            &s,
            Some(su),
            b,
            json!({"organization_id": w.org_a, "cascade": true}),
        )
        .await,
        200,
    );
    assert_eq!(v["organization_id"], w.org_a);
    // Its certificates of organization B stay there.
    assert_eq!(
        org_of(&s, su, format!("/certificates/{b_leaf}")).await,
        json!(w.org_b)
    );
    expect(s.get(&format!("/cas/{b}"), Some(&w.user_b.1)).await, 403);
    let audit = s.audit_for(su, "ca_update", b).await;
    assert_eq!(
        audit[0]["detail"],
        format!(
            "Assigned CA 'B' to organization 'org-a' (previously organization {}; 1 CA(s), 0 certificate(s) updated)",
            w.org_b
        )
    );
    // Again into the same organization: allowed, audited again.
    expect(
        assign(&s, Some(su), b, json!({"organization_id": w.org_a})).await,
        200,
    );
    assert_eq!(s.audit_for(su, "ca_update", b).await.len(), 2);
}

#[tokio::test]
async fn cascade_adopts_only_unowned_descendants_and_stops_at_another_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let su = &w.root;
    // An organization-less tree made by the superuser:
    // r (certs r_leaf, r_of_b) -> c1 (organization A already) -> c1a (cert c1a_leaf)
    //                          -> cb (organization B) -> d (cert d_leaf)
    let r = id(&s.create_ca(su, "R", json!({})).await);
    // Issued before r gets children (which turns its allow_leaf_certs off).
    let r_leaf = id(&s.issue(su, r, "R Sub", "ca", json!({})).await);
    // A certificate of r that belongs to B: issued while r is B's (a
    // certificate takes its CA's organization). The walk starts at r whoever
    // owns it.
    expect(
        assign(&s, Some(su), r, json!({"organization_id": w.org_b})).await,
        200,
    );
    let r_of_b = id(&s.issue(su, r, "rb.example.com", "server", json!({})).await);
    let c1 = id(&s.create_ca(su, "C1", json!({"parent_ca_id": r})).await);
    let c1a = id(&s.create_ca(su, "C1a", json!({"parent_ca_id": c1})).await);
    let cb = id(&s.create_ca(su, "CB", json!({"parent_ca_id": r})).await);
    let d = id(&s.create_ca(su, "D", json!({"parent_ca_id": cb})).await);
    let c1a_leaf = id(&s
        .issue(su, c1a, "c1a.example.com", "server", json!({}))
        .await);
    let d_leaf = id(&s.issue(su, d, "d.example.com", "server", json!({})).await);
    expect(
        assign(&s, Some(su), c1, json!({"organization_id": w.org_a})).await,
        200,
    );
    expect(
        assign(&s, Some(su), cb, json!({"organization_id": w.org_b})).await,
        200,
    );

    let v = expect(
        assign(
            &s,
            Some(su),
            r,
            json!({"organization_id": w.org_a, "cascade": true}),
        )
        .await,
        200,
    );
    assert_eq!(v["organization_id"], w.org_a);
    let ca = |id: i64| format!("/cas/{id}");
    let cert = |id: i64| format!("/certificates/{id}");
    for c in [r, c1, c1a] {
        assert_eq!(org_of(&s, su, ca(c)).await, json!(w.org_a), "CA {c}");
    }
    assert_eq!(org_of(&s, su, ca(cb)).await, json!(w.org_b));
    assert_eq!(
        org_of(&s, su, ca(d)).await,
        Value::Null,
        "below another organization's CA"
    );
    assert_eq!(org_of(&s, su, cert(r_leaf)).await, json!(w.org_a));
    assert_eq!(org_of(&s, su, cert(c1a_leaf)).await, json!(w.org_a));
    assert_eq!(org_of(&s, su, cert(r_of_b)).await, json!(w.org_b));
    assert_eq!(org_of(&s, su, cert(d_leaf)).await, Value::Null);
    // Now organization A sees them.
    expect(s.get(&ca(c1a), Some(&w.user_a.1)).await, 200);
    expect(s.get(&cert(c1a_leaf), Some(&w.user_a.1)).await, 200);
    expect(s.get(&ca(d), Some(&w.user_b.1)).await, 403);
    let audit = s.audit_for(su, "ca_update", r).await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    // Newest first. r, c1 (already A's: counted, as FastPKI counts it) and c1a;
    // r_leaf and c1a_leaf.
    assert_eq!(
        audit[0]["detail"],
        "Assigned CA 'R' to organization 'org-a' (previously organization 2; 3 CA(s), 2 certificate(s) updated)"
    );
}

#[tokio::test]
async fn delete_refuses_parents_and_takes_the_certificates() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = id(&s.create_ca(a, "Root", json!({})).await);
    let child = id(&s.create_ca(a, "Child", json!({"parent_ca_id": root})).await);
    let leaf = id(&s
        .issue(a, child, "leaf.example.com", "server", json!({}))
        .await);
    let revoked = id(&s
        .issue(a, child, "gone.example.com", "server", json!({}))
        .await);
    expect(
        s.post(
            &format!("/certificates/{revoked}/revoke"),
            Some(a),
            json!({"reason": "superseded"}),
        )
        .await,
        200,
    );
    // With a child: 409, nothing deleted.
    let v = expect(s.delete(&format!("/cas/{root}"), Some(a)).await, 409);
    assert!(v["detail"].is_string());
    expect(s.get(&format!("/cas/{root}"), Some(a)).await, 200);
    // Who may delete.
    let (_, deleter) = s
        .create_user(
            &w.root,
            "deleter",
            "user",
            Some(w.org_a),
            json!({"can_delete_ca": true}),
        )
        .await;
    for token in [&w.user_a.1, &w.admin_b.1, &w.user_b.1, &w.orphan.1] {
        expect(s.delete(&format!("/cas/{child}"), Some(token)).await, 403);
    }
    expect(s.delete(&format!("/cas/{child}"), None).await, 401);
    expect(s.delete("/cas/999999", Some(a)).await, 404);
    expect(s.delete("/cas/abc", Some(a)).await, 422);
    // The flag is enough; the certificates go with the CA (the live one is
    // revoked into the CA's final CRL first).
    let v = expect(
        s.delete(&format!("/cas/{child}"), Some(&deleter)).await,
        204,
    );
    assert_eq!(v, Value::Null);
    expect(s.get(&format!("/cas/{child}"), Some(a)).await, 404);
    for cert in [leaf, revoked] {
        expect(s.get(&format!("/certificates/{cert}"), Some(a)).await, 404);
    }
    let certs = expect(s.get("/certificates/", Some(&w.root)).await, 200);
    assert_eq!(certs, json!([]));
    let audit = s.audit_for(&w.root, "ca_delete", child).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["username"], "deleter");
    assert_eq!(audit[0]["organization_id"], w.org_a);
    // Earlier entries about the CA outlive it.
    assert_eq!(s.audit_for(&w.root, "ca_create", child).await.len(), 1);
    // The public routes keep its certificate and final CRL for relying parties.
    assert_eq!(
        s.raw(&format!("/crl/child-{child}"), None).await.status,
        200
    );
    assert_eq!(
        s.raw(&format!("/ca/child-{child}.pem"), None).await.status,
        200
    );
    // Now the root has no child: deletable; twice is 404.
    expect(s.delete(&format!("/cas/{root}"), Some(a)).await, 204);
    expect(s.delete(&format!("/cas/{root}"), Some(a)).await, 404);
}

#[tokio::test]
async fn creators_and_organizations_going_away() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let org = s.create_org(&root, "org-c").await;
    let (maker_id, maker) = s
        .create_user(
            &root,
            "maker_c",
            "user",
            Some(org),
            json!({"can_create_ca": true, "can_create_cert": true}),
        )
        .await;
    let (_, member) = s
        .create_user(&root, "member_c", "user", Some(org), json!({}))
        .await;
    let ca = s.create_ca(&maker, "Maker CA", json!({})).await;
    let cert = s
        .issue(&maker, id(&ca), "m.example.com", "server", json!({}))
        .await;
    // Deleting the creator keeps what it made, without a creator.
    expect(
        s.delete(&format!("/users/{maker_id}"), Some(&root)).await,
        204,
    );
    let v = expect(
        s.get(&format!("/cas/{}", id(&ca)), Some(&member)).await,
        200,
    );
    assert_eq!(v["created_by_user_id"], Value::Null);
    let v = expect(
        s.get(&format!("/certificates/{}", id(&cert)), Some(&member))
            .await,
        200,
    );
    assert_eq!(v["created_by_user_id"], Value::Null);
    // An organization that still owns CAs and certificates is not deleted (400, not 500).
    let member_id = expect(s.get("/users/me", Some(&member)).await, 200)["id"].clone();
    expect(
        s.delete(&format!("/users/{member_id}"), Some(&root)).await,
        204,
    );
    let v = expect(
        s.delete(&format!("/organizations/{org}"), Some(&root))
            .await,
        400,
    );
    assert!(v["detail"].is_string(), "{v}");
    expect(s.get(&format!("/cas/{}", id(&ca)), Some(&root)).await, 200);
    // Once its CA is gone (its certificate revoked first), it can go.
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&cert)),
            Some(&root),
            json!({}),
        )
        .await,
        200,
    );
    expect(
        s.delete(&format!("/cas/{}", id(&ca)), Some(&root)).await,
        204,
    );
    expect(
        s.delete(&format!("/organizations/{org}"), Some(&root))
            .await,
        204,
    );
}

/// Creator rights stop at the organization's door: inside it, a creator keeps
/// full access to what it made (even without the flags); moved to another
/// organization, it keeps nothing of the old one's.
#[tokio::test]
async fn a_creator_moved_to_another_organization_keeps_no_rights() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (maker_id, maker) = s
        .create_user(
            &w.root,
            "maker",
            "user",
            Some(w.org_a),
            json!({"can_create_ca": true, "can_create_cert": true}),
        )
        .await;
    let ca = s.create_ca(&maker, "Maker Root", json!({})).await;
    let cert = s
        .issue(&maker, id(&ca), "made.example.com", "server", json!({}))
        .await;
    let ca_key = format!("/cas/{}/private-key", id(&ca));
    let cert_key = format!("/certificates/{}/private-key", id(&cert));
    // In the organization: the creator exports keys without the export flag.
    expect(s.get(&ca_key, Some(&maker)).await, 200);
    expect(s.get(&cert_key, Some(&maker)).await, 200);

    let maker_path = format!("/users/{maker_id}");
    let move_to =
        |org: Option<i64>| s.patch(&maker_path, Some(&w.root), json!({"organization_id": org}));
    for elsewhere in [Some(w.org_b), None] {
        expect(move_to(elsewhere).await, 200);
        let maker = s.login("maker").await;
        expect(s.get(&format!("/cas/{}", id(&ca)), Some(&maker)).await, 403);
        expect(s.get(&ca_key, Some(&maker)).await, 403);
        expect(s.get(&cert_key, Some(&maker)).await, 403);
        assert_eq!(
            s.raw(&format!("/export/ca/{}/private-key", id(&ca)), Some(&maker))
                .await
                .status,
            403
        );
        expect(
            s.post(
                &format!("/certificates/{}/revoke", id(&cert)),
                Some(&maker),
                json!({}),
            )
            .await,
            403,
        );
        expect(
            s.post(
                &format!("/certificates/?ca_id={}", id(&ca)),
                Some(&maker),
                cert_body("more.example.com", "server", json!({})),
            )
            .await,
            403,
        );
        expect(
            s.delete(&format!("/cas/{}", id(&ca)), Some(&maker)).await,
            403,
        );
        // Lists no longer show them either.
        let listed = expect(s.get("/cas/", Some(&maker)).await, 200);
        assert!(!ids(&listed).contains(&id(&ca)), "{listed}");
    }
    // Back in the organization, the creator's rights return.
    expect(move_to(Some(w.org_a)).await, 200);
    let maker = s.login("maker").await;
    expect(s.get(&ca_key, Some(&maker)).await, 200);
    let v = expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&cert)),
            Some(&maker),
            json!({}),
        )
        .await,
        200,
    );
    assert_eq!(v["status"], "revoked");
}
