//! `POST /certificates/{id}/renew`: both modes, their error codes, lineage.

use serde_json::{Value, json};

use crate::common::{Server, expect};

fn openssl_csr(dir: &std::path::Path, cn: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
        ])
        .arg(dir.join(format!("{cn}.key")))
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn server_key_certificates_renew_with_a_new_key() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = expect(
        s.post(
            "/cas/",
            Some(&root),
            json!({"name": "CA", "subject_dn": "CN=CA", "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        201,
    );
    let old = expect(
        s.post(&format!("/certificates/?ca_id={}", ca["id"]), Some(&root), json!({
            "common_name": "app.example.com", "subject_dn": "CN=app.example.com,O=Acme", "certificate_type": "server",
            "key_algorithm": "ecdsa-p256", "valid_days": 20, "san_dns_names": ["app.example.com", "www.example.com"],
            "san_ip_addresses": ["10.1.2.3"]}))
        .await,
        201,
    );
    let path = format!("/certificates/{}/renew", old["id"]);
    let v = expect(
        s.post(
            &path,
            Some(&root),
            json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----"}),
        )
        .await,
        400,
    );
    assert_eq!(v["detail"]["code"], "csr_not_allowed_for_server_key_cert");
    let new = expect(s.post(&path, Some(&root), json!({})).await, 201);
    assert_ne!(new["id"], old["id"]);
    assert_ne!(new["serial_number"], old["serial_number"]);
    assert_ne!(new["private_key"], old["private_key"]);
    assert!(
        new["private_key"]
            .as_str()
            .unwrap()
            .contains("BEGIN PRIVATE KEY")
    );
    for same in [
        "subject_dn",
        "common_name",
        "certificate_type",
        "issuer_id",
        "san_dns_names",
        "san_ip_addresses",
        "valid_days",
        "key_algorithm",
    ] {
        assert_eq!(new[same], old[same], "{same}");
    }
    assert_eq!(new["renewed_from_id"], old["id"]);
    let old_now = expect(
        s.get(&format!("/certificates/{}", old["id"]), Some(&root))
            .await,
        200,
    );
    assert_eq!(
        old_now["status"], "valid",
        "the old certificate stays valid"
    );
    assert_eq!(old_now["renewed_to_ids"], json!([new["id"]]));
    // An empty body is fine too; lineage lists both renewals.
    let third = expect(
        s.post(&path, Some(&root), serde_json::Value::Null).await,
        201,
    );
    let old_now = expect(
        s.get(&format!("/certificates/{}", old["id"]), Some(&root))
            .await,
        200,
    );
    assert_eq!(old_now["renewed_to_ids"], json!([new["id"], third["id"]]));
    let listed = expect(
        s.get(&format!("/certificates/?ca_id={}", ca["id"]), Some(&root))
            .await,
        200,
    );
    let listed_old = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == old["id"])
        .unwrap()
        .clone();
    assert_eq!(
        listed_old["renewed_to_ids"],
        json!([new["id"], third["id"]])
    );
    let audit = expect(
        s.get(
            &format!("/audit-logs/?action=cert_create&resource_id={}", new["id"]),
            Some(&root),
        )
        .await,
        200,
    );
    assert!(audit[0]["detail"].as_str().unwrap().contains("Renewed"));
    // Revoked certificates are not renewed; unknown ones are 404; no token 401.
    expect(
        s.post(
            &format!("/certificates/{}/revoke", old["id"]),
            Some(&root),
            json!({}),
        )
        .await,
        200,
    );
    expect(s.post(&path, Some(&root), json!({})).await, 400);
    expect(
        s.post("/certificates/999999/renew", Some(&root), json!({}))
            .await,
        404,
    );
    expect(s.post(&path, None, json!({})).await, 401);
}

#[tokio::test]
async fn csr_certificates_renew_from_a_new_csr() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = expect(
        s.post(
            "/cas/",
            Some(&root),
            json!({"name": "CA", "subject_dn": "CN=CA", "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        201,
    );
    let old = expect(
        s.post(
            "/certificates/sign-csr",
            Some(&root),
            json!({"csr": openssl_csr(dir.path(), "csr.example.com"), "ca_id": ca["id"]}),
        )
        .await,
        201,
    );
    let path = format!("/certificates/{}/renew", old["id"]);
    let v = expect(s.post(&path, Some(&root), json!({})).await, 400);
    assert_eq!(v["detail"]["code"], "csr_required_for_csr_origin_cert");
    // The new CSR's subject is ignored: the renewed certificate keeps the old subject.
    let new = expect(
        s.post(
            &path,
            Some(&root),
            json!({"csr": openssl_csr(dir.path(), "something-else.example.com")}),
        )
        .await,
        201,
    );
    assert_eq!(new["subject_dn"], old["subject_dn"]);
    assert_eq!(new["san_dns_names"], old["san_dns_names"]);
    assert!(new.get("private_key").is_none() || new["private_key"].is_null());
    assert_eq!(new["renewed_from_id"], old["id"]);
    expect(
        s.post(&path, Some(&root), json!({"csr": "garbage"})).await,
        400,
    );
}

#[tokio::test]
async fn renewal_needs_create_cert_on_the_ca() {
    let s = Server::start().await;
    let w = crate::common::World::build(&s).await;
    let ca = expect(
        s.post(
            "/cas/",
            Some(&w.admin_a.1),
            json!({"name": "CA", "subject_dn": "CN=CA", "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        201,
    );
    let cert = expect(
        s.post(&format!("/certificates/?ca_id={}", ca["id"]), Some(&w.admin_a.1), json!({"common_name": "x.example.com", "certificate_type": "server", "key_algorithm": "ecdsa-p256"})).await,
        201,
    );
    let path = format!("/certificates/{}/renew", cert["id"]);
    expect(s.post(&path, Some(&w.user_a.1), json!({})).await, 403);
    expect(s.post(&path, Some(&w.admin_b.1), json!({})).await, 403);
    expect(
        s.patch(
            &format!("/users/{}", w.user_a.0),
            Some(&w.admin_a.1),
            json!({"can_create_cert": true}),
        )
        .await,
        200,
    );
    expect(s.post(&path, Some(&w.user_a.1), json!({})).await, 201);
}

#[tokio::test]
async fn pooled_keys_are_fresh_for_every_certificate() {
    let s = Server::start_with(&[("KEY_POOL_SIZE", "2")]).await;
    let root = s.bootstrap().await;
    let ca = expect(
        s.post(
            "/cas/",
            Some(&root),
            json!({"name": "CA", "subject_dn": "CN=CA", "key_algorithm": "ecdsa-p256"}),
        )
        .await,
        201,
    );
    let mut keys = std::collections::HashSet::new();
    for i in 0..5 {
        let c = expect(
            s.post(&format!("/certificates/?ca_id={}", ca["id"]), Some(&root), json!({
                "common_name": format!("h{i}.example.com"), "certificate_type": "server", "key_algorithm": "ed25519"}))
            .await,
            201,
        );
        assert!(
            keys.insert(c["private_key"].as_str().unwrap().to_string()),
            "a key was handed out twice"
        );
    }
}

/// A renewal keeps its new key where the old certificate kept one, and only there.
#[tokio::test]
async fn renewal_keeps_a_key_only_where_the_old_certificate_did() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let ca = s.create_ca(&root, "CA", json!({})).await;
    let ca_id = ca["id"].as_i64().unwrap();
    for (keep, exported) in [(true, 200), (false, 404)] {
        // The JSON route answers null where no key is kept; the PEM download 404.
        let old = s
            .issue(
                &root,
                ca_id,
                "keep.example.com",
                "server",
                json!({"include_private_key": keep}),
            )
            .await;
        let renew = format!("/certificates/{}/renew", old["id"]);
        let new = expect(s.post(&renew, Some(&root), json!({})).await, 201);
        let key_path = format!("/certificates/{}/private-key", new["id"]);
        let key = expect(s.get(&key_path, Some(&root)).await, 200);
        if keep {
            assert_eq!(key["private_key"], new["private_key"]);
        } else {
            assert_eq!(key["private_key"], Value::Null);
        }
        let pem = format!("/export/certificate/{}/private-key", new["id"]);
        assert_eq!(s.raw(&pem, Some(&root)).await.status, exported);
    }
}
