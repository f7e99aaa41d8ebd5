//! `/service-accounts`, service-account tokens, issuance policies, and the
//! automation scenario: narrow policy, issue inside, refused outside, renew,
//! lose access the moment the token is revoked.

use serde_json::{Value, json};

use crate::common::{Server, World, expect, ids};

async fn ca(s: &Server, token: &str, name: &str) -> i64 {
    let v = expect(
        s.post("/cas/", Some(token), json!({"name": name, "subject_dn": format!("CN={name}"), "key_algorithm": "ecdsa-p256"}))
            .await,
        201,
    );
    v["id"].as_i64().unwrap()
}

/// An account in org A with can_create_cert, and its token.
async fn account(s: &Server, admin: &str, name: &str) -> (i64, String) {
    let a = expect(
        s.post(
            "/service-accounts/",
            Some(admin),
            json!({"name": name, "can_create_cert": true}),
        )
        .await,
        201,
    );
    let id = a["id"].as_i64().unwrap();
    let t = expect(
        s.post(
            &format!("/service-accounts/{id}/tokens"),
            Some(admin),
            json!({"name": "ci"}),
        )
        .await,
        201,
    );
    (id, t["token"].as_str().unwrap().to_string())
}

fn issue_body(cn: &str) -> Value {
    json!({"common_name": cn, "certificate_type": "server", "key_algorithm": "ecdsa-p256", "valid_days": 30})
}

#[tokio::test]
async fn crud_scoping_and_who_may_manage() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let v = expect(
        s.post(
            "/service-accounts/",
            Some(&w.admin_a.1),
            json!({"name": "deployer", "description": "d", "can_revoke_cert": true}),
        )
        .await,
        201,
    );
    for key in [
        "id",
        "name",
        "description",
        "organization_id",
        "disabled_at",
        "created_at",
        "can_create_ca",
        "can_create_cert",
        "can_revoke_cert",
        "can_export_private_key",
        "can_delete_ca",
    ] {
        assert!(v.get(key).is_some(), "{key}");
    }
    assert_eq!(v["organization_id"], w.org_a);
    assert_eq!(v["can_revoke_cert"], true);
    let id = v["id"].as_i64().unwrap();
    let path = format!("/service-accounts/{id}");
    // Same name in the same organization: 400; in another organization: fine.
    expect(
        s.post(
            "/service-accounts/",
            Some(&w.admin_a.1),
            json!({"name": "deployer"}),
        )
        .await,
        400,
    );
    expect(
        s.post(
            "/service-accounts/",
            Some(&w.admin_b.1),
            json!({"name": "deployer"}),
        )
        .await,
        201,
    );
    // An admin's organization_id is ignored (FastPKI): the account lands in
    // the admin's own organization. Superusers choose.
    let ignored = expect(
        s.post(
            "/service-accounts/",
            Some(&w.admin_a.1),
            json!({"name": "x", "organization_id": w.org_b}),
        )
        .await,
        201,
    );
    assert_eq!(ignored["organization_id"], w.org_a);
    expect(
        s.delete(
            &format!("/service-accounts/{}", ignored["id"]),
            Some(&w.admin_a.1),
        )
        .await,
        204,
    );
    let su = expect(
        s.post(
            "/service-accounts/",
            Some(&w.root),
            json!({"name": "x", "organization_id": w.org_b}),
        )
        .await,
        201,
    );
    assert_eq!(su["organization_id"], w.org_b);
    expect(
        s.post(
            "/service-accounts/",
            Some(&w.root),
            json!({"name": "y", "organization_id": 9999}),
        )
        .await,
        404,
    );
    // A superuser without an organization must name one.
    let missing = expect(
        s.post("/service-accounts/", Some(&w.root), json!({"name": "y"}))
            .await,
        400,
    );
    assert_eq!(missing["detail"], "organization_id is required");
    // Members read their organization's accounts; only admins manage them.
    let seen = expect(s.get("/service-accounts/", Some(&w.user_a.1)).await, 200);
    assert_eq!(ids(&seen), vec![id]);
    let one = expect(s.get(&path, Some(&w.user_a.1)).await, 200);
    assert_eq!(one["name"], "deployer");
    expect(s.get(&path, Some(&w.user_b.1)).await, 404);
    expect(
        s.patch(&path, Some(&w.user_a.1), json!({"name": "mine"}))
            .await,
        403,
    );
    expect(s.delete(&path, Some(&w.user_a.1)).await, 403);
    expect(
        s.post(&format!("{path}/tokens"), Some(&w.user_a.1), json!({}))
            .await,
        403,
    );
    expect(
        s.get(&format!("{path}/tokens"), Some(&w.user_a.1)).await,
        403,
    );
    expect(
        s.get(&format!("{path}/policy"), Some(&w.user_a.1)).await,
        403,
    );
    // Without an organization, nothing to see.
    let none = expect(s.get("/service-accounts/", Some(&w.orphan.1)).await, 200);
    assert_eq!(none, json!([]));
    expect(s.get(&path, Some(&w.orphan.1)).await, 404);
    // Superusers see every organization's, ordered by name.
    let all = expect(s.get("/service-accounts/", Some(&w.root)).await, 200);
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["deployer", "deployer", "x"]);
    let orgs: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["organization_id"])
        .collect();
    assert!(orgs.contains(&&json!(w.org_a)) && orgs.contains(&&json!(w.org_b)));
    // Plain users cannot create; another organization's account: 404.
    expect(
        s.post(
            "/service-accounts/",
            Some(&w.user_a.1),
            json!({"name": "z"}),
        )
        .await,
        403,
    );
    expect(s.get(&path, Some(&w.admin_b.1)).await, 404);
    expect(
        s.patch(&path, Some(&w.admin_b.1), json!({"name": "stolen"}))
            .await,
        404,
    );
    expect(s.delete(&path, Some(&w.admin_b.1)).await, 404);
    expect(s.get(&path, Some(&w.root)).await, 200);
    expect(
        s.get("/service-accounts/999999", Some(&w.admin_a.1)).await,
        404,
    );
    expect(
        s.get("/service-accounts/abc", Some(&w.admin_a.1)).await,
        422,
    );
    expect(
        s.post(
            "/service-accounts/",
            Some(&w.admin_a.1),
            json!({"name": ""}),
        )
        .await,
        422,
    );
    expect(s.get("/service-accounts/", None).await, 401);
    let mine = expect(s.get("/service-accounts/", Some(&w.admin_a.1)).await, 200);
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|a| a["organization_id"] == w.org_a)
    );
    assert_eq!(mine.as_array().unwrap().len(), 1);
    // Update and disable.
    let v = expect(
        s.patch(
            &path,
            Some(&w.admin_a.1),
            json!({"name": "deployer2", "can_create_cert": true, "disabled": true}),
        )
        .await,
        200,
    );
    assert_eq!(v["name"], "deployer2");
    assert!(v["disabled_at"].is_string());
    let v = expect(
        s.patch(&path, Some(&w.admin_a.1), json!({"disabled": false}))
            .await,
        200,
    );
    assert!(v["disabled_at"].is_null());
    // A service-account token never manages service accounts.
    let (_, token) = account(&s, &w.admin_a.1, "robot").await;
    expect(s.get("/service-accounts/", Some(&token)).await, 403);
    expect(
        s.post("/service-accounts/", Some(&token), json!({"name": "child"}))
            .await,
        403,
    );
    expect(s.delete(&path, Some(&w.admin_a.1)).await, 204);
    expect(s.get(&path, Some(&w.admin_a.1)).await, 404);
    let audit = expect(
        s.get(
            "/audit-logs/?resource_type=service_account",
            Some(&w.admin_a.1),
        )
        .await,
        200,
    );
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "service_account_create",
        "service_account_update",
        "service_account_delete",
        "service_account_token_create",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

#[tokio::test]
async fn token_lifecycle() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (id, token) = account(&s, &w.admin_a.1, "robot").await;
    assert!(token.starts_with("fpki_sa_"));
    let ca_id = ca(&s, &w.admin_a.1, "Org A CA").await;
    // The token works (organization-scoped reads) and last_used_at is recorded.
    expect(s.get(&format!("/cas/{ca_id}"), Some(&token)).await, 200);
    let list = expect(
        s.get(
            &format!("/service-accounts/{id}/tokens"),
            Some(&w.admin_a.1),
        )
        .await,
        200,
    );
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        list[0].get("token").is_none(),
        "the secret is shown only once"
    );
    assert!(list[0]["last_used_at"].is_string());
    assert_eq!(list[0]["revoked"], false);
    // Users-only routes refuse service accounts.
    expect(s.get("/users/me", Some(&token)).await, 403);
    expect(s.get("/audit-logs/", Some(&token)).await, 403);
    // Tampered secrets and unknown ids: 401.
    let tampered = format!("{}x", &token[..token.len() - 1]);
    expect(s.get(&format!("/cas/{ca_id}"), Some(&tampered)).await, 401);
    expect(
        s.get(
            &format!("/cas/{ca_id}"),
            Some("fpki_sa_0000000000000000.secret"),
        )
        .await,
        401,
    );
    expect(
        s.get(&format!("/cas/{ca_id}"), Some("fpki_sa_garbage"))
            .await,
        401,
    );
    // Disabled account: 401; enabled again: works.
    expect(
        s.patch(
            &format!("/service-accounts/{id}"),
            Some(&w.admin_a.1),
            json!({"disabled": true}),
        )
        .await,
        200,
    );
    expect(s.get(&format!("/cas/{ca_id}"), Some(&token)).await, 401);
    expect(
        s.patch(
            &format!("/service-accounts/{id}"),
            Some(&w.admin_a.1),
            json!({"disabled": false}),
        )
        .await,
        200,
    );
    expect(s.get(&format!("/cas/{ca_id}"), Some(&token)).await, 200);
    // Expired token: refused at creation when in the past.
    expect(
        s.post(
            &format!("/service-accounts/{id}/tokens"),
            Some(&w.admin_a.1),
            json!({"expires_at": "2000-01-01T00:00:00Z"}),
        )
        .await,
        422,
    );
    expect(
        s.post(
            &format!("/service-accounts/{id}/tokens"),
            Some(&w.admin_a.1),
            json!({"expires_at": "soon"}),
        )
        .await,
        422,
    );
    let t2 = expect(
        s.post(
            &format!("/service-accounts/{id}/tokens"),
            Some(&w.admin_a.1),
            json!({"expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await,
        201,
    );
    let t2_id = t2["id"].as_i64().unwrap();
    let t2 = t2["token"].as_str().unwrap().to_string();
    expect(s.get(&format!("/cas/{ca_id}"), Some(&t2)).await, 200);
    // Revocation: immediate; another organization's admin cannot; unknown token 404.
    expect(
        s.delete(
            &format!("/service-accounts/{id}/tokens/{t2_id}"),
            Some(&w.admin_b.1),
        )
        .await,
        404,
    );
    expect(
        s.delete(
            &format!("/service-accounts/{id}/tokens/{t2_id}"),
            Some(&w.admin_a.1),
        )
        .await,
        204,
    );
    expect(s.get(&format!("/cas/{ca_id}"), Some(&t2)).await, 401);
    expect(
        s.delete(
            &format!("/service-accounts/{id}/tokens/99999"),
            Some(&w.admin_a.1),
        )
        .await,
        404,
    );
    // Deleting the account takes its tokens with it.
    expect(
        s.delete(&format!("/service-accounts/{id}"), Some(&w.admin_a.1))
            .await,
        204,
    );
    expect(s.get(&format!("/cas/{ca_id}"), Some(&token)).await, 401);
    let audit = expect(
        s.get(
            "/audit-logs/?action=service_account_token_revoke",
            Some(&w.admin_a.1),
        )
        .await,
        200,
    );
    assert_eq!(audit.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn expired_token_is_refused() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (id, _) = account(&s, &w.admin_a.1, "robot").await;
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let t = expect(
        s.post(
            &format!("/service-accounts/{id}/tokens"),
            Some(&w.admin_a.1),
            json!({"expires_at": in_an_hour}),
        )
        .await,
        201,
    );
    let token_id = t["id"].as_i64().expect("token id");
    let t = t["token"].as_str().unwrap().to_string();
    let ca_id = ca(&s, &w.admin_a.1, "CA").await;
    expect(s.get(&format!("/cas/{ca_id}"), Some(&t)).await, 200);
    // The hour passes, in the database: expiry is read on every request, not cached,
    // and no test waits on the wall clock (the boundary itself is unit-tested in
    // auth::service_tokens with an injected `now`).
    let a_second_ago = (chrono::Utc::now() - chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut c = s.database().await;
    let moved = sqlx::query("UPDATE service_account_tokens SET expires_at = $1 WHERE id = $2")
        .bind(a_second_ago)
        .bind(token_id)
        .execute(&mut c)
        .await
        .expect("move the expiry");
    assert_eq!(moved.rows_affected(), 1);
    expect(s.get(&format!("/cas/{ca_id}"), Some(&t)).await, 401);
}

#[tokio::test]
async fn policy_routes() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (id, _) = account(&s, &w.admin_a.1, "robot").await;
    let p = format!("/service-accounts/{id}/policy");
    expect(s.get(&p, Some(&w.admin_a.1)).await, 404);
    let body = json!({"cn_patterns": ["*.svc.example.com"], "san_dns_patterns": ["*.svc.example.com"],
        "san_ip_cidrs": ["10.0.0.0/24", "fd00::/64"], "san_email_domains": ["example.com"], "allowed_ca_ids": [1],
        "allowed_certificate_types": ["server", "client"], "max_validity_days": 30});
    let v = expect(s.put(&p, Some(&w.admin_a.1), body.clone()).await, 200);
    assert_eq!(v["cn_patterns"], body["cn_patterns"]);
    // The policy object, as FastPKI's: its id, account and times.
    assert!(v["id"].as_i64().is_some(), "{v}");
    assert_eq!(v["service_account_id"], id);
    assert!(
        v["created_at"].is_string() && v["updated_at"].is_string(),
        "{v}"
    );
    let first = v.clone();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    // Replacing keeps the policy's id and creation time.
    let again = expect(s.put(&p, Some(&w.admin_a.1), body.clone()).await, 200);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["created_at"], first["created_at"]);
    assert_ne!(again["updated_at"], first["created_at"]);
    let v = expect(s.get(&p, Some(&w.admin_a.1)).await, 200);
    assert_eq!(v["id"], first["id"]);
    assert_eq!(v["created_at"], first["created_at"]);
    assert_eq!(v["san_ip_cidrs"], body["san_ip_cidrs"]);
    assert_eq!(v["max_validity_days"], 30);
    expect(s.get(&p, Some(&w.admin_b.1)).await, 404);
    expect(s.put(&p, Some(&w.user_a.1), body.clone()).await, 403);
    for bad in [
        json!({"san_ip_cidrs": ["10.0.0.0/33"]}),
        json!({"allowed_certificate_types": ["root"]}),
        json!({"max_validity_days": 0}),
        json!({"cn_patterns": "not a list"}),
    ] {
        expect(s.put(&p, Some(&w.admin_a.1), bad).await, 422);
    }
    expect(s.delete(&p, Some(&w.admin_a.1)).await, 204);
    expect(s.delete(&p, Some(&w.admin_a.1)).await, 404);
    expect(s.get(&p, Some(&w.admin_a.1)).await, 404);
}

#[tokio::test]
async fn policy_is_enforced_on_issue_sign_csr_and_renew() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca_id = ca(&s, &w.admin_a.1, "Issuing").await;
    let other_ca = ca(&s, &w.admin_a.1, "Other").await;
    let (id, token) = account(&s, &w.admin_a.1, "robot").await;
    let issue_path = format!("/certificates/?ca_id={ca_id}");
    let issue = |cn: &str| s.post(&issue_path, Some(&token), issue_body(cn));

    // No policy: the documented 403 body.
    let v = expect(issue("api.svc.example.com").await, 403);
    assert_eq!(v["detail"]["code"], "service_account_has_no_policy");

    expect(
        s.put(&format!("/service-accounts/{id}/policy"), Some(&w.admin_a.1), json!({
            "cn_patterns": ["*.svc.example.com"], "san_dns_patterns": ["*.svc.example.com"],
            "san_ip_cidrs": ["10.0.0.0/24", "fd00::/64"], "san_email_domains": ["example.com"],
            "allowed_ca_ids": [ca_id], "allowed_certificate_types": ["server", "dual_purpose"], "max_validity_days": 30}))
        .await,
        200,
    );
    let ok = expect(issue("api.svc.example.com").await, 201);
    assert_eq!(ok["created_by_service_account_id"], id);
    assert!(ok["created_by_user_id"].is_null());
    assert_eq!(ok["organization_id"], w.org_a);

    // FastPKI's shape: the policy constraint that refused, and the effective value.
    let violation = |v: &Value, field: &str, value: Value| {
        assert_eq!(v["detail"]["code"], "policy_violation", "{v}");
        assert_eq!(v["detail"]["field"], field, "{v}");
        assert_eq!(v["detail"]["value"], value, "{v}");
    };
    // `*.svc.example.com` does not match `svc.example.com` (CN, then the default DNS SAN).
    violation(
        &expect(issue("svc.example.com").await, 400),
        "cn_patterns",
        json!("svc.example.com"),
    );
    let mut b = issue_body("api.svc.example.com");
    b["san_dns_names"] = json!(["API.SVC.EXAMPLE.COM", "svc.example.com"]);
    violation(
        &expect(
            s.post(&format!("/certificates/?ca_id={ca_id}"), Some(&token), b)
                .await,
            400,
        ),
        "san_dns_patterns",
        json!("svc.example.com"),
    );
    // DNS globs are case-insensitive.
    let mut b = issue_body("api.svc.example.com");
    b["san_dns_names"] = json!(["WEB.Svc.Example.Com"]);
    expect(
        s.post(&format!("/certificates/?ca_id={ca_id}"), Some(&token), b)
            .await,
        201,
    );
    // CIDR edges, IPv4 and IPv6.
    for (ip, allowed) in [
        ("10.0.0.0", true),
        ("10.0.0.255", true),
        ("10.0.1.0", false),
        ("9.255.255.255", false),
        ("fd00::ffff", true),
        ("fd00:0:0:1::", false),
    ] {
        let mut b = issue_body("api.svc.example.com");
        b["san_ip_addresses"] = json!([ip]);
        let r = s
            .post(&format!("/certificates/?ca_id={ca_id}"), Some(&token), b)
            .await;
        if allowed {
            expect(r, 201);
        } else {
            violation(&expect(r, 400), "san_ip_cidrs", json!(ip));
        }
    }
    // E-mail domains are exact (dual_purpose may carry e-mail SANs).
    let mut b = issue_body("api.svc.example.com");
    b["certificate_type"] = json!("dual_purpose");
    b["san_email_addresses"] = json!(["ops@mail.example.com"]);
    violation(
        &expect(
            s.post(
                &format!("/certificates/?ca_id={ca_id}"),
                Some(&token),
                b.clone(),
            )
            .await,
            400,
        ),
        "san_email_domains",
        json!("ops@mail.example.com"),
    );
    b["san_email_addresses"] = json!(["ops@example.com"]);
    expect(
        s.post(&format!("/certificates/?ca_id={ca_id}"), Some(&token), b)
            .await,
        201,
    );
    // Validity: the default (365 days) is what is checked when none is given.
    let mut b = issue_body("api.svc.example.com");
    b.as_object_mut().unwrap().remove("valid_days");
    violation(
        &expect(
            s.post(&format!("/certificates/?ca_id={ca_id}"), Some(&token), b)
                .await,
            400,
        ),
        "max_validity_days",
        json!(365),
    );
    // Type and CA.
    let mut b = issue_body("api.svc.example.com");
    b["certificate_type"] = json!("client");
    violation(
        &expect(
            s.post(&format!("/certificates/?ca_id={ca_id}"), Some(&token), b)
                .await,
            400,
        ),
        "allowed_certificate_types",
        json!("client"),
    );
    violation(
        &expect(
            s.post(
                &format!("/certificates/?ca_id={other_ca}"),
                Some(&token),
                issue_body("api.svc.example.com"),
            )
            .await,
            400,
        ),
        "allowed_ca_ids",
        json!(other_ca),
    );

    // sign-csr: the CSR's values are what is checked.
    let dir = tempfile::tempdir().unwrap();
    let csr = |cn: &str| {
        let key = dir.path().join(format!("{cn}.key"));
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
            .arg(&key)
            .output()
            .expect("openssl runs");
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let signed = expect(
        s.post(
            "/certificates/sign-csr",
            Some(&token),
            json!({"csr": csr("db.svc.example.com"), "ca_id": ca_id, "valid_days": 30}),
        )
        .await,
        201,
    );
    // The CSR allowed by the policy was really signed, for its own name.
    assert_eq!(signed["common_name"], "db.svc.example.com", "{signed}");
    violation(
        &expect(
            s.post(
                "/certificates/sign-csr",
                Some(&token),
                json!({"csr": csr("evil.example.org"), "ca_id": ca_id, "valid_days": 30}),
            )
            .await,
            400,
        ),
        "cn_patterns",
        json!("evil.example.org"),
    );
    // Renewal is re-evaluated: narrow the policy and the renewal is refused.
    let renewed = expect(
        s.post(
            &format!("/certificates/{}/renew", ok["id"]),
            Some(&token),
            json!({}),
        )
        .await,
        201,
    );
    assert_eq!(renewed["renewed_from_id"], ok["id"]);
    expect(
        s.put(&format!("/service-accounts/{id}/policy"), Some(&w.admin_a.1), json!({
            "cn_patterns": ["only.svc.example.com"], "san_dns_patterns": ["*.svc.example.com"],
            "allowed_ca_ids": [ca_id], "allowed_certificate_types": ["server"], "max_validity_days": 30}))
        .await,
        200,
    );
    violation(
        &expect(
            s.post(
                &format!("/certificates/{}/renew", ok["id"]),
                Some(&token),
                json!({}),
            )
            .await,
            400,
        ),
        "cn_patterns",
        json!("api.svc.example.com"),
    );
    // Users are not bound by policies.
    expect(
        s.post(
            &format!("/certificates/?ca_id={ca_id}"),
            Some(&w.admin_a.1),
            issue_body("anything.example.org"),
        )
        .await,
        201,
    );
    // Audit entries name the account.
    let audit = expect(
        s.get("/audit-logs/?action=cert_create", Some(&w.admin_a.1))
            .await,
        200,
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["service_account_id"] == id
                && e["service_account_name"] == "robot"
                && e["user_id"].is_null())
    );
}

#[tokio::test]
async fn automation_scenario_revocation_is_immediate() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ca_id = ca(&s, &w.admin_a.1, "Issuing").await;
    let (id, token) = account(&s, &w.admin_a.1, "cert-manager").await;
    expect(
        s.put(&format!("/service-accounts/{id}/policy"), Some(&w.admin_a.1), json!({
            "cn_patterns": ["*.apps.example.com"], "san_dns_patterns": ["*.apps.example.com"],
            "allowed_ca_ids": [ca_id], "allowed_certificate_types": ["server"], "max_validity_days": 90}))
        .await,
        200,
    );
    let cert = expect(
        s.post(
            &format!("/certificates/?ca_id={ca_id}"),
            Some(&token),
            issue_body("web.apps.example.com"),
        )
        .await,
        201,
    );
    assert!(
        cert["private_key"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let refused = expect(
        s.post(
            &format!("/certificates/?ca_id={ca_id}"),
            Some(&token),
            issue_body("web.other.example.com"),
        )
        .await,
        400,
    );
    assert_eq!(refused["detail"]["code"], "policy_violation");
    let renewed = expect(
        s.post(
            &format!("/certificates/{}/renew", cert["id"]),
            Some(&token),
            json!({}),
        )
        .await,
        201,
    );
    assert_eq!(renewed["renewed_from_id"], cert["id"]);
    let tokens = expect(
        s.get(
            &format!("/service-accounts/{id}/tokens"),
            Some(&w.admin_a.1),
        )
        .await,
        200,
    );
    let token_id = tokens[0]["id"].as_i64().unwrap();
    expect(
        s.delete(
            &format!("/service-accounts/{id}/tokens/{token_id}"),
            Some(&w.admin_a.1),
        )
        .await,
        204,
    );
    expect(
        s.post(
            &format!("/certificates/?ca_id={ca_id}"),
            Some(&token),
            issue_body("web2.apps.example.com"),
        )
        .await,
        401,
    );
    expect(
        s.get(&format!("/certificates/{}", cert["id"]), Some(&token))
            .await,
        401,
    );
}

/// A service-account token is for CAs, certificates and exports: every route
/// about people, organizations, the audit log, service accounts or sessions
/// answers 403 to it, while the PKI routes still serve it.
#[tokio::test]
async fn service_account_tokens_reach_only_pki_routes() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (id, token) = account(&s, &w.admin_a.1, "robot").await;
    let org = w.org_a;
    let user = w.user_a.0;
    let refused: Vec<(&str, String, Value)> = vec![
        ("GET", "/users/".into(), json!(null)),
        ("GET", "/users/me".into(), json!(null)),
        ("GET", format!("/users/{user}"), json!(null)),
        (
            "PATCH",
            format!("/users/{user}"),
            json!({"email": "x@example.com"}),
        ),
        ("DELETE", format!("/users/{user}"), json!(null)),
        (
            "POST",
            "/users/".into(),
            json!({"username": "bot-made", "email": "bm@example.com", "password": "long enough pw"}),
        ),
        ("GET", "/organizations/".into(), json!(null)),
        ("POST", "/organizations/".into(), json!({"name": "bots"})),
        ("GET", format!("/organizations/{org}"), json!(null)),
        (
            "PUT",
            format!("/organizations/{org}"),
            json!({"name": "renamed"}),
        ),
        ("DELETE", format!("/organizations/{org}"), json!(null)),
        ("GET", format!("/organizations/{org}/users"), json!(null)),
        (
            "POST",
            format!("/organizations/{org}/users/{user}"),
            json!({}),
        ),
        (
            "DELETE",
            format!("/organizations/{org}/users/{user}"),
            json!(null),
        ),
        ("GET", "/audit-logs/".into(), json!(null)),
        ("GET", "/service-accounts/".into(), json!(null)),
        ("GET", format!("/service-accounts/{id}"), json!(null)),
        ("GET", format!("/service-accounts/{id}/tokens"), json!(null)),
        ("GET", format!("/service-accounts/{id}/policy"), json!(null)),
        ("POST", "/auth/logout".into(), json!({"refresh_token": "x"})),
        ("POST", "/auth/invalidate".into(), json!(null)),
    ];
    for (method, path, body) in refused {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut r = s.req(m, &path, Some(&token));
        if !body.is_null() {
            r = r.json(&body);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 403, "{method} {path}");
    }
    // Nothing was changed by the refused calls.
    let org_now = expect(
        s.get(&format!("/organizations/{org}"), Some(&w.admin_a.1))
            .await,
        200,
    );
    assert_eq!(org_now["name"], "org-a");
    expect(s.get(&format!("/users/{user}"), Some(&w.root)).await, 200);
    // The PKI routes still answer it.
    expect(s.get("/cas/", Some(&token)).await, 200);
    expect(s.get("/certificates/", Some(&token)).await, 200);
}
