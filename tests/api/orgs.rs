//! `/organizations`: creation, scoping, membership, deletion.

use serde_json::json;

use crate::common::{Server, World, expect};

#[tokio::test]
async fn create_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let v = expect(
        s.post(
            "/organizations/",
            Some(&w.admin_a.1),
            json!({"name": "new-org", "description": "d"}),
        )
        .await,
        201,
    );
    for key in ["id", "name", "description", "created_at", "updated_at"] {
        assert!(v.get(key).is_some(), "{key}");
    }
    expect(
        s.post(
            "/organizations/",
            Some(&w.user_a.1),
            json!({"name": "nope"}),
        )
        .await,
        403,
    );
    expect(
        s.post("/organizations/", Some(&w.root), json!({"name": "new-org"}))
            .await,
        400,
    );
    expect(
        s.post("/organizations/", Some(&w.root), json!({"name": ""}))
            .await,
        422,
    );
    expect(
        s.post("/organizations/", Some(&w.root), json!({"name": "   "}))
            .await,
        422,
    );
    expect(
        s.post("/organizations/", Some(&w.root), json!({})).await,
        422,
    );
    expect(
        s.post("/organizations/", None, json!({"name": "anon"}))
            .await,
        401,
    );
    let v = expect(
        s.post(
            "/organizations/",
            Some(&w.root),
            json!({"name": "Ünïcødé 組織"}),
        )
        .await,
        201,
    );
    assert_eq!(v["name"], "Ünïcødé 組織");
    let audit = expect(
        s.get("/audit-logs/?action=org_create", Some(&w.root)).await,
        200,
    );
    assert_eq!(audit.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn same_name_race_has_one_winner() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let futs = (0..6).map(|_| s.post("/organizations/", Some(&root), json!({"name": "racy"})));
    let results = futures::future::join_all(futs).await;
    let created = results.iter().filter(|r| r.0 == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|r| r.0 == 201 || r.0 == 400));
}

#[tokio::test]
async fn list_and_read_are_scoped() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let all = expect(s.get("/organizations/", Some(&w.root)).await, 200);
    assert_eq!(all.as_array().unwrap().len(), 2);
    let mine = expect(s.get("/organizations/", Some(&w.user_a.1)).await, 200);
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], w.org_a);
    let none = expect(s.get("/organizations/", Some(&w.orphan.1)).await, 200);
    assert_eq!(none, json!([]));
    expect(
        s.get(&format!("/organizations/{}", w.org_a), Some(&w.user_a.1))
            .await,
        200,
    );
    expect(
        s.get(&format!("/organizations/{}", w.org_a), Some(&w.user_b.1))
            .await,
        403,
    );
    expect(
        s.get(&format!("/organizations/{}", w.org_a), Some(&w.orphan.1))
            .await,
        403,
    );
    expect(s.get("/organizations/777", Some(&w.root)).await, 404);
    expect(s.get("/organizations/x", Some(&w.root)).await, 422);
}

#[tokio::test]
async fn update_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let a = format!("/organizations/{}", w.org_a);
    let v = expect(
        s.put(
            &a,
            Some(&w.admin_a.1),
            json!({"name": "org-a2", "description": "renamed"}),
        )
        .await,
        200,
    );
    assert_eq!(v["name"], "org-a2");
    assert_eq!(v["description"], "renamed");
    expect(
        s.put(&a, Some(&w.user_a.1), json!({"name": "x"})).await,
        403,
    );
    expect(
        s.put(&a, Some(&w.admin_b.1), json!({"name": "x"})).await,
        403,
    );
    expect(
        s.put(&a, Some(&w.root), json!({"name": "org-b"})).await,
        400,
    );
    expect(s.put(&a, Some(&w.root), json!({"name": ""})).await, 422);
    expect(
        s.put("/organizations/999", Some(&w.root), json!({"name": "x"}))
            .await,
        404,
    );
}

#[tokio::test]
async fn membership() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let add_orphan = format!("/organizations/{}/users/{}", w.org_a, w.orphan.0);
    expect(s.post(&add_orphan, Some(&w.user_a.1), json!({})).await, 403);
    expect(
        s.post(&add_orphan, Some(&w.admin_b.1), json!({})).await,
        403,
    );
    let v = expect(
        s.post(&add_orphan, Some(&w.admin_a.1), json!({})).await,
        200,
    );
    assert_eq!(v["organization_id"], w.org_a);
    // An admin cannot pull a user out of another organization.
    expect(
        s.post(
            &format!("/organizations/{}/users/{}", w.org_a, w.user_b.0),
            Some(&w.admin_a.1),
            json!({}),
        )
        .await,
        403,
    );
    let members = expect(
        s.get(
            &format!("/organizations/{}/users", w.org_a),
            Some(&w.user_a.1),
        )
        .await,
        200,
    );
    assert_eq!(members.as_array().unwrap().len(), 3);
    expect(
        s.get(
            &format!("/organizations/{}/users", w.org_a),
            Some(&w.user_b.1),
        )
        .await,
        403,
    );
    let v = expect(s.delete(&add_orphan, Some(&w.admin_a.1)).await, 200);
    assert_eq!(v["organization_id"], serde_json::Value::Null);
    expect(s.delete(&add_orphan, Some(&w.admin_a.1)).await, 400);
    expect(
        s.post(
            &format!("/organizations/{}/users/9999", w.org_a),
            Some(&w.root),
            json!({}),
        )
        .await,
        404,
    );
    expect(
        s.post(
            &format!("/organizations/9999/users/{}", w.orphan.0),
            Some(&w.root),
            json!({}),
        )
        .await,
        404,
    );
    for action in ["org_add_user", "org_remove_user"] {
        let audit = expect(
            s.get(&format!("/audit-logs/?action={action}"), Some(&w.admin_a.1))
                .await,
            200,
        );
        assert_eq!(audit.as_array().unwrap().len(), 1, "{action}");
        // Filed on the organization (FastPKI's shape); the user is in the detail.
        let entry = &audit[0];
        assert_eq!(entry["resource_type"], "organization", "{action}");
        assert_eq!(entry["resource_id"], w.org_a, "{action}");
        assert_eq!(entry["organization_id"], w.org_a, "{action}");
        let detail = entry["detail"].as_str().unwrap();
        assert!(
            detail.contains("orphan") && detail.contains(&w.orphan.0.to_string()),
            "{action}: {detail}"
        );
    }
}

#[tokio::test]
async fn delete_rules() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let b = format!("/organizations/{}", w.org_b);
    expect(s.delete(&b, Some(&w.admin_b.1)).await, 403);
    expect(s.delete(&b, Some(&w.root)).await, 400);
    for uid in [w.admin_b.0, w.user_b.0] {
        expect(
            s.delete(
                &format!("/organizations/{}/users/{uid}", w.org_b),
                Some(&w.root),
            )
            .await,
            200,
        );
    }
    expect(s.delete(&b, Some(&w.root)).await, 204);
    expect(s.delete(&b, Some(&w.root)).await, 404);
    let audit = expect(
        s.get(
            &format!("/audit-logs/?action=org_delete&resource_id={}", w.org_b),
            Some(&w.root),
        )
        .await,
        200,
    );
    assert_eq!(audit.as_array().unwrap().len(), 1);
}
