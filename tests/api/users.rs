//! `/users`: bootstrap, registration policy, who may read, set and delete what.

use serde_json::json;

use crate::common::{PASSWORD, Server, World, expect};

fn new_user(name: &str, role: &str) -> serde_json::Value {
    json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD, "role": role})
}

#[tokio::test]
async fn first_user_bootstraps_then_registration_is_closed() {
    let s = Server::start().await;
    let v = expect(
        s.post("/users/", None, new_user("first", "superuser"))
            .await,
        201,
    );
    assert_eq!(v["role"], "superuser");
    assert_eq!(v["is_active"], true);
    for key in [
        "id",
        "username",
        "email",
        "organization_id",
        "can_create_ca",
        "can_create_cert",
        "can_revoke_cert",
        "can_export_private_key",
        "can_delete_ca",
        "created_at",
        "updated_at",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    assert!(v.get("hashed_password").is_none() && v.get("password").is_none());
    // After the first user: anonymous creation is refused.
    expect(
        s.post("/users/", None, new_user("second", "user")).await,
        403,
    );
    expect(
        s.post("/users/", None, new_user("third", "superuser"))
            .await,
        403,
    );
}

#[tokio::test]
async fn open_registration_allows_plain_users_only() {
    let s = Server::start_with(&[("ALLOW_UNAUTHENTICATED_REGISTRATION", "true")]).await;
    s.bootstrap().await;
    let v = expect(s.post("/users/", None, new_user("joe", "user")).await, 201);
    assert_eq!(v["role"], "user");
    expect(
        s.post("/users/", None, new_user("boss", "admin")).await,
        403,
    );
    expect(
        s.post("/users/", None, new_user("god", "superuser")).await,
        403,
    );
    let mut flagged = new_user("sneaky", "user");
    flagged["can_create_ca"] = json!(true);
    expect(s.post("/users/", None, flagged).await, 403);
}

#[tokio::test]
async fn elevated_roles_need_a_superuser() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    expect(
        s.post("/users/", Some(&w.admin_a.1), new_user("x1", "admin"))
            .await,
        403,
    );
    expect(
        s.post("/users/", Some(&w.admin_a.1), new_user("x2", "superuser"))
            .await,
        403,
    );
    expect(
        s.post("/users/", Some(&w.user_a.1), new_user("x3", "admin"))
            .await,
        403,
    );
    let v = expect(
        s.post("/users/", Some(&w.root), new_user("x4", "admin"))
            .await,
        201,
    );
    assert_eq!(v["role"], "admin");
}

/// Any signed-in user may bring plain users into its own organization, with
/// open registration off (it governs callers without a token only).
#[tokio::test]
async fn users_create_plain_users_in_their_own_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let v = expect(
        s.post("/users/", Some(&w.user_a.1), new_user("colleague", "user"))
            .await,
        201,
    );
    assert_eq!(v["role"], "user");
    assert_eq!(v["organization_id"], w.org_a);
    let mut named = new_user("colleague2", "user");
    named["organization_id"] = json!(w.org_a);
    let v = expect(s.post("/users/", Some(&w.user_a.1), named).await, 201);
    assert_eq!(v["organization_id"], w.org_a);
    // Another organization, an elevated role, or capability flags: 403.
    let mut elsewhere = new_user("spy", "user");
    elsewhere["organization_id"] = json!(w.org_b);
    expect(s.post("/users/", Some(&w.user_a.1), elsewhere).await, 403);
    for role in ["admin", "superuser"] {
        expect(
            s.post("/users/", Some(&w.user_a.1), new_user("boss", role))
                .await,
            403,
        );
    }
    let mut flagged = new_user("flagged", "user");
    flagged["can_create_ca"] = json!(true);
    expect(s.post("/users/", Some(&w.user_a.1), flagged).await, 403);
    // A user without an organization creates users without one.
    let v = expect(
        s.post("/users/", Some(&w.orphan.1), new_user("loner", "user"))
            .await,
        201,
    );
    assert!(v["organization_id"].is_null());
    // The new user logs in; the creation is audited under the organization.
    s.login("colleague").await;
    let audit = expect(
        s.get("/audit-logs/?action=user_create", Some(&w.admin_a.1))
            .await,
        200,
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["username"] == "user_a" && e["organization_id"] == w.org_a)
    );
}

#[tokio::test]
async fn admin_creates_users_with_flags_in_its_own_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let mut body = new_user("worker", "user");
    body["can_create_cert"] = json!(true);
    let v = expect(
        s.post("/users/", Some(&w.admin_a.1), body.clone()).await,
        201,
    );
    assert_eq!(v["organization_id"], w.org_a);
    assert_eq!(v["can_create_cert"], true);
    body["username"] = json!("worker2");
    body["email"] = json!("worker2@example.com");
    body["organization_id"] = json!(w.org_b);
    expect(s.post("/users/", Some(&w.admin_a.1), body).await, 403);
    let audit = expect(
        s.get("/audit-logs/?action=user_create", Some(&w.admin_a.1))
            .await,
        200,
    );
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["resource_id"] == v["id"] && e["username"] == "admin_a")
    );
}

#[tokio::test]
async fn duplicates_and_bad_input() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let mut dup = new_user("root", "user");
    dup["email"] = json!("other@example.com");
    expect(s.post("/users/", Some(&root), dup).await, 400);
    let mut dup_mail = new_user("other", "user");
    dup_mail["email"] = json!("root@example.com");
    expect(s.post("/users/", Some(&root), dup_mail).await, 400);
    for bad in [
        json!({"username": "a", "email": "not-an-email", "password": PASSWORD}),
        json!({"username": "a", "email": "a@example.com", "password": "short"}),
        json!({"username": "a", "email": "a@example.com", "password": "x".repeat(73)}),
        json!({"username": "a", "email": "a@example.com", "password": PASSWORD, "role": "emperor"}),
        json!({"username": "a", "email": "a@example.com"}),
        json!({"username": 5, "email": "a@example.com", "password": PASSWORD}),
        json!([1, 2, 3]),
    ] {
        let v = expect(s.post("/users/", Some(&root), bad.clone()).await, 422);
        assert!(v["detail"].is_array(), "{bad} -> {v}");
        assert!(v["detail"][0]["loc"].is_array() && v["detail"][0]["msg"].is_string());
    }
    let mut unknown_org = new_user("orgless", "user");
    unknown_org["organization_id"] = json!(999);
    expect(s.post("/users/", Some(&root), unknown_org).await, 400);
}

#[tokio::test]
async fn list_is_superuser_only_and_paginated() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let all = expect(s.get("/users/", Some(&w.root)).await, 200);
    assert_eq!(all.as_array().unwrap().len(), 6);
    let page = expect(s.get("/users/?skip=2&limit=2", Some(&w.root)).await, 200);
    assert_eq!(page.as_array().unwrap().len(), 2);
    assert_eq!(page[0]["id"], all[2]["id"]);
    expect(s.get("/users/", Some(&w.admin_a.1)).await, 403);
    expect(s.get("/users/", Some(&w.user_a.1)).await, 403);
    expect(s.get("/users/?skip=-1", Some(&w.root)).await, 422);
    expect(s.get("/users/?limit=abc", Some(&w.root)).await, 422);
}

#[tokio::test]
async fn read_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ua = w.user_a.0;
    expect(s.get(&format!("/users/{ua}"), Some(&w.user_a.1)).await, 200);
    expect(
        s.get(&format!("/users/{ua}"), Some(&w.admin_a.1)).await,
        200,
    );
    expect(s.get(&format!("/users/{ua}"), Some(&w.root)).await, 200);
    expect(
        s.get(&format!("/users/{ua}"), Some(&w.admin_b.1)).await,
        403,
    );
    expect(s.get(&format!("/users/{ua}"), Some(&w.user_b.1)).await, 403);
    expect(
        s.get(&format!("/users/{}", w.admin_a.0), Some(&w.user_a.1))
            .await,
        403,
    );
    expect(s.get("/users/99999", Some(&w.root)).await, 404);
    expect(s.get("/users/notanumber", Some(&w.root)).await, 422);
    let me = expect(s.get("/users/me", Some(&w.orphan.1)).await, 200);
    assert_eq!(me["organization_id"], serde_json::Value::Null);
}

#[tokio::test]
async fn update_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ua = format!("/users/{}", w.user_a.0);
    // Self: email and password yes; role, activation, organization, flags no.
    let v = expect(
        s.patch(
            &ua,
            Some(&w.user_a.1),
            json!({"email": "new_a@example.com"}),
        )
        .await,
        200,
    );
    assert_eq!(v["email"], "new_a@example.com");
    expect(
        s.patch(&ua, Some(&w.user_a.1), json!({"role": "admin"}))
            .await,
        403,
    );
    expect(
        s.patch(&ua, Some(&w.user_a.1), json!({"is_active": false}))
            .await,
        403,
    );
    expect(
        s.patch(&ua, Some(&w.user_a.1), json!({"organization_id": w.org_b}))
            .await,
        403,
    );
    expect(
        s.patch(&ua, Some(&w.user_a.1), json!({"can_create_ca": true}))
            .await,
        403,
    );
    // Admin of the same organization: flags yes; role no; another organization's user no.
    let v = expect(
        s.patch(
            &ua,
            Some(&w.admin_a.1),
            json!({"can_create_ca": true, "can_revoke_cert": true}),
        )
        .await,
        200,
    );
    assert_eq!(v["can_create_ca"], true);
    assert_eq!(v["can_revoke_cert"], true);
    expect(
        s.patch(&ua, Some(&w.admin_a.1), json!({"role": "admin"}))
            .await,
        403,
    );
    expect(
        s.patch(&ua, Some(&w.admin_b.1), json!({"can_create_ca": false}))
            .await,
        403,
    );
    expect(
        s.patch(
            &ua,
            Some(&w.admin_b.1),
            json!({"email": "hijack@example.com"}),
        )
        .await,
        403,
    );
    // Another user: no.
    expect(
        s.patch(&ua, Some(&w.user_b.1), json!({"email": "x@example.com"}))
            .await,
        403,
    );
    // Superuser: everything, but not demoting itself.
    let v = expect(
        s.patch(
            &ua,
            Some(&w.root),
            json!({"role": "admin", "organization_id": w.org_b}),
        )
        .await,
        200,
    );
    assert_eq!(v["role"], "admin");
    assert_eq!(v["organization_id"], w.org_b);
    let v = expect(
        s.patch(&ua, Some(&w.root), json!({"organization_id": null}))
            .await,
        200,
    );
    assert_eq!(v["organization_id"], serde_json::Value::Null);
    let root_id = expect(s.get("/users/me", Some(&w.root)).await, 200)["id"]
        .as_i64()
        .unwrap();
    expect(
        s.patch(
            &format!("/users/{root_id}"),
            Some(&w.root),
            json!({"role": "user"}),
        )
        .await,
        403,
    );
    // Bad input and missing users.
    expect(
        s.patch(&ua, Some(&w.root), json!({"email": "nope"})).await,
        422,
    );
    expect(
        s.patch(&ua, Some(&w.root), json!({"password": "short"}))
            .await,
        422,
    );
    expect(
        s.patch(&ua, Some(&w.root), json!({"role": "king"})).await,
        422,
    );
    expect(
        s.patch(&ua, Some(&w.root), json!({"organization_id": 424242}))
            .await,
        400,
    );
    expect(
        s.patch(&ua, Some(&w.root), json!({"email": "admin_a@example.com"}))
            .await,
        400,
    );
    expect(
        s.patch(
            "/users/424242",
            Some(&w.root),
            json!({"email": "z@example.com"}),
        )
        .await,
        404,
    );
    let audit = expect(
        s.get("/audit-logs/?action=user_update", Some(&w.root))
            .await,
        200,
    );
    assert!(audit.as_array().unwrap().len() >= 4);
}

#[tokio::test]
async fn admin_cannot_take_over_a_superuser_in_its_organization() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let (sid, _) = s
        .create_user(&w.root, "super_a", "superuser", Some(w.org_a), json!({}))
        .await;
    expect(
        s.patch(
            &format!("/users/{sid}"),
            Some(&w.admin_a.1),
            json!({"password": "takeover password"}),
        )
        .await,
        403,
    );
}

#[tokio::test]
async fn delete_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let ub = format!("/users/{}", w.user_b.0);
    expect(s.delete(&ub, Some(&w.admin_b.1)).await, 403);
    expect(s.delete(&ub, Some(&w.user_b.1)).await, 403);
    expect(s.delete(&ub, Some(&w.root)).await, 204);
    expect(s.delete(&ub, Some(&w.root)).await, 404);
    let root_id = expect(s.get("/users/me", Some(&w.root)).await, 200)["id"]
        .as_i64()
        .unwrap();
    expect(
        s.delete(&format!("/users/{root_id}"), Some(&w.root)).await,
        400,
    );
    // Audit entries about a deleted user remain.
    let audit = expect(
        s.get(
            &format!("/audit-logs/?resource_type=user&resource_id={}", w.user_b.0),
            Some(&w.root),
        )
        .await,
        200,
    );
    assert!(!audit.as_array().unwrap().is_empty());
}
