//! The authorization matrix of CAs and certificates across two organizations:
//! every caller against every action gets exactly 2xx or 403, as the 7-step
//! rule of the contract says (superuser; creator; no organization; other
//! organization; admin of it; read in it; the capability flag).

use std::collections::HashMap;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

#[derive(Clone, Copy, Debug)]
enum Act {
    ReadCa,
    ReadCert,
    ExportCaKey,
    ExportCertKey,
    CreateCert,
    RevokeCert,
    CreateSubCa,
    DeleteCa,
}

/// In this order: a sub-CA turns the CA's leaves off, so certificates come
/// first; deleting the CA comes last.
const ACTS: [Act; 8] = [
    Act::ReadCa,
    Act::ReadCert,
    Act::ExportCaKey,
    Act::ExportCertKey,
    Act::CreateCert,
    Act::RevokeCert,
    Act::CreateSubCa,
    Act::DeleteCa,
];

const T: bool = true;
const F: bool = false;
const ALL: [bool; 8] = [T; 8];
const NONE: [bool; 8] = [F; 8];
const READ: [bool; 8] = [T, T, F, F, F, F, F, F];

/// Who acts, who made the CA and the certificate, and the expected answer per act.
struct Row {
    who: &'static str,
    ca_by: &'static str,
    cert_by: &'static str,
    allowed: [bool; 8],
}

const fn row(
    who: &'static str,
    ca_by: &'static str,
    cert_by: &'static str,
    allowed: [bool; 8],
) -> Row {
    Row {
        who,
        ca_by,
        cert_by,
        allowed,
    }
}

const ROWS: &[Row] = &[
    // An organization-A CA and certificate made by admin_a.
    row("root", "admin_a", "admin_a", ALL),
    row("admin_a", "admin_a", "admin_a", ALL),
    row("admin_a2", "admin_a", "admin_a", ALL),
    row("user_a", "admin_a", "admin_a", READ),
    row(
        "a_create_ca",
        "admin_a",
        "admin_a",
        [T, T, F, F, F, F, T, F],
    ),
    row(
        "a_create_cert",
        "admin_a",
        "admin_a",
        [T, T, F, F, T, F, F, F],
    ),
    row("a_revoke", "admin_a", "admin_a", [T, T, F, F, F, T, F, F]),
    row("a_export", "admin_a", "admin_a", [T, T, T, T, F, F, F, F]),
    row("a_delete", "admin_a", "admin_a", [T, T, F, F, F, F, F, T]),
    row("a_all", "admin_a", "admin_a", ALL),
    row("admin_b", "admin_a", "admin_a", NONE),
    row("user_b", "admin_a", "admin_a", NONE),
    row("b_all", "admin_a", "admin_a", NONE),
    row("orphan", "admin_a", "admin_a", NONE),
    row("orphan_all", "admin_a", "admin_a", NONE),
    row("lone_admin", "admin_a", "admin_a", NONE),
    // The creator may do anything to what it made, and no more.
    row("a_maker", "a_maker", "a_maker", ALL),
    row("user_a", "a_maker", "a_maker", READ),
    row(
        "a_create_cert",
        "admin_a",
        "a_create_cert",
        [T, T, F, T, T, T, F, F],
    ),
    // Organization-less resources (made by the superuser): only the superuser.
    row("root", "root", "root", ALL),
    row("admin_a", "root", "root", NONE),
    row("user_a", "root", "root", NONE),
    row("a_all", "root", "root", NONE),
    row("orphan_all", "root", "root", NONE),
    row("lone_admin", "root", "root", NONE),
];

#[tokio::test]
async fn authorization_matrix() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let all_flags = json!({"can_create_ca": true, "can_create_cert": true, "can_revoke_cert": true,
                           "can_export_private_key": true, "can_delete_ca": true});
    let mut tokens: HashMap<&str, String> = HashMap::from([
        ("root", w.root.clone()),
        ("admin_a", w.admin_a.1.clone()),
        ("user_a", w.user_a.1.clone()),
        ("admin_b", w.admin_b.1.clone()),
        ("user_b", w.user_b.1.clone()),
        ("orphan", w.orphan.1.clone()),
    ]);
    let more: [(&str, &str, Option<i64>, Value); 11] = [
        ("admin_a2", "admin", Some(w.org_a), json!({})),
        (
            "a_create_ca",
            "user",
            Some(w.org_a),
            json!({"can_create_ca": true}),
        ),
        (
            "a_create_cert",
            "user",
            Some(w.org_a),
            json!({"can_create_cert": true}),
        ),
        (
            "a_revoke",
            "user",
            Some(w.org_a),
            json!({"can_revoke_cert": true}),
        ),
        (
            "a_export",
            "user",
            Some(w.org_a),
            json!({"can_export_private_key": true}),
        ),
        (
            "a_delete",
            "user",
            Some(w.org_a),
            json!({"can_delete_ca": true}),
        ),
        ("a_all", "user", Some(w.org_a), all_flags.clone()),
        (
            "a_maker",
            "user",
            Some(w.org_a),
            json!({"can_create_ca": true, "can_create_cert": true}),
        ),
        ("b_all", "user", Some(w.org_b), all_flags.clone()),
        ("orphan_all", "user", None, all_flags.clone()),
        ("lone_admin", "admin", None, json!({})),
    ];
    for (name, role, org, flags) in more {
        let (_, token) = s.create_user(&w.root, name, role, org, flags).await;
        tokens.insert(name, token);
    }

    let mut table = String::new();
    let mut wrong = Vec::new();
    for (n, r) in ROWS.iter().enumerate() {
        let who = &tokens[r.who];
        let ca = s
            .create_ca(&tokens[r.ca_by], &format!("Matrix {n}"), json!({}))
            .await;
        let ca_id = ca["id"].as_i64().unwrap();
        let cert = s
            .issue(
                &tokens[r.cert_by],
                ca_id,
                &format!("m{n}.example.com"),
                "server",
                json!({}),
            )
            .await;
        let cert_id = cert["id"].as_i64().unwrap();
        let mut line = format!("{:>14} on {:>13}/{:<13}", r.who, r.ca_by, r.cert_by);
        for (act, want) in ACTS.iter().zip(r.allowed) {
            let (status, body) = match act {
                Act::ReadCa => s.get(&format!("/cas/{ca_id}"), Some(who)).await,
                Act::ReadCert => s.get(&format!("/certificates/{cert_id}"), Some(who)).await,
                Act::ExportCaKey => s.get(&format!("/cas/{ca_id}/private-key"), Some(who)).await,
                Act::ExportCertKey => {
                    s.get(&format!("/certificates/{cert_id}/private-key"), Some(who))
                        .await
                }
                Act::CreateCert => {
                    s.post(
                        &format!("/certificates/?ca_id={ca_id}"),
                        Some(who),
                        cert_body(&format!("new{n}.example.com"), "server", json!({})),
                    )
                    .await
                }
                Act::RevokeCert => {
                    s.post(
                        &format!("/certificates/{cert_id}/revoke"),
                        Some(who),
                        json!({"reason": "superseded"}),
                    )
                    .await
                }
                Act::CreateSubCa => {
                    let got = s
                        .post(
                            "/cas/",
                            Some(who),
                            ca_body(&format!("Sub {n}"), json!({"parent_ca_id": ca_id})),
                        )
                        .await;
                    if got.0 == StatusCode::CREATED {
                        // Out of the way of the deletion that follows.
                        let sub = got.1["id"].as_i64().unwrap();
                        expect(s.delete(&format!("/cas/{sub}"), Some(&w.root)).await, 204);
                    }
                    got
                }
                Act::DeleteCa => {
                    // A CA is deleted only once nothing it issued is still valid.
                    let certs = expect(
                        s.get(&format!("/certificates/?ca_id={ca_id}"), Some(&w.root))
                            .await,
                        200,
                    );
                    for c in certs.as_array().unwrap() {
                        if c["status"] == "valid" {
                            let path = format!("/certificates/{}/revoke", c["id"]);
                            expect(s.post(&path, Some(&w.root), json!({})).await, 200);
                        }
                    }
                    s.delete(&format!("/cas/{ca_id}"), Some(who)).await
                }
            };
            let ok = status.is_success();
            line.push_str(&format!(" {:?}={}", act, status.as_u16()));
            if !(ok == want && (ok || status == StatusCode::FORBIDDEN)) {
                wrong.push(format!(
                    "{} acting on CA by {} / cert by {}: {act:?} -> {status} {body}, expected {}",
                    r.who,
                    r.ca_by,
                    r.cert_by,
                    if want { "2xx" } else { "403" }
                ));
            }
        }
        table.push_str(&line);
        table.push('\n');
    }
    println!("{table}");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_pki_route_needs_a_valid_token() {
    use reqwest::Method;
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca = s.create_ca(&w.admin_a.1, "Locked", json!({})).await;
    let ca_id = ca["id"].as_i64().unwrap();
    let cert = s
        .issue(
            &w.admin_a.1,
            ca_id,
            "locked.example.com",
            "server",
            json!({}),
        )
        .await;
    let cert_id = cert["id"].as_i64().unwrap();
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/cas/".into(), Some(ca_body("X", json!({})))),
        (Method::GET, "/cas/".into(), None),
        (Method::GET, format!("/cas/{ca_id}"), None),
        (Method::GET, format!("/cas/{ca_id}/private-key"), None),
        (Method::GET, format!("/cas/{ca_id}/chain"), None),
        (Method::GET, format!("/cas/{ca_id}/children"), None),
        (
            Method::PATCH,
            format!("/cas/{ca_id}"),
            Some(json!({"organization_id": w.org_a})),
        ),
        (Method::DELETE, format!("/cas/{ca_id}"), None),
        (
            Method::POST,
            format!("/certificates/?ca_id={ca_id}"),
            Some(cert_body("x.example.com", "server", json!({}))),
        ),
        (
            Method::POST,
            "/certificates/sign-csr".into(),
            Some(json!({"csr": "x", "ca_id": ca_id})),
        ),
        (Method::GET, "/certificates/".into(), None),
        (Method::GET, format!("/certificates/{cert_id}"), None),
        (
            Method::GET,
            format!("/certificates/{cert_id}/private-key"),
            None,
        ),
        (
            Method::POST,
            format!("/certificates/{cert_id}/revoke"),
            Some(json!({})),
        ),
        (Method::GET, format!("/export/ca/{ca_id}/certificate"), None),
        (Method::GET, format!("/export/ca/{ca_id}/private-key"), None),
        (Method::GET, format!("/export/certificate/{cert_id}"), None),
        (
            Method::GET,
            format!("/export/certificate/{cert_id}/private-key"),
            None,
        ),
        (
            Method::GET,
            format!("/export/certificate/{cert_id}/chain"),
            None,
        ),
    ];
    let mut tokens: Vec<Option<String>> = vec![None, Some(String::new())];
    tokens.extend(bad_tokens(&w.admin_a.1).into_iter().map(Some));
    let mut wrong = vec![];
    for (method, path, body) in &routes {
        for token in &tokens {
            let mut rb = s.req(method.clone(), path, None);
            if let Some(t) = token {
                rb = rb.header("authorization", format!("Bearer {t}"));
            }
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let r = rb.send().await.unwrap();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string());
            if r.status() != StatusCode::UNAUTHORIZED || challenge.as_deref() != Some("Bearer") {
                wrong.push(format!(
                    "{method} {path} with {token:?}: {} {challenge:?}",
                    r.status()
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing changed.
    let v = expect(
        s.get(&format!("/certificates/{cert_id}"), Some(&w.root))
            .await,
        200,
    );
    assert_eq!(v["status"], "valid");
    expect(s.get(&format!("/cas/{ca_id}"), Some(&w.root)).await, 200);
    assert_eq!(
        expect(s.get("/cas/", Some(&w.root)).await, 200)
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
