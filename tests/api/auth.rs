//! `/auth`: login, refresh, logout, invalidate, token validation.

use reqwest::Method;
use serde_json::json;

use crate::common::{PASSWORD, Server, World, bad_tokens, expect};

#[tokio::test]
async fn login_returns_bearer_pair_and_audits() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let me = expect(s.get("/users/me", Some(&root)).await, 200);
    assert_eq!(me["username"], "root");
    assert!(me.get("hashed_password").is_none());
    let logs = expect(
        s.get("/audit-logs/?action=login_success", Some(&root))
            .await,
        200,
    );
    assert_eq!(logs.as_array().unwrap().len(), 1);

    // JWT claims as the contract lists them.
    use base64::Engine;
    let payload = root.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    for claim in ["sub", "id", "role", "exp", "iat", "jti"] {
        assert!(
            claims.get(claim).is_some(),
            "claim {claim} missing in {claims}"
        );
    }
    assert_eq!(claims["role"], "superuser");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_inactive_are_401_and_audited() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    for (u, p) in [("root", "wrong password"), ("nobody", PASSWORD), ("", "")] {
        let resp = s
            .req(Method::POST, "/auth/token", None)
            .form(&[("username", u), ("password", p)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{u}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    let (id, _) = s.create_user(&root, "bob", "user", None, json!({})).await;
    expect(
        s.patch(
            &format!("/users/{id}"),
            Some(&root),
            json!({"is_active": false}),
        )
        .await,
        200,
    );
    let resp = s
        .req(Method::POST, "/auth/token", None)
        .form(&[("username", "bob"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let fails = expect(
        s.get("/audit-logs/?action=login_failure", Some(&root))
            .await,
        200,
    );
    let fails = fails.as_array().unwrap();
    assert_eq!(fails.len(), 4);
    assert!(fails.iter().any(|e| e["username"] == "nobody"));
}

#[tokio::test]
async fn login_form_missing_fields_is_422() {
    let s = Server::start().await;
    let resp = s
        .req(Method::POST, "/auth/token", None)
        .form(&[("username", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert!(v["detail"].is_array());
}

#[tokio::test]
async fn rate_limit_gives_429() {
    let s = Server::start_with(&[("AUTH_RATE_LIMIT", "3/minute")]).await;
    let mut statuses = vec![];
    for _ in 0..5 {
        let r = s
            .req(Method::POST, "/auth/token", None)
            .form(&[("username", "a"), ("password", "b")])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
        }
    }
    assert_eq!(statuses, vec![401, 401, 401, 429, 429]);
}

/// One attacker spreading guesses at one username over many addresses (here
/// 127.0.0.2 to 127.0.0.41, each well under the per-address limit) is throttled per
/// username, while the owner, on the address it logged in from before, is not.
#[tokio::test]
async fn failed_logins_back_off_per_username_across_addresses() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    // "victim" logs in once from 127.0.0.1 (create_user does), which it then trusts.
    s.create_user(&root, "victim", "user", None, json!({}))
        .await;
    s.create_user(&root, "bystander", "user", None, json!({}))
        .await;
    let mut statuses = vec![];
    let mut throttled = None;
    for i in 0..40u8 {
        let from = std::net::IpAddr::from([127, 0, 0, 2 + i]);
        let attacker = reqwest::Client::builder()
            .local_address(from)
            .build()
            .unwrap();
        let r = attacker
            .post(format!("{}/auth/token", s.api))
            .form(&[("username", "victim"), ("password", &format!("guess-{i}"))])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 && throttled.is_none() {
            let retry: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let body: serde_json::Value = r.json().await.unwrap();
            throttled = Some((retry, body));
        }
    }
    let first_429 = statuses.iter().position(|c| *c == 429);
    assert_eq!(first_429, Some(5), "{statuses:?}");
    assert!(statuses[..5].iter().all(|c| *c == 401), "{statuses:?}");
    let (retry, body) = throttled.unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Too many failed logins"), "{detail}");
    // The owner, from its known address, logs in at once.
    s.login_pair("victim", PASSWORD).await;
    // Another username, from the last attacking address, is not affected.
    let from = std::net::IpAddr::from([127, 0, 0, 41]);
    let other = reqwest::Client::builder()
        .local_address(from)
        .build()
        .unwrap();
    let r = other
        .post(format!("{}/auth/token", s.api))
        .form(&[("username", "bystander"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn bad_tokens_are_401_everywhere() {
    let s = Server::start().await;
    let w = World::build(&s).await;
    let routes = [
        (Method::GET, "/users/me"),
        (Method::GET, "/users/"),
        (Method::GET, "/users/1"),
        (Method::GET, "/organizations/"),
        (Method::GET, "/organizations/1"),
        (Method::GET, "/audit-logs/"),
        (Method::POST, "/auth/invalidate"),
    ];
    for bad in bad_tokens(&w.root) {
        for (m, path) in &routes {
            let r = s.req(m.clone(), path, Some(&bad)).send().await.unwrap();
            assert_eq!(r.status(), 401, "{m} {path} with {bad}");
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
        }
    }
    for (m, path) in &routes {
        let r = s.req(m.clone(), path, None).send().await.unwrap();
        assert_eq!(r.status(), 401, "{m} {path} without token");
    }
}

#[tokio::test]
async fn refresh_rotates_and_is_single_use_even_concurrently() {
    let s = Server::start().await;
    s.bootstrap().await;
    let (_, refresh) = s.login_pair("root", PASSWORD).await;
    let fut = |rt: String| {
        let s = &s;
        async move {
            s.post("/auth/refresh", None, json!({"refresh_token": rt}))
                .await
        }
    };
    let results = futures::future::join_all(vec![
        fut(refresh.clone()),
        fut(refresh.clone()),
        fut(refresh.clone()),
        fut(refresh.clone()),
    ])
    .await;
    let ok: Vec<_> = results.iter().filter(|(st, _)| *st == 200).collect();
    assert_eq!(ok.len(), 1, "{results:?}");
    assert!(results.iter().all(|(st, _)| *st == 200 || *st == 401));
    let new = &ok[0].1;
    assert_ne!(new["refresh_token"], refresh.as_str());
    expect(s.get("/users/me", new["access_token"].as_str()).await, 200);
    // The losers presented a used token: its family, the winner's new token
    // included, is revoked.
    expect(
        s.post(
            "/auth/refresh",
            None,
            json!({"refresh_token": new["refresh_token"]}),
        )
        .await,
        401,
    );
    expect(
        s.post("/auth/refresh", None, json!({"refresh_token": "unknown"}))
            .await,
        401,
    );
    expect(s.post("/auth/refresh", None, json!({})).await, 422);
}

/// Replaying a rotated refresh token is a sign that it leaked: every refresh token
/// descended from the same login is revoked (OAuth 2.0 Security BCP), so the thief's
/// newer token dies with the holder's. Other sessions of the user are untouched.
#[tokio::test]
async fn replaying_a_used_refresh_token_revokes_its_family() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let refresh = |rt: &str| s.post("/auth/refresh", None, json!({"refresh_token": rt}));
    let token_of = |v: serde_json::Value| v["refresh_token"].as_str().unwrap().to_string();
    let (_, a) = s.login_pair("root", PASSWORD).await;
    let (_, other) = s.login_pair("root", PASSWORD).await;
    // A -> B, then A again: refused, and B with it.
    let b = token_of(expect(refresh(&a).await, 200));
    let v = expect(refresh(&a).await, 401);
    assert_eq!(v["detail"], "Invalid or expired refresh token");
    expect(refresh(&b).await, 401);
    // Deeper: C -> D -> E, then D again: E (a grandchild of C) is refused too.
    let (_, c) = s.login_pair("root", PASSWORD).await;
    let d = token_of(expect(refresh(&c).await, 200));
    let e = token_of(expect(refresh(&d).await, 200));
    expect(refresh(&d).await, 401);
    expect(refresh(&e).await, 401);
    expect(refresh(&c).await, 401);
    // The unrelated session lives on, and logging in again works.
    let other = token_of(expect(refresh(&other).await, 200));
    expect(refresh(&other).await, 200);
    let (_, fresh) = s.login_pair("root", PASSWORD).await;
    expect(refresh(&fresh).await, 200);
    // Each reuse is audited against the user, without the token.
    let logs = expect(
        s.get("/audit-logs/?action=refresh_token_reuse", Some(&root))
            .await,
        200,
    );
    let logs = logs.as_array().unwrap();
    assert_eq!(logs.len(), 3, "{logs:?}");
    for entry in logs {
        assert_eq!(entry["username"], "root");
        assert_eq!(entry["resource_type"], "user");
        let detail = entry["detail"].as_str().unwrap();
        for secret in [&a, &b, &c, &d, &e] {
            assert!(!detail.contains(secret.as_str()), "{detail}");
        }
    }
}

#[tokio::test]
async fn logout_blocklists_access_and_revokes_refresh() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    s.create_user(&root, "bob", "user", None, json!({})).await;
    let (access, refresh) = s.login_pair("root", PASSWORD).await;
    let (_, bob_refresh) = s.login_pair("bob", PASSWORD).await;
    expect(
        s.post(
            "/auth/logout",
            Some(&access),
            json!({"refresh_token": bob_refresh}),
        )
        .await,
        403,
    );
    expect(s.post("/auth/logout", Some(&access), json!({})).await, 422);
    expect(
        s.post("/auth/logout", None, json!({"refresh_token": refresh}))
            .await,
        401,
    );
    expect(
        s.post(
            "/auth/logout",
            Some(&access),
            json!({"refresh_token": refresh}),
        )
        .await,
        204,
    );
    expect(s.get("/users/me", Some(&access)).await, 401);
    expect(
        s.post("/auth/refresh", None, json!({"refresh_token": refresh}))
            .await,
        401,
    );
    // Other sessions live on.
    expect(s.get("/users/me", Some(&root)).await, 200);
    expect(
        s.post("/auth/refresh", None, json!({"refresh_token": bob_refresh}))
            .await,
        200,
    );
}

#[tokio::test]
async fn invalidate_ends_every_session_but_new_logins_work() {
    let s = Server::start().await;
    let first = s.bootstrap().await;
    let (second, refresh) = s.login_pair("root", PASSWORD).await;
    expect(
        s.post("/auth/invalidate", Some(&second), json!({})).await,
        204,
    );
    expect(s.get("/users/me", Some(&first)).await, 401);
    expect(s.get("/users/me", Some(&second)).await, 401);
    expect(
        s.post("/auth/refresh", None, json!({"refresh_token": refresh}))
            .await,
        401,
    );
    let fresh = s.login("root").await;
    expect(s.get("/users/me", Some(&fresh)).await, 200);
}

#[tokio::test]
async fn password_change_and_deactivation_end_sessions() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let (id, bob) = s.create_user(&root, "bob", "user", None, json!({})).await;
    let (_, bob_refresh) = s.login_pair("bob", PASSWORD).await;
    expect(
        s.patch(
            &format!("/users/{id}"),
            Some(&bob),
            json!({"password": "a brand new password"}),
        )
        .await,
        200,
    );
    expect(s.get("/users/me", Some(&bob)).await, 401);
    expect(
        s.post("/auth/refresh", None, json!({"refresh_token": bob_refresh}))
            .await,
        401,
    );
    let bob = s.login_pair("bob", "a brand new password").await.0;
    expect(s.get("/users/me", Some(&bob)).await, 200);
    expect(
        s.patch(
            &format!("/users/{id}"),
            Some(&root),
            json!({"is_active": false}),
        )
        .await,
        200,
    );
    expect(s.get("/users/me", Some(&bob)).await, 401);
}

#[tokio::test]
async fn deleted_users_token_is_refused() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let (id, bob) = s.create_user(&root, "bob", "user", None, json!({})).await;
    expect(s.delete(&format!("/users/{id}"), Some(&root)).await, 204);
    expect(s.get("/users/me", Some(&bob)).await, 401);
}
