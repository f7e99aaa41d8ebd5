//! Revoking intermediate CAs (`POST /cas/{id}/revoke`) and what a deleted CA
//! leaves behind for revocation checking: the attacks of the security issue
//! replayed first, then the rules and who may act.

use serde_json::{Value, json};

use crate::common::*;

fn pem(v: &Value) -> &str {
    v["certificate"].as_str().unwrap()
}

fn serial(v: &Value) -> String {
    v["serial_number"].as_str().unwrap().to_uppercase()
}

/// The public slug of a CA whose name is already lowercase words.
fn slug(name: &str, id: i64) -> String {
    format!("{}-{id}", name.to_lowercase().replace(' ', "-"))
}

/// The CRL a CA publishes (PEM), 200 expected.
async fn crl_of(s: &Server, name: &str, id: i64) -> String {
    let r = s.raw(&format!("/crl/{}.pem", slug(name, id)), None).await;
    assert_eq!(r.status, 200, "CRL of {name}: {}", r.text());
    r.text()
}

/// The CA certificate a CA publishes (PEM), 200 expected.
async fn cert_of(s: &Server, name: &str, id: i64) -> String {
    let r = s.raw(&format!("/ca/{}.pem", slug(name, id)), None).await;
    assert_eq!(r.status, 200, "certificate of {name}: {}", r.text());
    r.text()
}

fn crl_text(f: &Files, crl: &str) -> String {
    let p = f.write("crl-text.pem", crl);
    openssl_ok(&["crl", "-in", &p, "-noout", "-text"])
}

/// The revoked serials of a CRL (uppercase hex, as openssl prints them).
fn crl_serials(f: &Files, crl: &str) -> Vec<String> {
    crl_text(f, crl)
        .split("Serial Number:")
        .skip(1)
        .filter_map(|e| e.split_whitespace().next().map(str::to_string))
        .collect()
}

async fn revoke_ca(s: &Server, token: &str, ca: i64, body: Value) -> (reqwest::StatusCode, Value) {
    s.post(&format!("/cas/{ca}/revoke"), Some(token), body)
        .await
}

/// The attack: revoke a leaf, delete its CA. Before the fix the CRL went with
/// the CA (404) and the leaf became "unknown", which soft-failing clients accept.
#[tokio::test]
async fn a_deleted_ca_keeps_serving_its_certificate_and_last_crl() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let ca = s.create_ca(a, "Gone Root", json!({})).await;
    let ca_id = id(&ca);
    let leaf = s
        .issue(a, ca_id, "stolen.example.com", "server", json!({}))
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&leaf)),
            Some(a),
            json!({"reason": "keyCompromise"}),
        )
        .await,
        200,
    );
    expect(s.delete(&format!("/cas/{ca_id}"), Some(a)).await, 204);
    // Gone from the API...
    expect(s.get(&format!("/cas/{ca_id}"), Some(a)).await, 404);
    expect(
        s.get(&format!("/certificates/{}", id(&leaf)), Some(a))
            .await,
        404,
    );
    expect(s.delete(&format!("/cas/{ca_id}"), Some(a)).await, 404);
    assert_eq!(s.audit_for(&w.root, "ca_delete", ca_id).await.len(), 1);
    // ...but what relying parties need is still published.
    let f = Files::new();
    let ca_pem = cert_of(&s, "Gone Root", ca_id).await;
    assert_eq!(ca_pem.trim(), pem(&ca).trim());
    let der = s
        .raw(&format!("/ca/{}.crt", slug("Gone Root", ca_id)), None)
        .await;
    assert_eq!(der.status, 200);
    let crl = crl_of(&s, "Gone Root", ca_id).await;
    let der_crl = s
        .raw(&format!("/crl/{}", slug("Gone Root", ca_id)), None)
        .await;
    assert_eq!(der_crl.status, 200);
    assert_eq!(crl_serials(&f, &crl), vec![serial(&leaf)]);
    let ca_file = f.write("ca.pem", &ca_pem);
    let crl_file = f.write("ca.crl", &crl);
    let out = openssl_ok(&[
        "crl", "-in", &crl_file, "-CAfile", &ca_file, "-noout", "-verify",
    ]);
    assert!(out.contains("verify OK"), "{out}");
    // The final CRL stays valid as long as anything the CA signed could be.
    let next = openssl_ok(&["crl", "-in", &crl_file, "-noout", "-nextupdate"]);
    let not_after = x509_field(&ca_pem, "-enddate");
    let parse = |line: &str, key: &str| {
        chrono::NaiveDateTime::parse_from_str(
            line.trim()
                .trim_start_matches(key)
                .trim_end_matches(" GMT")
                .trim(),
            "%b %e %H:%M:%S %Y",
        )
        .unwrap_or_else(|e| panic!("{line}: {e}"))
    };
    assert!(
        parse(&next, "nextUpdate=") >= parse(&not_after, "notAfter="),
        "{next} before {not_after}"
    );
    let leaf_file = f.write("leaf.pem", pem(&leaf));
    let (ok, out) = openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        &ca_file,
        "-CRLfile",
        &crl_file,
        &leaf_file,
    ]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

/// Deleting a CA whose certificates are still valid keeps FastPKI's 204, and
/// retires them: each is revoked (cessationOfOperation) in the final CRL,
/// instead of living on with nobody able to revoke it.
#[tokio::test]
async fn deleting_a_ca_revokes_what_it_issued_in_its_final_crl() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let ca_id = id(&s.create_ca(a, "Busy Root", json!({})).await);
    let live = s
        .issue(a, ca_id, "live.example.com", "server", json!({}))
        .await;
    let earlier = s
        .issue(a, ca_id, "earlier.example.com", "server", json!({}))
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&earlier)),
            Some(a),
            json!({"reason_code": 1}),
        )
        .await,
        200,
    );
    // Without the right to delete, the answer stays 403 and nothing changes.
    expect(
        s.delete(&format!("/cas/{ca_id}"), Some(&w.user_a.1)).await,
        403,
    );
    expect(
        s.get(&format!("/certificates/{}", id(&live)), Some(a))
            .await,
        200,
    );
    expect(s.delete(&format!("/cas/{ca_id}"), Some(a)).await, 204);
    expect(s.get(&format!("/cas/{ca_id}"), Some(a)).await, 404);
    let f = Files::new();
    let crl = crl_of(&s, "Busy Root", ca_id).await;
    let mut serials = crl_serials(&f, &crl);
    serials.sort();
    let mut want = vec![serial(&live), serial(&earlier)];
    want.sort();
    assert_eq!(serials, want);
    // Each keeps its own reason: the earlier one its key compromise, the live
    // one the CA's retirement.
    let text = crl_text(&f, &crl);
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("Cessation Of Operation"), "{text}");
    let audit = s.audit_for(&w.root, "ca_delete", ca_id).await;
    assert!(
        audit[0]["detail"]
            .as_str()
            .unwrap()
            .contains("1 of them revoked"),
        "{audit:?}"
    );
}

/// Root -> intermediate -> leaf; revoking the intermediate puts its serial in
/// the root's CRL at once, and a leaf under it no longer verifies.
#[tokio::test]
async fn a_revoked_intermediate_is_in_its_parents_crl() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = s.create_ca(a, "Top Root", json!({})).await;
    let inter = s
        .create_ca(a, "Mid CA", json!({"parent_ca_id": id(&root)}))
        .await;
    let leaf = s
        .issue(a, id(&inter), "under.example.com", "server", json!({}))
        .await;
    assert_eq!(inter["revoked_at"], Value::Null);
    let f = Files::new();
    let root_file = f.write("root.pem", pem(&root));
    let inter_file = f.write("inter.pem", pem(&inter));
    let leaf_file = f.write("leaf.pem", pem(&leaf));
    let verify = |root_crl: &str, inter_crl: &str| {
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            &root_file,
            "-untrusted",
            &inter_file,
            "-CRLfile",
            root_crl,
            "-CRLfile",
            inter_crl,
            &leaf_file,
        ])
    };
    let root_crl = f.write("root-before.crl", crl_of(&s, "Top Root", id(&root)).await);
    let inter_crl = f.write("inter.crl", crl_of(&s, "Mid CA", id(&inter)).await);
    let (ok, out) = verify(&root_crl, &inter_crl);
    assert!(ok && out.contains(": OK"), "{out}");

    let v = expect(
        revoke_ca(
            &s,
            a,
            id(&inter),
            json!({"reason": "CA key leaked", "reason_code": 2}),
        )
        .await,
        200,
    );
    assert_eq!(v["id"], id(&inter));
    assert!(v["revoked_at"].is_string(), "{v}");
    assert_eq!(v["revocation_reason"], "CA key leaked");
    assert_eq!(v["revocation_reason_code"], 2);
    assert!(v.get("private_key").is_none(), "{v}");
    let got = expect(s.get(&format!("/cas/{}", id(&inter)), Some(a)).await, 200);
    assert_eq!(got["revoked_at"], v["revoked_at"]);
    let listed = expect(s.get("/cas/", Some(a)).await, 200);
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| id(c) == id(&inter))
        .unwrap();
    assert_eq!(row["revocation_reason_code"], 2);

    let root_crl_pem = crl_of(&s, "Top Root", id(&root)).await;
    assert_eq!(crl_serials(&f, &root_crl_pem), vec![serial(&inter)]);
    assert!(crl_text(&f, &root_crl_pem).contains("CA Compromise"));
    let root_crl = f.write("root-after.crl", &root_crl_pem);
    let out = openssl_ok(&[
        "crl", "-in", &root_crl, "-CAfile", &root_file, "-noout", "-verify",
    ]);
    assert!(out.contains("verify OK"), "{out}");
    let (ok, out) = verify(&root_crl, &inter_crl);
    assert!(!ok && out.contains("certificate revoked"), "{out}");

    let audit = s.audit_for(&w.root, "ca_revoke", id(&inter)).await;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["username"], "admin_a");
    assert_eq!(audit[0]["resource_type"], "ca");
    assert_eq!(audit[0]["organization_id"], w.org_a);

    // Twice: 409, like an already revoked certificate; nothing changes.
    let v = expect(revoke_ca(&s, a, id(&inter), json!({})).await, 409);
    assert!(
        v["detail"].as_str().unwrap().contains("already revoked"),
        "{v}"
    );
    assert_eq!(s.audit_for(&w.root, "ca_revoke", id(&inter)).await.len(), 1);
    // A root has no issuer to revoke it.
    let v = expect(revoke_ca(&s, a, id(&root), json!({})).await, 400);
    assert!(v["detail"].as_str().unwrap().contains("root CA"), "{v}");
    // The reason is checked as for certificates.
    let other = s
        .create_ca(a, "Other Mid", json!({"parent_ca_id": id(&root)}))
        .await;
    expect(
        revoke_ca(&s, a, id(&other), json!({"reason_code": 8})).await,
        422,
    );
    expect(
        revoke_ca(&s, a, id(&other), json!({"reason_code": "x"})).await,
        422,
    );
    expect(
        revoke_ca(&s, a, id(&other), json!({"reason": "r".repeat(513)})).await,
        422,
    );
    let other_now = expect(s.get(&format!("/cas/{}", id(&other)), Some(a)).await, 200);
    assert_eq!(other_now["revoked_at"], Value::Null);
    // No body at all is a revocation without a reason.
    let r = s
        .req(
            reqwest::Method::POST,
            &format!("/cas/{}/revoke", id(&other)),
            Some(a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let crl = crl_of(&s, "Top Root", id(&root)).await;
    let mut serials = crl_serials(&f, &crl);
    serials.sort();
    let mut want = vec![serial(&inter), serial(&other)];
    want.sort();
    assert_eq!(serials, want);
}

/// A revoked CA signs nothing more: certificates, CSRs, renewals, sub-CAs,
/// nor do CAs under it; its own CRL keeps being kept up to date.
#[tokio::test]
async fn a_revoked_intermediate_issues_nothing() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = s.create_ca(a, "Issuing Root", json!({})).await;
    let inter = s
        .create_ca(
            a,
            "Revoked Mid",
            json!({"parent_ca_id": id(&root), "allow_leaf_certs": true}),
        )
        .await;
    let below = s
        .create_ca(a, "Below Mid", json!({"parent_ca_id": id(&inter)}))
        .await;
    // Creating `below` closed the intermediate to leaves: open a second one for leaves.
    let leafy = s
        .create_ca(a, "Leafy Mid", json!({"parent_ca_id": id(&root)}))
        .await;
    let old = s
        .issue(a, id(&leafy), "old.example.com", "server", json!({}))
        .await;
    let other = s
        .issue(a, id(&leafy), "other.example.com", "server", json!({}))
        .await;
    expect(
        revoke_ca(&s, a, id(&leafy), json!({"reason_code": 5})).await,
        200,
    );
    expect(
        revoke_ca(&s, a, id(&inter), json!({"reason_code": 2})).await,
        200,
    );

    let refused = |got: (reqwest::StatusCode, Value)| {
        let v = expect(got, 400);
        let detail = v["detail"].as_str().unwrap_or_default().to_string();
        assert!(detail.contains("revoked"), "{v}");
    };
    refused(
        s.post(
            &format!("/certificates/?ca_id={}", id(&leafy)),
            Some(a),
            cert_body("new.example.com", "server", json!({})),
        )
        .await,
    );
    let (csr, _) = make_csr("p256", "/CN=csr.example.com", &[]);
    refused(
        s.post(
            "/certificates/sign-csr",
            Some(a),
            json!({"csr": csr, "ca_id": id(&leafy)}),
        )
        .await,
    );
    refused(
        s.post(
            "/certificates/sign-csr",
            Some(a),
            json!({"csr": csr, "ca_name": "Leafy Mid"}),
        )
        .await,
    );
    refused(
        s.post(
            &format!("/certificates/{}/renew", id(&old)),
            Some(a),
            json!({}),
        )
        .await,
    );
    refused(
        s.post(
            "/cas/",
            Some(a),
            ca_body("Too Late", json!({"parent_ca_id": id(&inter)})),
        )
        .await,
    );
    // Under a CA whose issuer is revoked, too.
    refused(
        s.post(
            &format!("/certificates/?ca_id={}", id(&below)),
            Some(a),
            cert_body("deep.example.com", "server", json!({})),
        )
        .await,
    );
    refused(
        s.post(
            "/cas/",
            Some(a),
            ca_body("Deeper", json!({"parent_ca_id": id(&below)})),
        )
        .await,
    );
    // Nothing was written.
    let certs = expect(
        s.get(&format!("/certificates/?ca_id={}", id(&leafy)), Some(a))
            .await,
        200,
    );
    assert_eq!(certs.as_array().unwrap().len(), 2, "{certs}");
    // Revocations under it still land in its CRL, which stays signed and served.
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&other)),
            Some(a),
            json!({"reason": "cessationOfOperation"}),
        )
        .await,
        200,
    );
    let f = Files::new();
    let crl = crl_of(&s, "Leafy Mid", id(&leafy)).await;
    assert_eq!(crl_serials(&f, &crl), vec![serial(&other)]);
    let ca_file = f.write("leafy.pem", pem(&leafy));
    let crl_file = f.write("leafy.crl", &crl);
    let out = openssl_ok(&[
        "crl", "-in", &crl_file, "-CAfile", &ca_file, "-noout", "-verify",
    ]);
    assert!(out.contains("verify OK"), "{out}");
    // The root, never revoked, still issues sub-CAs.
    s.create_ca(a, "Fresh Mid", json!({"parent_ca_id": id(&root)}))
        .await;
}

/// Revoking a CA is `revoke_cert` on its issuer: admins of the issuer's
/// organization, users with the flag there, superusers.
#[tokio::test]
async fn who_may_revoke_a_ca() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = id(&s.create_ca(a, "Perm Root", json!({})).await);
    let mut mids = Vec::new();
    for i in 0..4 {
        mids.push(id(&s
            .create_ca(a, &format!("Perm Mid {i}"), json!({"parent_ca_id": root}))
            .await));
    }
    let (_, revoker) = s
        .create_user(
            &w.root,
            "revoker_a",
            "user",
            Some(w.org_a),
            json!({"can_revoke_cert": true}),
        )
        .await;
    for token in [&w.user_a.1, &w.admin_b.1, &w.user_b.1, &w.orphan.1] {
        expect(revoke_ca(&s, token, mids[0], json!({})).await, 403);
    }
    // Another organization's admin cannot revoke even a root (403 before 400).
    expect(revoke_ca(&s, &w.admin_b.1, root, json!({})).await, 403);
    expect(
        s.post(&format!("/cas/{}/revoke", mids[0]), None, json!({}))
            .await,
        401,
    );
    expect(revoke_ca(&s, a, 999_999, json!({})).await, 404);
    expect(revoke_ca(&s, a, -1, json!({})).await, 404);
    let v = expect(s.get(&format!("/cas/{}", mids[0]), Some(a)).await, 200);
    assert_eq!(v["revoked_at"], Value::Null);
    assert!(s.audit_for(&w.root, "ca_revoke", mids[0]).await.is_empty());
    expect(revoke_ca(&s, &revoker, mids[0], json!({})).await, 200);
    expect(revoke_ca(&s, a, mids[1], json!({})).await, 200);
    expect(revoke_ca(&s, &w.root, mids[2], json!({})).await, 200);
    // The audit filter knows the action.
    let v = expect(s.get("/audit-logs/?action=ca_revoke", Some(a)).await, 200);
    assert_eq!(v.as_array().unwrap().len(), 3, "{v}");
}

/// Deleting a revoked intermediate must not take it out of its parent's
/// CRL: the next CRL the parent signs still lists it.
#[tokio::test]
async fn a_deleted_revoked_intermediate_stays_in_its_parents_crl() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = &w.admin_a.1;
    let root = s.create_ca(a, "Keep Root", json!({})).await;
    let gone = s
        .create_ca(a, "Gone Mid", json!({"parent_ca_id": id(&root)}))
        .await;
    let leaf = s
        .issue(a, id(&gone), "leaf.gone.example.com", "server", json!({}))
        .await;
    expect(
        s.post(
            &format!("/certificates/{}/revoke", id(&leaf)),
            Some(a),
            json!({}),
        )
        .await,
        200,
    );
    expect(
        revoke_ca(&s, a, id(&gone), json!({"reason_code": 2})).await,
        200,
    );
    expect(s.delete(&format!("/cas/{}", id(&gone)), Some(a)).await, 204);
    expect(
        s.get(&format!("/cas/{}/children", id(&root)), Some(a))
            .await,
        200,
    );
    // Another revocation makes the root sign a new CRL.
    let later = s
        .create_ca(a, "Later Mid", json!({"parent_ca_id": id(&root)}))
        .await;
    expect(revoke_ca(&s, a, id(&later), json!({})).await, 200);
    let f = Files::new();
    let root_crl = crl_of(&s, "Keep Root", id(&root)).await;
    let mut serials = crl_serials(&f, &root_crl);
    serials.sort();
    let mut want = vec![serial(&gone), serial(&later)];
    want.sort();
    assert_eq!(serials, want);
    // The deleted intermediate still publishes its certificate and its last CRL.
    assert_eq!(
        cert_of(&s, "Gone Mid", id(&gone)).await.trim(),
        pem(&gone).trim()
    );
    let gone_crl = crl_of(&s, "Gone Mid", id(&gone)).await;
    assert_eq!(crl_serials(&f, &gone_crl), vec![serial(&leaf)]);
    // Strict checking of the leaf fails on both counts.
    let root_file = f.write("root.pem", pem(&root));
    let gone_file = f.write("gone.pem", pem(&gone));
    let leaf_file = f.write("leaf.pem", pem(&leaf));
    let root_crl_file = f.write("root.crl", &root_crl);
    let gone_crl_file = f.write("gone.crl", &gone_crl);
    let (ok, out) = openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        &root_file,
        "-untrusted",
        &gone_file,
        "-CRLfile",
        &root_crl_file,
        "-CRLfile",
        &gone_crl_file,
        &leaf_file,
    ]);
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    // The root can go too once it has no live child; its last CRL keeps both.
    expect(
        s.delete(&format!("/cas/{}", id(&later)), Some(a)).await,
        204,
    );
    expect(s.delete(&format!("/cas/{}", id(&root)), Some(a)).await, 204);
    let root_crl = crl_of(&s, "Keep Root", id(&root)).await;
    let mut serials = crl_serials(&f, &root_crl);
    serials.sort();
    assert_eq!(serials, want);
}
