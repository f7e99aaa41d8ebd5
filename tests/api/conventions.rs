//! Conventions every route shares: headers, error shapes, limits, health, docs.

use reqwest::Method;
use serde_json::json;

use crate::common::{Server, expect};

#[tokio::test]
async fn security_headers_on_every_response() {
    let s = Server::start().await;
    for path in ["/", "/api/v1/users/me", "/nope", "/healthz"] {
        let r = s.req(Method::GET, path, None).send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            h["strict-transport-security"],
            "max-age=63072000; includeSubDomains"
        );
        assert!(h.get("x-request-id").is_some());
    }
}

#[tokio::test]
async fn root_health_and_readiness() {
    let s = Server::start().await;
    let v = expect(s.get("/", None).await, 200);
    assert!(v["message"].as_str().unwrap().contains("FastPKI"));
    expect(s.get("/healthz", None).await, 200);
    assert_eq!(expect(s.get("/readyz", None).await, 200)["status"], "ready");
    let v = expect(s.get("/definitely/not/here", None).await, 404);
    assert_eq!(v["detail"], "Not Found");
}

#[tokio::test]
async fn trailing_slash_both_forms() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    expect(s.get("/users/", Some(&root)).await, 200);
    expect(s.get("/users", Some(&root)).await, 200);
    expect(s.get("/users/me/", Some(&root)).await, 200);
}

#[tokio::test]
async fn docs_are_off_by_default() {
    let s = Server::start().await;
    for path in ["/api/v1/openapi.json", "/docs", "/redoc"] {
        expect(s.get(path, None).await, 404);
    }
}

#[tokio::test]
async fn docs_on_when_enabled() {
    let s = Server::start_with(&[("ENABLE_DOCS", "true")]).await;
    let spec = expect(s.get("/api/v1/openapi.json", None).await, 200);
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    assert!(
        spec["paths"]["/api/v1/users/"].is_object() || spec["paths"]["/api/v1/users"].is_object(),
        "{}",
        spec["paths"]
    );
    let r = s.req(Method::GET, "/docs/", None).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = s.req(Method::GET, "/redoc", None).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn oversized_and_malformed_bodies() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    let big = "x".repeat(2 * 1024 * 1024);
    // The server answers 413 without reading the whole body, so the client may
    // see its upload cut off instead of the answer: retry until an answer
    // arrives, and every answer must be the 413.
    let mut answered = false;
    for _ in 0..5 {
        let sent = s
            .req(Method::POST, "/organizations/", Some(&root))
            .header("content-type", "application/json")
            .body(format!("{{\"name\":\"{big}\"}}"))
            .send()
            .await;
        if let Ok(r) = sent {
            assert_eq!(r.status(), 413);
            let v: serde_json::Value = r.json().await.unwrap();
            assert!(v["detail"].is_string());
            answered = true;
            break;
        }
    }
    assert!(answered, "no answer to an oversized body in 5 tries");
    let orgs = expect(s.get("/organizations/", Some(&root)).await, 200);
    assert_eq!(orgs, json!([]), "the oversized request created nothing");
    let r = s
        .req(Method::POST, "/organizations/", Some(&root))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let r = s
        .req(Method::POST, "/organizations/", Some(&root))
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // Unknown fields are ignored, as FastAPI does: clients may send more than we read.
    expect(
        s.post(
            "/organizations/",
            Some(&root),
            json!({"name": "ok", "unexpected": 1}),
        )
        .await,
        201,
    );
    expect(
        s.post("/organizations/", Some(&root), json!({"name": 12}))
            .await,
        422,
    );
}

#[tokio::test]
async fn huge_and_negative_ids_are_clean_errors() {
    let s = Server::start().await;
    let root = s.bootstrap().await;
    expect(s.get("/users/-1", Some(&root)).await, 404);
    expect(
        s.get("/users/99999999999999999999999", Some(&root)).await,
        422,
    );
    expect(
        s.get("/users/?limit=99999999999999999999", Some(&root))
            .await,
        422,
    );
    expect(s.get("/organizations/0", Some(&root)).await, 404);
}

#[tokio::test]
async fn cors_from_settings() {
    let s = Server::start_with(&[("BACKEND_CORS_ORIGINS", r#"["https://app.example.com"]"#)]).await;
    let r = s
        .req(Method::OPTIONS, "/users/me", None)
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let r = s
        .req(Method::GET, "/", None)
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
