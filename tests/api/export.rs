//! `/export`: PEM downloads with their exact file names, content type, chain
//! order, and the guarded, audited key exports.

use serde_json::{Value, json};

use crate::common::*;

/// Asserts a successful PEM download named `filename`; returns its text.
#[track_caller]
fn download(raw: &Raw, filename: &str) -> String {
    assert_eq!(
        raw.status.as_u16(),
        200,
        "{}",
        String::from_utf8_lossy(&raw.body)
    );
    assert_eq!(raw.header("content-type"), "application/x-pem-file");
    assert_eq!(
        raw.header("content-disposition"),
        format!("attachment; filename=\"{filename}\"")
    );
    assert_eq!(raw.header("x-content-type-options"), "nosniff");
    raw.text()
}

struct Tree {
    root: Value,
    inter: Value,
    issuing: Value,
    leaf: Value,
}

/// root (RSA) -> inter (P-384) -> issuing (Ed25519) -> leaf (P-256), all by admin_a.
async fn tree(s: &Server, w: &World) -> Tree {
    let a = &w.admin_a.1;
    let root = s
        .create_ca(
            a,
            "Export Root",
            json!({"key_algorithm": "rsa", "key_size": 2048, "subject_dn": "CN=Export Root,O=Acme"}),
        )
        .await;
    let inter = s
        .create_ca(
            a,
            "Export Inter",
            json!({"parent_ca_id": id(&root), "key_algorithm": "ecdsa-p384"}),
        )
        .await;
    let issuing = s
        .create_ca(
            a,
            "Export Issuing",
            json!({"parent_ca_id": id(&inter), "key_algorithm": "ed25519"}),
        )
        .await;
    let leaf = s
        .issue(a, id(&issuing), "leaf.example.com", "server", json!({}))
        .await;
    Tree {
        root,
        inter,
        issuing,
        leaf,
    }
}

#[tokio::test]
async fn downloads_names_types_and_chain_order() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let t = tree(&s, &w).await;
    let a = &w.admin_a.1;
    let (ca_id, leaf_id) = (id(&t.issuing), id(&t.leaf));

    let pem = download(
        &s.raw(
            &format!("/export/ca/{ca_id}/certificate"),
            Some(&w.user_a.1),
        )
        .await,
        &format!("ca_{ca_id}_certificate.pem"),
    );
    assert_eq!(
        pem.trim(),
        t.issuing["certificate"].as_str().unwrap().trim()
    );

    let key = download(
        &s.raw(&format!("/export/ca/{ca_id}/private-key"), Some(a))
            .await,
        &format!("ca_{ca_id}_private_key.pem"),
    );
    assert_eq!(
        key.trim(),
        t.issuing["private_key"].as_str().unwrap().trim()
    );
    assert_eq!(
        key_public_key(&key),
        cert_public_key(t.issuing["certificate"].as_str().unwrap())
    );

    let pem = download(
        &s.raw(&format!("/export/certificate/{leaf_id}"), Some(&w.user_a.1))
            .await,
        &format!("certificate_{leaf_id}.pem"),
    );
    assert_eq!(pem.trim(), t.leaf["certificate"].as_str().unwrap().trim());

    let key = download(
        &s.raw(
            &format!("/export/certificate/{leaf_id}/private-key"),
            Some(a),
        )
        .await,
        &format!("certificate_{leaf_id}_private_key.pem"),
    );
    assert_eq!(key.trim(), t.leaf["private_key"].as_str().unwrap().trim());

    // The chain: the certificate, then each CA up to the root.
    let chain = download(
        &s.raw(
            &format!("/export/certificate/{leaf_id}/chain"),
            Some(&w.user_a.1),
        )
        .await,
        &format!("certificate_{leaf_id}_chain.pem"),
    );
    let blocks = pem_blocks(&chain);
    assert_eq!(blocks.len(), 4, "{chain}");
    let subjects: Vec<String> = blocks.iter().map(|b| x509_field(b, "-subject")).collect();
    assert_eq!(
        subjects,
        [
            "subject=CN = leaf.example.com",
            "subject=CN = Export Issuing",
            "subject=CN = Export Inter",
            "subject=O = Acme, CN = Export Root",
        ]
    );
    for (block, v) in blocks.iter().zip([&t.leaf, &t.issuing, &t.inter, &t.root]) {
        assert_eq!(block.trim(), v["certificate"].as_str().unwrap().trim());
    }
    // Each block is issued by the next.
    for pair in blocks.windows(2) {
        let issuer = x509_field(&pair[0], "-issuer");
        let subject = x509_field(&pair[1], "-subject");
        assert_eq!(
            issuer.trim_start_matches("issuer="),
            subject.trim_start_matches("subject=")
        );
    }
    // A certificate issued by a root: itself and the root.
    let direct = s.create_ca(a, "Direct Root", json!({})).await;
    let direct_leaf = s
        .issue(a, id(&direct), "direct.example.com", "client", json!({}))
        .await;
    let chain = download(
        &s.raw(
            &format!("/export/certificate/{}/chain", id(&direct_leaf)),
            Some(a),
        )
        .await,
        &format!("certificate_{}_chain.pem", id(&direct_leaf)),
    );
    assert_eq!(pem_blocks(&chain).len(), 2);
}

#[tokio::test]
async fn who_may_download_what() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let ca = s.create_ca(a, "Guarded", json!({})).await;
    let leaf = s
        .issue(a, id(&ca), "guarded.example.com", "server", json!({}))
        .await;
    let no_key = s
        .issue(
            a,
            id(&ca),
            "nokey.example.com",
            "server",
            json!({"include_private_key": false}),
        )
        .await;
    let (_, exporter) = s
        .create_user(
            &w.root,
            "exporter",
            "user",
            Some(w.org_a),
            json!({"can_export_private_key": true}),
        )
        .await;
    let (ca_id, leaf_id) = (id(&ca), id(&leaf));
    let reads = [
        format!("/export/ca/{ca_id}/certificate"),
        format!("/export/certificate/{leaf_id}"),
        format!("/export/certificate/{leaf_id}/chain"),
    ];
    let keys = [
        (
            format!("/export/ca/{ca_id}/private-key"),
            "ca_export_private_key",
            ca_id,
        ),
        (
            format!("/export/certificate/{leaf_id}/private-key"),
            "cert_export_private_key",
            leaf_id,
        ),
    ];
    for path in &reads {
        for token in [&w.root, a, &w.user_a.1, &exporter] {
            assert_eq!(s.raw(path, Some(token)).await.status, 200, "{path}");
        }
        for token in [&w.admin_b.1, &w.user_b.1, &w.orphan.1] {
            assert_eq!(s.raw(path, Some(token)).await.status, 403, "{path}");
        }
    }
    for (path, _, _) in &keys {
        for token in [&w.user_a.1, &w.admin_b.1, &w.user_b.1, &w.orphan.1] {
            let r = s.raw(path, Some(token)).await;
            assert_eq!(r.status, 403, "{path}");
            assert!(!r.text().contains("PRIVATE KEY"));
        }
    }
    for (path, action, resource) in &keys {
        assert!(s.audit_for(&w.root, action, *resource).await.is_empty());
        for (token, who) in [(a, "admin_a"), (&exporter, "exporter"), (&w.root, "root")] {
            let r = s.raw(path, Some(token)).await;
            assert_eq!(r.status, 200, "{path} {who}");
            assert!(r.text().contains("PRIVATE KEY"));
            assert_eq!(r.header("cache-control"), "no-store");
            let audit = s.audit_for(&w.root, action, *resource).await;
            assert!(
                audit.iter().any(|e| e["username"] == who),
                "{who}: {audit:?}"
            );
        }
        assert_eq!(s.audit_for(&w.root, action, *resource).await.len(), 3);
    }
    // No token, bad token, missing, malformed, no kept key.
    for path in reads.iter().chain(keys.iter().map(|k| &k.0)) {
        let r = s.raw(path, None).await;
        assert_eq!(r.status, 401, "{path}");
        assert_eq!(r.header("www-authenticate"), "Bearer");
        assert_eq!(s.raw(path, Some("garbage")).await.status, 401, "{path}");
    }
    for path in [
        "/export/ca/999999/certificate",
        "/export/ca/999999/private-key",
        "/export/certificate/999999",
        "/export/certificate/999999/private-key",
        "/export/certificate/999999/chain",
    ] {
        assert_eq!(s.raw(path, Some(&w.root)).await.status, 404, "{path}");
    }
    for path in [
        "/export/ca/abc/certificate",
        "/export/certificate/abc",
        "/export/certificate/abc/chain",
    ] {
        assert_eq!(s.raw(path, Some(&w.root)).await.status, 422, "{path}");
    }
    let r = s
        .raw(
            &format!("/export/certificate/{}/private-key", id(&no_key)),
            Some(a),
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(
        s.audit_for(&w.root, "cert_export_private_key", id(&no_key))
            .await
            .is_empty()
    );
}
