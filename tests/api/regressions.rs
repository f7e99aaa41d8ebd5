//! Behaviour fixed after review: each test names what it guards.

use serde_json::json;

use crate::common::{Server, World, expect};

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
