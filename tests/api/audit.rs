//! `/audit-logs/`: who may read, organization scope, filters and bounds.

use serde_json::json;

use crate::common::{Server, World, expect};

#[tokio::test]
async fn scope_by_role() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    expect(s.get("/audit-logs/", Some(&w.user_a.1)).await, 403);
    expect(s.get("/audit-logs/", None).await, 401);
    let all = expect(s.get("/audit-logs/?limit=1000", Some(&w.root)).await, 200);
    let a = expect(
        s.get("/audit-logs/?limit=1000", Some(&w.admin_a.1)).await,
        200,
    );
    let all = all.as_array().unwrap();
    let a = a.as_array().unwrap();
    assert!(a.len() < all.len());
    assert!(a.iter().all(|e| e["organization_id"] == w.org_a), "{a:?}");
    for key in [
        "id",
        "created_at",
        "action",
        "user_id",
        "username",
        "organization_id",
        "resource_type",
        "resource_id",
        "detail",
    ] {
        assert!(a[0].get(key).is_some(), "{key}");
    }
    // Newest first.
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|p| p[0] > p[1]));
    // An admin without an organization sees nothing.
    let (_, lone_admin) = s
        .create_user(&w.root, "lone_admin", "admin", None, json!({}))
        .await;
    assert_eq!(
        expect(s.get("/audit-logs/", Some(&lone_admin)).await, 200),
        json!([])
    );
}

#[tokio::test]
async fn filters_and_bounds() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let by_user = expect(
        s.get(
            &format!("/audit-logs/?user_id={}", w.user_a.0),
            Some(&w.root),
        )
        .await,
        200,
    );
    assert!(
        by_user
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["user_id"] == w.user_a.0)
    );
    assert!(!by_user.as_array().unwrap().is_empty());
    let orgs = expect(
        s.get("/audit-logs/?resource_type=organization", Some(&w.root))
            .await,
        200,
    );
    assert_eq!(orgs.as_array().unwrap().len(), 2);
    let one = expect(
        s.get(
            &format!(
                "/audit-logs/?resource_type=organization&resource_id={}",
                w.org_a
            ),
            Some(&w.root),
        )
        .await,
        200,
    );
    assert_eq!(one.as_array().unwrap().len(), 1);
    let future = expect(
        s.get("/audit-logs/?since=2999-01-01T00:00:00Z", Some(&w.root))
            .await,
        200,
    );
    assert_eq!(future, json!([]));
    let past = expect(
        s.get("/audit-logs/?until=2000-01-01T00:00:00", Some(&w.root))
            .await,
        200,
    );
    assert_eq!(past, json!([]));
    let window = expect(
        s.get(
            "/audit-logs/?since=2000-01-01&until=2999-01-01T00:00:00%2B00:00",
            Some(&w.root),
        )
        .await,
        200,
    );
    assert!(!window.as_array().unwrap().is_empty());
    let page = expect(
        s.get("/audit-logs/?limit=2&skip=1", Some(&w.root)).await,
        200,
    );
    assert_eq!(page.as_array().unwrap().len(), 2);
    for bad in [
        "limit=0",
        "limit=1001",
        "skip=-1",
        "since=yesterday",
        "user_id=abc",
        "resource_id=1.5",
        "action=no_such_action",
        "action=CA_CREATE",
        "action=",
    ] {
        expect(
            s.get(&format!("/audit-logs/?{bad}"), Some(&w.root)).await,
            422,
        );
    }
    // An unknown action is FastAPI's enum error, naming what is accepted.
    let v = expect(
        s.get("/audit-logs/?action=cert_created", Some(&w.root))
            .await,
        422,
    );
    assert_eq!(v["detail"][0]["loc"], json!(["query", "action"]));
    assert_eq!(v["detail"][0]["type"], "enum");
    let msg = v["detail"][0]["msg"].as_str().unwrap();
    assert!(
        msg.contains("'cert_create'") && msg.contains("'org_add_user'"),
        "{msg}"
    );
    // Every documented action is accepted as a filter.
    for action in [
        "ca_create",
        "ca_update",
        "ca_delete",
        "ca_export_private_key",
        "cert_create",
        "cert_revoke",
        "cert_export_private_key",
        "login_success",
        "login_failure",
        "user_create",
        "user_update",
        "org_create",
        "org_delete",
        "org_add_user",
        "org_remove_user",
        "service_account_create",
        "service_account_update",
        "service_account_delete",
        "service_account_token_create",
        "service_account_token_revoke",
        "ca_revoke",
        "refresh_token_reuse",
        "user_delete",
        "org_update",
        "service_account_policy_set",
        "service_account_policy_clear",
    ] {
        expect(
            s.get(&format!("/audit-logs/?action={action}"), Some(&w.root))
                .await,
            200,
        );
    }
}

#[tokio::test]
async fn no_route_changes_entries() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    for method in [
        reqwest::Method::DELETE,
        reqwest::Method::PUT,
        reqwest::Method::PATCH,
        reqwest::Method::POST,
    ] {
        let r = s
            .req(method, "/audit-logs/", Some(&root))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
        let r = s
            .req(reqwest::Method::DELETE, "/audit-logs/1", Some(&root))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404);
    }
}
